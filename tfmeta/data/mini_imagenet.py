"""mini-ImageNet and tiered-ImageNet, read from the files users have, with the papers' splits.

:func:`load_mini_imagenet` -- Vinyals et al. 2016's 100 ImageNet classes of
600 images, split as Ravi & Larochelle 2017 (64 meta-train / 16 validation /
20 meta-test classes; every paper since uses that split). Either form of the
files, in ``data_dir`` or ``data_dir/mini-imagenet``:

* the pickled cache ``mini-imagenet-cache-{train,val,test}.pkl`` (``val``
  may be named ``validation``): a dict ``{"image_data": uint8 [N, 84, 84, 3],
  "class_dict": {wnid: [indices into image_data]}}``, as many repositories
  (learn2learn, MAML++) distribute it;
* Ravi & Larochelle's ``train.csv``, ``val.csv``, ``test.csv`` (header
  ``filename,label``, the label a WordNet id) with the images they name in
  ``images/`` (``images/<filename>``, or ``images/<label>/<filename>``). The
  decoded images are kept in the disk cache of :mod:`tfmeta.data.cache`.

:func:`load_tiered_imagenet` -- Ren et al. 2018's 608 ImageNet classes grouped
by 34 categories (351 meta-train / 97 validation / 160 meta-test classes), as
their code writes it, in ``data_dir`` or ``data_dir/tiered-imagenet``:
``{train,val,test}_labels.pkl`` (``label_specific``, ``label_specific_str``)
with ``{split}_images_png.pkl`` (a list of PNG-encoded 84x84 images) or the
decoded ``{split}_images.npz`` (``images`` uint8 ``[N, 84, 84, 3]``) their
code makes from it.

Neither has a published checksum: a file that does not unpickle (cut short,
an HTML page saved in its place) is refused in one line naming it. Images are
kept as uint8 (mini-ImageNet's 38400 meta-train images: 0.8 GB; tiered's
448695: 9.5 GB) and drawn as float32 ``[-1, 1]``; resized (area averaging)
only when ``image_size`` is not 84. Class ids are the position in the sorted
WordNet ids (tiered: the file's ``label_specific``) plus the split's offset
(mini: 0 / 64 / 80; tiered: 0 / 351 / 448), so the ids of the three splits
never collide.

Example:
    >>> splits = load_mini_imagenet("data/mini-imagenet")
    >>> splits.train.num_classes, splits.test.num_classes, splits.test.image_shape
    (64, 20, (84, 84, 3))
    >>> val = load_mini_imagenet("data/mini-imagenet", held_out="val").test   # 16 classes
"""

from __future__ import annotations

import csv
import os
import time
import zipfile
from pathlib import Path

from absl import logging
import numpy as np

from tfmeta import checks
from tfmeta.data import cache
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.files import (benchmark_splits, check_class_count, class_pool, decode_images,
                               find, require_keys, read_pickle)

__all__ = ["MINI_IMAGENET_CLASSES", "TIERED_IMAGENET_CLASSES", "load_mini_imagenet",
           "load_tiered_imagenet"]

MINI_IMAGENET_CLASSES = {"train": 64, "val": 16, "test": 20}
"""Classes of each split of mini-ImageNet (Ravi & Larochelle 2017)."""

TIERED_IMAGENET_CLASSES = {"train": 351, "val": 97, "test": 160}
"""Classes of each split of tiered-ImageNet (Ren et al. 2018)."""

MINI_SOURCE = ("the Ravi & Larochelle CSVs (github.com/twitter/meta-learning-lstm, "
               "data/miniImagenet) with their images, or the mini-imagenet-cache-*.pkl files "
               "(see docs/datasets.md)")
TIERED_SOURCE = ("Ren et al.'s tiered-imagenet archive (github.com/renmengye/few-shot-ssl-public; "
                 "see docs/datasets.md)")


def _offsets(classes: dict[str, int]) -> dict[str, int]:
    return {"train": 0, "val": classes["train"], "test": classes["train"] + classes["val"]}


def _roots(data_dir, subfolders) -> list[Path]:
    root = Path(data_dir)
    return [root] + [root / s for s in subfolders]


def _check_dir(data_dir, what: str) -> None:
    if data_dir is None:
        raise ValueError(f"{what} needs data_dir, the folder holding its files "
                         f"(see docs/datasets.md)")


