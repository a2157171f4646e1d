"""CIFAR-FS and FC100: CIFAR-100's classes split for few-shot learning, from its python archive.

Both use CIFAR-100's 100 classes of 600 32x32 images (its ``train`` and
``test`` files merged), read from the python version as Krizhevsky
distributes it, ``cifar-100-python.tar.gz`` (MD5
``eb9058c3a382ffc7106e4002c42a8d85``) or its extracted folder
``cifar-100-python/{train,test,meta}`` (each file's MD5 as torchvision
publishes it), in ``data_dir``. The pickles hold ``data`` (uint8 ``[N,
3072]``, the red, green and blue planes), ``fine_labels``,
``coarse_labels``; ``meta`` the ``fine_label_names`` and
``coarse_label_names``.

* :func:`load_cifar_fs` -- Bertinetto et al. 2019 (R2-D2): 64 meta-train /
  16 validation / 20 meta-test classes, the lists of their
  ``splits/bertinetto`` files (:data:`CIFAR_FS_CLASSES`).
* :func:`load_fc100` -- Oreshkin et al. 2018 (TADAM), split by superclass so
  that the splits share no superclass: 12 / 4 / 4 superclasses, 60 / 20 / 20
  classes (:data:`FC100_SUPERCLASSES`).

Class ids are CIFAR-100's fine labels, names its fine label names. Images
are kept as uint8 and drawn as float32 ``[-1, 1]``; resized (area averaging,
bilinear when enlarging) when ``image_size`` is not 32.

Example:
    >>> splits = load_cifar_fs("data")          # data/cifar-100-python.tar.gz
    >>> splits.train.num_classes, splits.test.num_classes, splits.test.image_shape
    (64, 20, (32, 32, 3))
    >>> load_fc100("data", held_out="val").test.num_classes
    20
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import time
from pathlib import Path

from absl import logging
import numpy as np

from tfmeta import checks
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.files import (benchmark_splits, check_held_out, check_md5, class_pool, find,
                               read_pickle)

__all__ = ["CHECKSUMS", "CIFAR_FS_CLASSES", "FC100_SUPERCLASSES", "load_cifar_fs", "load_fc100"]

SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"

CHECKSUMS = {
    ARCHIVE: "eb9058c3a382ffc7106e4002c42a8d85",         # published with the archive
    "train": "16019d7e3df5f24257cddd939b257f8d",          # torchvision's, of the extracted files
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
"""MD5 of the archive and of each extracted file (None: not checked)."""

CIFAR_FS_CLASSES = {
    "train": (
        "dolphin", "seal", "aquarium_fish", "ray", "trout", "orchid", "sunflower", "tulip",
        "bottle", "bowl", "can", "cup", "plate", "apple", "mushroom", "orange", "pear", "clock",
        "keyboard", "chair", "couch", "bee", "caterpillar", "cockroach", "bear", "lion", "tiger",
        "wolf", "bridge", "castle", "house", "road", "skyscraper", "cloud", "forest",
        "mountain", "elephant", "kangaroo", "porcupine", "possum", "raccoon", "skunk",
        "lobster", "spider", "boy", "girl", "dinosaur", "lizard", "snake", "turtle", "hamster",
        "mouse", "rabbit", "shrew", "squirrel", "oak_tree", "palm_tree", "pine_tree",
        "willow_tree", "bus", "train", "lawn_mower", "streetcar", "tank"),
    "val": (
        "beaver", "otter", "flatfish", "shark", "lamp", "television", "beetle", "butterfly",
        "sea", "camel", "cattle", "crab", "crocodile", "maple_tree", "motorcycle", "tractor"),
    "test": (
        "whale", "poppy", "rose", "sweet_pepper", "telephone", "bed", "table", "wardrobe",
        "leopard", "plain", "chimpanzee", "fox", "snail", "worm", "baby", "man", "woman",
        "bicycle", "pickup_truck", "rocket"),
}
"""CIFAR-FS (Bertinetto et al. 2019): the fine classes of each split (64 / 16 / 20)."""

FC100_SUPERCLASSES = {
    "train": ("fish", "flowers", "food_containers", "fruit_and_vegetables",
              "household_electrical_devices", "household_furniture",
              "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "reptiles",
              "trees", "vehicles_1", "vehicles_2"),
    "val": ("large_carnivores", "large_omnivores_and_herbivores", "non-insect_invertebrates",
            "small_mammals"),
    "test": ("aquatic_mammals", "insects", "medium_mammals", "people"),
}
"""FC100 (Oreshkin et al. 2018): the superclasses of each split (12 / 4 / 4)."""


def load_cifar_fs(data_dir: str | os.PathLike, *, held_out: str = "test",
                  image_size: int = 32) -> ClassDatasetSplits:
    """CIFAR-FS's 64 meta-train classes and its 20 test (or 16 validation) classes.

    Args:
      data_dir: the folder holding ``cifar-100-python.tar.gz`` or
        ``cifar-100-python/``.
      held_out: ``"test"`` or ``"val"``: the ``test`` member of the result.
      image_size: side of the square images (32 in the papers).

    Raises:
      FileNotFoundError: neither the archive nor the folder is there (one
        line naming the archive and its URL).
      ValueError: a checksum does not match, or a file does not unpickle.

    Example:
        >>> load_cifar_fs("data").train.num_classes
        64
    """
    def classes(fine, coarse_of, part):
        missing = [n for n in CIFAR_FS_CLASSES[part] if n not in fine]
        if missing:
            raise ValueError(f"CIFAR-FS (CIFAR-100): {FOLDER}/meta lacks the classes {missing}; "
                             f"it is not CIFAR-100's python version, get it from {SOURCE}")
        return [fine.index(n) for n in CIFAR_FS_CLASSES[part]]
    return _load("CIFAR-FS", data_dir, held_out, image_size, classes)


def load_fc100(data_dir: str | os.PathLike, *, held_out: str = "test",
               image_size: int = 32) -> ClassDatasetSplits:
    """FC100's 60 meta-train classes and its 20 test (or 20 validation) classes.

    Args and raises as :func:`load_cifar_fs`.

    Example:
        >>> load_fc100("data").train.num_classes
        60
    """
    def classes(fine, coarse_of, part):
        return [c for c in range(len(fine)) if coarse_of.get(c) in FC100_SUPERCLASSES[part]]
    return _load("FC100", data_dir, held_out, image_size, classes)


def _load(what: str, data_dir, held_out: str, image_size: int, classes) -> ClassDatasetSplits:
    if data_dir is None:
        raise ValueError(f"{what} needs data_dir, the folder holding {ARCHIVE} or {FOLDER}/")
    image_size = checks.count("image_size", image_size)
    check_held_out(held_out)
    start = time.perf_counter()
    pool = _cifar100(Path(data_dir), what)
    fine = [str(n) for n in pool["fine_names"]]
    coarse_of = {c: str(pool["coarse_names"][k]) for c, k in pool["fine_to_coarse"].items()}

    def part(name: str) -> ClassDataset:
        ids = classes(fine, coarse_of, name)
        keep = np.isin(pool["labels"], ids)
        return class_pool(pool["images"][keep], pool["labels"][keep],
                          {i: fine[i] for i in ids}, size=image_size,
                          name=f"{what} {name} split")

    splits = benchmark_splits(part, held_out)
    logging.info("Loaded %s: %d meta-train and %d %s classes in %.1f s.", what,
                 splits.train.num_classes, splits.test.num_classes, held_out,
                 time.perf_counter() - start)
    return splits


def _cifar100(root: Path, what: str) -> dict:
    """CIFAR-100's train+test images and labels, with the names and the superclass of each class."""
    folder, archive = root / FOLDER, root / ARCHIVE
    if not folder.is_dir():
        if root.name == FOLDER and root.is_dir():
            folder = root
        else:
            find(f"{what} (CIFAR-100 python version)", [archive, folder], source=SOURCE)
    what = f"{what} (CIFAR-100)"
    if folder.is_dir():
        files = {}
        for name in ("train", "test", "meta"):
            path = find(what, [folder / name], source=SOURCE)
            check_md5(path, CHECKSUMS.get(name), what, source=SOURCE)
            files[name] = read_pickle(path, what, source=SOURCE)
    else:
        check_md5(archive, CHECKSUMS.get(ARCHIVE), what, source=SOURCE)
        files = _from_archive(archive, what)
    parts = {name: _str_keys(files[name]) for name in files}
    for name, keys in (("train", ("data", "fine_labels", "coarse_labels")),
                       ("test", ("data", "fine_labels", "coarse_labels")),
                       ("meta", ("fine_label_names", "coarse_label_names"))):
        missing = [k for k in keys if k not in parts[name]]
        if missing:
            raise ValueError(f"{what}: {FOLDER}/{name} lacks {missing}; it is not CIFAR-100's "
                             f"python version, get it from {SOURCE}")
    data = np.concatenate([np.asarray(parts[n]["data"], np.uint8) for n in ("train", "test")])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{what}: {FOLDER}/train holds data of shape {data.shape}, not "
                         f"[N, 3072]; get it again from {SOURCE}")
    fine = np.concatenate([np.asarray(parts[n]["fine_labels"], np.int64)
                           for n in ("train", "test")])
    coarse = np.concatenate([np.asarray(parts[n]["coarse_labels"], np.int64)
                             for n in ("train", "test")])
    if len(fine) != len(data) or len(coarse) != len(data):
        raise ValueError(f"{what}: {FOLDER} has {len(data)} images but {len(fine)} labels; get "
                         f"it again from {SOURCE}")
    fine_to_coarse = {}
    for f, c in zip(fine.tolist(), coarse.tolist()):
        fine_to_coarse.setdefault(f, c)
    return {"images": data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), "labels": fine,
            "fine_names": [_text(n) for n in parts["meta"]["fine_label_names"]],
            "coarse_names": [_text(n) for n in parts["meta"]["coarse_label_names"]],
            "fine_to_coarse": fine_to_coarse}


def _from_archive(archive: Path, what: str) -> dict:
    """The ``train``, ``test`` and ``meta`` pickles read from inside the tar.gz (not extracted)."""
    files = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in ("train", "test", "meta"):
                try:
                    member = tar.extractfile(f"{FOLDER}/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise ValueError(f"{what}: {archive} has no {FOLDER}/{name}; it is not "
                                     f"CIFAR-100's python version, get it from {SOURCE}")
                files[name] = pickle.load(io.BytesIO(member.read()), encoding="latin1")
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError) as e:
        reason = f"{type(e).__name__}: {e}".replace("\n", " ")[:100]
        raise ValueError(f"{what}: {archive} does not read as CIFAR-100's archive ({reason}); "
                         f"download it again from {SOURCE}") from None
    return files


def _str_keys(data) -> dict:
    if not isinstance(data, dict):
        return {}
    return {_text(k): v for k, v in data.items()}


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)
