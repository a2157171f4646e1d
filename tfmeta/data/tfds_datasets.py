"""Class-per-task distributions from TFDS image classification datasets.

:func:`load_class_dataset` loads a TFDS dataset with ``tfds.load`` and returns
disjoint meta-train and meta-test class sets (:class:`ClassDatasetSplits`).
Every image is resized to ``image_size`` (area averaging), converted to
``channels`` channels and scaled to float32 ``[-1, 1]``, NHWC.

Built-in defaults (each can be overridden by an argument):

========================  ===================  ====================  ========  ======
name                      meta-train           meta-test             size      invert
========================  ===================  ====================  ========  ======
``mnist``                 digits 0-6           digits 7-9            28x28x1   no
``fashion_mnist``         classes 0-6          classes 7-9           28x28x1   no
``omniglot``              split ``train``:     split ``test``:       28x28x1   yes
                          964 background       659 evaluation
                          characters           characters
========================  ===================  ====================  ========  ======

* MNIST / Fashion-MNIST: TFDS's ``train`` and ``test`` images are merged
  (split ``"train+test"``), as in the MAML-GAN paper, so digit 0 has
  5923 + 980 = 6903 images.
* Omniglot: one task per character. The meta-train set is a TFDS split
  (``train`` = background, or ``train_split="small1"`` / ``"small2"``), the
  meta-test set is split ``test`` (evaluation). Class ids stay TFDS's global
  labels (0..963 background, 964..1622 evaluation); the class *index* inside
  each :class:`ClassDataset` runs from 0. Omniglot is black ink on white paper;
  it is **inverted** so ink is bright on dark (+1 on -1), like MNIST.
* Any other TFDS image classification name: pass ``train_classes`` and/or
  ``test_classes`` (TFDS label ids); by default all splits are merged
  (``"all"``).

Omitting one of ``train_classes`` / ``test_classes`` means "every class of
its split not in the other list".

Data location: ``data_dir=None`` uses TFDS's default (``TFDS_DATA_DIR`` or
``~/tensorflow_datasets``). With ``download=False`` a missing dataset stops
with a short :class:`FileNotFoundError` naming the directory; with no network
(and no proxy) at once with a :class:`ConnectionError`, not after TFDS's retries.

Loaded pools are kept in an in-process cache keyed on the arguments, and the
prepared arrays on disk (:mod:`tfmeta.data.cache`; ``TFMETA_CACHE_DIR=off``
turns that off), so a new process does not decode the dataset again.

Example:
    >>> splits = load_class_dataset("mnist", data_dir="shared/tensorflow_datasets",
    ...                             download=False)
    >>> splits.train.class_ids, splits.test.class_ids
    ((0, 1, 2, 3, 4, 5, 6), (7, 8, 9))
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import socket
import time
from typing import Sequence

from absl import logging
import tensorflow_datasets as tfds

from tfmeta.data import cache
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.class_ids import check_disjoint, class_id_list, image_size_pair
from tfmeta.data.images import decode_split, preprocess_images  # noqa: F401  (public here too)


@dataclasses.dataclass(frozen=True)
class _Defaults:
    train_split: str
    test_split: str
    train_classes: tuple[int, ...] | None
    test_classes: tuple[int, ...] | None
    image_size: int | None
    channels: int | None
    invert: bool


_GENERIC = _Defaults("all", "all", None, None, None, None, False)
_DEFAULTS = {
    "mnist": _Defaults("train+test", "train+test", tuple(range(7)), tuple(range(7, 10)),
                       28, 1, False),
    "fashion_mnist": _Defaults("train+test", "train+test", tuple(range(7)),
                               tuple(range(7, 10)), 28, 1, False),
    "omniglot": _Defaults("train", "test", None, None, 28, 1, True),
}


def load_class_dataset(
    name: str,
    *,
    train_classes: Sequence[int] | None = None,
    test_classes: Sequence[int] | None = None,
    train_split: str | None = None,
    test_split: str | None = None,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    invert: bool | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    image_key: str = "image",
    label_key: str = "label",
) -> ClassDatasetSplits:
    """Loads a TFDS image classification dataset as meta-train/meta-test classes.

    Args:
      name: a TFDS dataset name (``"mnist"``, ``"omniglot"``, ``"cifar10"``...).
      train_classes: TFDS label ids of the meta-train tasks (default: the
        dataset's default, see the module docstring).
      test_classes: TFDS label ids of the meta-test tasks.
      train_split: TFDS split expression the meta-train images come from
        (e.g. ``"train+test"``, ``"small1"``).
      test_split: TFDS split expression of the meta-test images.
      image_size: ``H`` or ``(H, W)`` to resize to (default 28 for the built-in
        names, else the native size).
      channels: 1 (grayscale) or 3 (RGB); default 1 for the built-in names, else
        the native channels.
      invert: map ``x -> -x`` after scaling (default True for Omniglot only).
      data_dir: TFDS data directory (default: TFDS's default).
      download: let TFDS download and prepare missing data.
      image_key: name of the image feature.
      label_key: name of the ``ClassLabel`` feature.

    Returns:
      ``ClassDatasetSplits(train, test)`` with disjoint classes.

    Raises:
      ValueError: unknown name, not an image classification dataset, class id
        out of range or absent, overlapping or missing class lists.
      FileNotFoundError: ``download=False`` and the data is not in ``data_dir``.
      ConnectionError: the data is not in ``data_dir`` and there is no network.

    Example:
        >>> splits = load_class_dataset("omniglot", train_split="small1", download=False)
        >>> splits.train.num_classes, splits.test.num_classes
        (136, 659)
    """
    builder = _builder(name, data_dir)
    defaults = _DEFAULTS.get(name, _GENERIC)
    train_split = train_split or defaults.train_split
    test_split = test_split or defaults.test_split
    if train_classes is None and test_classes is None:
        train_classes, test_classes = defaults.train_classes, defaults.test_classes
    if train_split == test_split and train_classes is None and test_classes is None:
        raise ValueError(
            f"dataset {name!r} has no default meta-train/meta-test class split; pass "
            f"train_classes=[...] and/or test_classes=[...] (TFDS label ids)")
    size = image_size_pair(image_size if image_size is not None else defaults.image_size)
    if channels is None:
        channels = defaults.channels
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    invert = defaults.invert if invert is None else bool(invert)

    _check_prepared(builder, name, data_dir, download)
    num_labels = _check_features(builder, name, image_key, label_key)
    if size is None or channels is None:
        native = builder.info.features[image_key].shape
        if size is None:
            if native[0] is None or native[1] is None:
                raise ValueError(
                    f"images of {name!r} have no fixed size (shape {native}); pass "
                    f"image_size=(H, W)")
            size = (int(native[0]), int(native[1]))
        if channels is None:
            channels = int(native[2]) if native[2] in (1, 3) else 3
    for what, ids in (("train_classes", train_classes), ("test_classes", test_classes)):
        if ids is not None:
            out = [c for c in class_id_list(ids, what) if not 0 <= c < num_labels]
            if out:
                raise ValueError(
                    f"class id(s) {out} in {what} out of range for {name!r}, whose labels "
                    f"are 0..{num_labels - 1}; use ids in that range")
    if train_classes is not None and test_classes is not None:
        check_disjoint(class_id_list(train_classes, "train_classes"),
                       class_id_list(test_classes, "test_classes"))

    data_dir = None if data_dir is None else os.fspath(data_dir)
    files = tuple(cache.files_fingerprint(builder.data_dir)) if builder.is_prepared() else ()
    load = functools.partial(_load_pool, name, size=size, channels=channels, invert=invert,
                             data_dir=data_dir, download=download, image_key=image_key,
                             label_key=label_key, files=files)
    train_pool = load(train_split)
    test_pool = train_pool if test_split == train_split else load(test_split)
    train = _pick(train_pool, train_classes, test_classes, "train_classes")
    test = _pick(test_pool, test_classes, train_classes, "test_classes")
    check_disjoint(train.class_ids, test.class_ids)
    return ClassDatasetSplits(train, test)


def clear_cache() -> None:
    """Drops the in-process cache of loaded datasets (frees their memory)."""
    _load_pool.cache_clear()


def _pick(pool: ClassDataset, wanted, other, what: str) -> ClassDataset:
    if wanted is not None:
        return pool.select(list(wanted), what=what)
    taken = set(other or ())
    rest = [cid for cid in pool.class_ids if cid not in taken]
    if not rest:
        raise ValueError(
            f"no class of {pool.name} is left for {what} once the other list is taken out; "
            f"pass {what}=[...] explicitly")
    return pool.select(rest, what=what)


def _builder(name: str, data_dir):
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, tfds.list_builders(), n=3)
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise ValueError(
            f"unknown dataset {name!r}: TFDS has no dataset of that name; {hint}use a name "
            f"from tfds.list_builders(), or load_folder_dataset(path) for a folder of "
            f"images") from None
    return builder


DOWNLOAD_HOST = "storage.googleapis.com"  # resolving it or not tells TFDS's minutes of retries


def _check_prepared(builder, name: str, data_dir, download: bool) -> None:
    if builder.is_prepared():
        return
    where = data_dir if data_dir is not None else "TFDS's default data_dir"
    missing = f"dataset {name!r} is not in {where} (looked for {builder.data_dir})"
    fix = f"a `data_dir` pointing at a TFDS data directory that holds {name}/"
    if not download:
        raise FileNotFoundError(f"{missing} and `download`=False; pass `download`=True to "
                                f"fetch it, or {fix}") from None
    downloads = os.path.join(builder.data_dir[:-len(builder.info.full_name)], "downloads")
    local = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None) or os.path.isdir(downloads)
    offline = None if local else _no_network(DOWNLOAD_HOST)   # local files may do offline
    if offline:
        raise ConnectionError(f"{missing} and cannot be downloaded: no network "
                              f"({DOWNLOAD_HOST} does not resolve: {offline}); pass {fix}, "
                              f"or connect to the network") from None


def _no_network(host: str) -> str | None:
    """Why ``host`` does not resolve, or None if it does or a proxy will resolve it."""
    if any(os.environ.get(k) for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")):
        return None
    try:
        socket.getaddrinfo(host, 443)
    except (socket.gaierror, UnicodeError) as error:
        return getattr(error, "strerror", None) or str(error)


def _check_features(builder, name: str, image_key: str, label_key: str) -> int:
    features = builder.info.features
    keys = list(features.keys()) if hasattr(features, "keys") else []
    image = features[image_key] if image_key in keys else None
    label = features[label_key] if label_key in keys else None
    if not isinstance(image, tfds.features.Image) or not isinstance(
            label, tfds.features.ClassLabel):
        raise ValueError(
            f"dataset {name!r} is not an image classification dataset with an Image "
            f"feature {image_key!r} and a ClassLabel feature {label_key!r} (features: "
            f"{keys}); pass image_key=... and label_key=... naming them")
    return int(label.num_classes)


@functools.lru_cache(maxsize=4)
def _load_pool(name: str, split: str, *, size: tuple[int, int], channels: int, invert: bool,
               data_dir: str | None, download: bool, image_key: str, label_key: str,
               files: tuple = ()) -> ClassDataset:
    """Loads every image of one TFDS split as a ClassDataset (cached in-process and on disk).

    ``files`` fingerprints the prepared dataset's files (:mod:`tfmeta.data.cache`);
    without it (a dataset still to download) nothing is read from or written to disk.
    """
    start = time.perf_counter()

    def decode():
        return decode_split(name, split, size=size, channels=channels, invert=invert,
                             data_dir=data_dir, download=download, image_key=image_key,
                             label_key=label_key)

    if files:
        key = cache.key_of(name=name, split=split, size=size, channels=channels,
                           invert=invert, image_key=image_key, label_key=label_key,
                           files=files)
        arrays = cache.cached_arrays(key, decode)
    else:
        arrays = decode()
    pool = ClassDataset.from_labelled_images(
        arrays["images"], arrays["labels"], class_names=[str(n) for n in arrays["class_names"]],
        name=f"{name} split {split!r}")
    logging.info("Loaded %s split %r: %d classes, %d images of %s in %.1f s.", name, split,
                 pool.num_classes, len(arrays["labels"]), pool.image_shape,
                 time.perf_counter() - start)
    return pool