def load_mini_imagenet(data_dir: str | os.PathLike, *, held_out: str = "test",
                       image_size: int = 84) -> ClassDatasetSplits:
    """mini-ImageNet's meta-train classes and its test (or validation) classes.

    Args:
      data_dir: the folder with the pickles or the CSVs and ``images/`` (or
        its ``mini-imagenet`` sub-folder).
      held_out: ``"test"`` (20 classes, what papers report) or ``"val"`` (16,
        for model selection): the ``test`` member of the result.
      image_size: side of the square images (84 in the papers).

    Returns:
      ``ClassDatasetSplits(train, test)``: 600 images per class, uint8-backed,
      drawn as float32 ``[-1, 1]`` ``[image_size, image_size, 3]``.

    Raises:
      FileNotFoundError: a split's pickle and CSV are both missing, or an
        image a CSV names; one line naming the file.
      ValueError: a file is corrupt or not the expected one, or a bad
        argument.

    Example:
        >>> splits = load_mini_imagenet("data/mini-imagenet")
    """
    _check_dir(data_dir, "mini-ImageNet")
    image_size = checks.count("image_size", image_size)
    return benchmark_splits(lambda part: _mini_part(data_dir, part, image_size), held_out)


def _mini_part(data_dir, part: str, size: int) -> ClassDataset:
    what = f"mini-ImageNet {part} split"
    roots = _roots(data_dir, ("mini-imagenet", "mini_imagenet", "miniImagenet"))
    names = ("val", "validation") if part == "val" else (part,)
    pickles = [r / f"mini-imagenet-cache-{n}.pkl" for r in roots for n in names]
    csvs = [r / f"{part}.csv" for r in roots]
    existing = [p for p in pickles + csvs if p.exists()]
    if not existing:
        raise FileNotFoundError(
            f"{what}: {pickles[0]} is missing, and so is {csvs[0].name} with images/ (looked "
            f"in {len(pickles) + len(csvs)} places); get them from {MINI_SOURCE}")
    start = time.perf_counter()
    path = existing[0]
    if path.suffix == ".pkl":
        images, labels, class_names = _mini_pickle(path, part, what)
    else:
        images, labels, class_names = _mini_csv(path, part, size, what)
    dataset = class_pool(images, labels, class_names, size=size, name=what)
    logging.info("Loaded %s from %s: %d classes, %d images in %.1f s.", what, path,
                 dataset.num_classes, len(labels), time.perf_counter() - start)
    return dataset


def _mini_pickle(path: Path, part: str, what: str):
    data = read_pickle(path, what, source=MINI_SOURCE)
    require_keys(data, ("image_data", "class_dict"), path, what, source=MINI_SOURCE)
    images, class_dict = np.asarray(data["image_data"]), data["class_dict"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what}: {path} holds image_data {images.dtype} {images.shape}, not "
                         f"uint8 [N, H, W, 3]; it is not the mini-ImageNet cache, get it from "
                         f"{MINI_SOURCE}")
    check_class_count(len(class_dict), MINI_IMAGENET_CLASSES[part], what, path)
    offset = _offsets(MINI_IMAGENET_CLASSES)[part]
    labels = np.full(len(images), -1, np.int64)
    class_names = {}
    for i, wnid in enumerate(sorted(class_dict)):
        index = np.asarray(class_dict[wnid], np.int64).reshape(-1)
        if index.size == 0 or index.min() < 0 or index.max() >= len(images):
            raise ValueError(f"{what}: {path} lists images of {wnid} outside its "
                             f"{len(images)} images; the file is corrupt, get it again from "
                             f"{MINI_SOURCE}")
        labels[index] = offset + i
        class_names[offset + i] = str(wnid)
    keep = labels >= 0
    if not keep.all():
        images, labels = images[keep], labels[keep]
    return images, labels, class_names


def _mini_csv(path: Path, part: str, size: int, what: str):
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{what}: {path} does not read as text ({type(e).__name__}); get it "
                         f"from {MINI_SOURCE}") from None
    if not rows or [c.strip() for c in rows[0]] != ["filename", "label"] or any(
            len(r) != 2 for r in rows[1:]):
        head = ",".join(rows[0])[:60] if rows else "an empty file"
        raise ValueError(f"{what}: {path} is not a split CSV with the header filename,label "
                         f"(starts with {head!r}); get it from {MINI_SOURCE}")
    rows = rows[1:]
    wnids = sorted({label for _, label in rows})
    check_class_count(len(wnids), MINI_IMAGENET_CLASSES[part], what, path)
    offset = _offsets(MINI_IMAGENET_CLASSES)[part]
    ids = {w: offset + i for i, w in enumerate(wnids)}
    folder = path.parent / "images"
    files = []
    for filename, label in rows:
        flat, nested = folder / filename, folder / label / filename
        files.append(flat if flat.exists() else nested)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(
            f"{what}: {folder / rows[files.index(missing[0])][0]} is missing ({len(missing)} of "
            f"the {len(files)} images {path.name} names); get the images from {MINI_SOURCE}")
    stats = [os.stat(f) for f in files]
    key = cache.key_of(name="mini_imagenet_csv", part=part, size=size, csv=cache.files_fingerprint(
        str(path.parent)), images=(len(files), sum(s.st_size for s in stats),
                                   max(s.st_mtime_ns for s in stats)))

    def decode():
        images = decode_images(lambda i: files[i].read_bytes(), len(files), size, what=what,
                               names=[str(f) for f in files], source=MINI_SOURCE)
        return {"images": images, "labels": np.asarray([ids[label] for _, label in rows])}

    arrays = cache.cached_arrays(key, decode)
    return arrays["images"], arrays["labels"], {v: k for k, v in ids.items()}


def load_tiered_imagenet(data_dir: str | os.PathLike, *, held_out: str = "test",
                         image_size: int = 84) -> ClassDatasetSplits:
    """tiered-ImageNet's meta-train classes and its test (or validation) classes.

    Args:
      data_dir: the folder with ``{split}_labels.pkl`` and
        ``{split}_images_png.pkl`` (or ``{split}_images.npz``), or its parent
        holding ``tiered-imagenet/``.
      held_out: ``"test"`` (160 classes) or ``"val"`` (97 classes).
      image_size: side of the square images (84 in the papers).

    Returns:
      ``ClassDatasetSplits(train, test)``, uint8-backed, drawn as float32
      ``[-1, 1]`` ``[image_size, image_size, 3]``.

    Raises:
      FileNotFoundError: a file is missing, in one line naming it.
      ValueError: a file is corrupt or not the expected one.

    Example:
        >>> splits = load_tiered_imagenet("data", held_out="val")
    """
    _check_dir(data_dir, "tiered-ImageNet")
    image_size = checks.count("image_size", image_size)
    return benchmark_splits(lambda part: _tiered_part(data_dir, part, image_size), held_out)


def _tiered_part(data_dir, part: str, size: int) -> ClassDataset:
    what = f"tiered-ImageNet {part} split"
    roots = _roots(data_dir, ("tiered-imagenet", "tiered_imagenet"))
    labels_path = find(what, [r / f"{part}_labels.pkl" for r in roots], source=TIERED_SOURCE)
    folder = labels_path.parent
    start = time.perf_counter()
    meta = read_pickle(labels_path, what, source=TIERED_SOURCE)
    require_keys(meta, ("label_specific",), labels_path, what, source=TIERED_SOURCE)
    raw = np.asarray(meta["label_specific"]).reshape(-1)
    if raw.size == 0 or not np.issubdtype(raw.dtype, np.integer) or raw.min() < 0:
        raise ValueError(f"{what}: {labels_path} has label_specific {raw.dtype} {raw.shape}, "
                         f"not class numbers; get it again from {TIERED_SOURCE}")
    specific = np.unique(raw)
    check_class_count(len(specific), TIERED_IMAGENET_CLASSES[part], what, labels_path)
    names = list(meta.get("label_specific_str", []))
    offset = _offsets(TIERED_IMAGENET_CLASSES)[part]
    class_names = {offset + int(c): (str(names[c]) if c < len(names) else str(int(c)))
                   for c in specific}
    if int(specific.max()) >= TIERED_IMAGENET_CLASSES[part]:
        raise ValueError(f"{what}: {labels_path} has class number {int(specific.max())}, beyond "
                         f"the split's {TIERED_IMAGENET_CLASSES[part]} classes; it is not the "
                         f"standard split file")
    npz, png = folder / f"{part}_images.npz", folder / f"{part}_images_png.pkl"
    if npz.exists():
        try:
            with np.load(npz, allow_pickle=False) as stored:
                images = stored["images"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            reason = f"{type(e).__name__}: {e}".replace("\n", " ")[:100]
            raise ValueError(f"{what}: {npz} is not a readable .npz with 'images' ({reason}); "
                             f"make it again, or remove it to read {png.name}") from None
        path = npz
    else:
        path = find(what, [png], source=TIERED_SOURCE)
        encoded = read_pickle(png, what, source=TIERED_SOURCE)
        if not hasattr(encoded, "__len__") or len(encoded) != len(raw):
            count = len(encoded) if hasattr(encoded, "__len__") else type(encoded).__name__
            raise ValueError(f"{what}: {png} holds {count} images but {labels_path.name} "
                             f"labels {len(raw)}; get both again from {TIERED_SOURCE}")
        images = decode_images(lambda i: encoded[i], len(encoded), size, what=what,
                               names=[f"{png} entry {i}" for i in range(len(encoded))],
                               source=TIERED_SOURCE)
        del encoded
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or \
            len(images) != len(raw):
        raise ValueError(f"{what}: {path} holds {images.dtype} {images.shape} for "
                         f"{len(raw)} labels, not uint8 [N, H, W, 3]; get it again from "
                         f"{TIERED_SOURCE}")
    dataset = class_pool(images, raw.astype(np.int64) + offset, class_names, size=size,
                         name=what)
    logging.info("Loaded %s from %s: %d classes, %d images in %.1f s.", what, path,
                 dataset.num_classes, len(raw), time.perf_counter() - start)
    return dataset
