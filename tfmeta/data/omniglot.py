"""Omniglot's few-shot classification splits, with rotated characters as extra classes.

:func:`load_omniglot` returns Omniglot (TFDS ``omniglot``, 1623 characters of
20 drawings each, 28x28 grayscale, ink bright on dark in ``[-1, 1]``) as
disjoint meta-train / meta-test classes:

* ``split="classification"`` -- the split the few-shot classification papers
  report on (Vinyals et al. 2016, MAML, Reptile, MAML++): the 964 background
  and 659 evaluation characters are pooled, shuffled, and the first 1200
  characters are meta-train, the other 423 meta-test. The papers shuffle the
  image *folders* with their own random generators; that exact character
  assignment cannot be rebuilt from TFDS's labels, so this is a fixed,
  documented shuffle instead: ``numpy.random.default_rng(seed).permutation``
  of the 1623 TFDS labels (``seed=0`` by default), the same on every machine.
  (MAML's code keeps 100 of the 423 test characters aside for validation;
  here all 423 are meta-test.)
* ``split="background"`` -- paper 000's split, the alphabets Omniglot ships
  as ``images_background`` (964 characters, meta-train) and
  ``images_evaluation`` (659, meta-test), i.e. TFDS labels 0..963 (split
  ``train``) and 964..1622 (split ``test``); the same classes and images as
  ``load_class_dataset("omniglot")``.

With ``rotations=True`` (the default, as in Vinyals/Snell/MAML's data) every
character rotated by 0, 90, 180 and 270 degrees is a class of its own, in
meta-train and meta-test alike: 4800 / 1692 classes for ``"classification"``,
3856 / 2636 for ``"background"``. :func:`rotate_classes` does this for any
square-image :class:`ClassDataset` (folder datasets too).

Class ids stay traceable to the source: the character with TFDS label ``c``
rotated by ``90 * k`` degrees has id ``c + k * 1623`` and the name
``"<TFDS name> rot<90 * k>"`` (unrotated classes keep id and name). Class
indices run rotation-major: the unrotated characters first, then each
rotation in the order given.

Memory: the 1623 characters at 28x28 are about 0.1 GB unrotated, 0.4 GB
rotated. The unrotated pool stays in :func:`load_class_dataset`'s cache
(:func:`tfmeta.data.clear_cache` frees it).

Example:
    >>> splits = load_omniglot(data_dir="shared/tensorflow_datasets", download=False)
    >>> splits.train.num_classes, splits.test.num_classes
    (4800, 1692)
    >>> splits.train.class_names[1200]
    'Arcadian_0 rot90'
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfmeta import checks
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.pixels import storage_device
from tfmeta.data.sampling import check_seed
from tfmeta.data.tfds_datasets import load_class_dataset

__all__ = ["OMNIGLOT_CHARACTERS", "SPLITS", "classification_characters", "load_omniglot",
           "rotate_classes"]

OMNIGLOT_CHARACTERS = 1623
"""Characters (TFDS labels) in Omniglot: 964 background + 659 evaluation."""

SPLITS = ("classification", "background")
"""The meta-train / meta-test splits :func:`load_omniglot` knows."""

_TRAIN_CHARACTERS = 1200  # the classification papers' meta-train characters
_BACKGROUND_CHARACTERS = 964  # TFDS labels 0..963 = split "train" = images_background
_DEGREES = (0, 90, 180, 270)


def load_omniglot(
    split: str = "classification",
    *,
    rotations: bool = True,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    seed: int = 0,
) -> ClassDatasetSplits:
    """Loads Omniglot as meta-train / meta-test character classes.

    Args:
      split: ``"classification"`` (1200 / 423 characters after a fixed
        shuffle, the papers' few-shot split) or ``"background"`` (964
        background / 659 evaluation characters, paper 000's split).
      rotations: make each character rotated by 0/90/180/270 degrees four
        classes (ids ``c + k * 1623``), in both meta-train and meta-test.
      image_size: side of the square images (28 in the papers).
      data_dir: TFDS data directory (default: TFDS's default).
      download: let TFDS download and prepare missing data.
      seed: seed of the character shuffle of ``"classification"`` (unused by
        ``"background"``).

    Returns:
      ``ClassDatasetSplits(train, test)`` with disjoint classes: float32
      images ``[classes, 20, image_size, image_size, 1]`` in ``[-1, 1]``.

    Raises:
      ValueError: unknown split, bad image_size or seed.
      FileNotFoundError: ``download=False`` and Omniglot is not in
        ``data_dir``.

    Example:
        >>> splits = load_omniglot("background", rotations=False, download=False)
        >>> splits.train.num_classes, splits.test.num_classes
        (964, 659)
    """
    checks.one_of("split", split, SPLITS)
    image_size = checks.count("image_size", image_size, 1)
    if not isinstance(rotations, bool):
        raise ValueError(f"rotations must be True or False, got {rotations!r}")
    seed = check_seed(seed)
    if split == "classification":
        train_ids, test_ids = classification_characters(seed)
        name = f"omniglot classification split (seed {seed})"
    else:
        train_ids = list(range(_BACKGROUND_CHARACTERS))
        test_ids = list(range(_BACKGROUND_CHARACTERS, OMNIGLOT_CHARACTERS))
        name = "omniglot background split"
    # Both splits select from one pool of all 1623 characters (TFDS "train+test",
    # loaded once and cached), so each image is decoded once for either split.
    splits = load_class_dataset(
        "omniglot", train_split="train+test", test_split="train+test",
        train_classes=train_ids, test_classes=test_ids, image_size=image_size,
        data_dir=data_dir, download=download)
    train, test = (dataclasses.replace(ds, name=f"{name} {part}")
                   for ds, part in ((splits.train, "meta-train"), (splits.test, "meta-test")))
    del splits  # the unrotated selection is freed as soon as its split is rotated
    if rotations:
        train = rotate_classes(train, id_stride=OMNIGLOT_CHARACTERS)
        test = rotate_classes(test, id_stride=OMNIGLOT_CHARACTERS)
    return ClassDatasetSplits(train, test)


def classification_characters(seed: int = 0) -> tuple[list[int], list[int]]:
    """The TFDS labels of the classification split's 1200 / 423 characters.

    A ``numpy.random.default_rng(seed)`` permutation of ``0..1622``; the first
    1200 are meta-train, the rest meta-test; each list is sorted.

    Example:
        >>> train, test = classification_characters(0)
        >>> len(train), len(test)
        (1200, 423)
    """
    order = np.random.default_rng(check_seed(seed)).permutation(OMNIGLOT_CHARACTERS)
    return (sorted(int(c) for c in order[:_TRAIN_CHARACTERS]),
            sorted(int(c) for c in order[_TRAIN_CHARACTERS:]))


def rotate_classes(dataset: ClassDataset, degrees: Sequence[int] = _DEGREES, *,
                   id_stride: int | None = None) -> ClassDataset:
    """Each class rotated by each of ``degrees`` becomes a class of its own.

    Rotation is counter-clockwise (``tf.image.rot90``). Class ``c`` (id
    ``i``, name ``n``) rotated by ``90 * k`` degrees gets the id
    ``i + k * id_stride`` and the name ``"n rot<90 * k>"`` (``k = 0`` keeps
    ``i`` and ``n``). The result holds ``len(degrees) * num_classes`` classes,
    rotation-major: index ``r * num_classes + c`` is class ``c`` rotated by
    ``degrees[r]``; counts are repeated.

    Args:
      dataset: a ClassDataset of square images (``H == W``) unless every
        angle is 0 or 180.
      degrees: distinct multiples of 90 in ``0..270``.
      id_stride: the offset per quarter turn; default ``max(class_ids) + 1``.
        Pass the source's number of labels (Omniglot: 1623) so that the
        rotated ids of two splits of one source stay distinct.

    Raises:
      ValueError: bad angles, non-square images with a quarter turn, or an
        ``id_stride`` that would make two ids collide.

    Example:
        >>> four = rotate_classes(folder_dataset)
        >>> four.num_classes == 4 * folder_dataset.num_classes
        True
    """
    degrees = _check_degrees(degrees)
    height, width, channels = dataset.image_shape
    if height != width and any(d % 180 for d in degrees):
        raise ValueError(
            f"rotating by {[d for d in degrees if d % 180]} degrees needs square images, "
            f"{dataset.name or 'the dataset'} has {height}x{width}; use degrees=(0, 180) "
            f"or resize the images to a square")
    ids = dataset.class_ids
    if id_stride is None:
        id_stride = max(ids) + 1
    id_stride = checks.count("id_stride", id_stride, 1)
    if len(ids) > 1 and id_stride <= max(ids) - min(ids):
        raise ValueError(
            f"id_stride must exceed the spread of the class ids ({min(ids)}..{max(ids)}) so "
            f"rotated ids stay distinct, got {id_stride}; use id_stride >= "
            f"{max(ids) - min(ids) + 1}")
    num, max_count = dataset.num_classes, dataset.max_count
    with storage_device(dataset.images):
        flat = tf.reshape(dataset.images, [num * max_count, height, width, channels])
        rotated = [tf.reshape(tf.image.rot90(flat, k=d // 90), dataset.images.shape)
                   for d in degrees]
        images = rotated[0] if len(rotated) == 1 else tf.concat(rotated, axis=0)
    del rotated, flat
    class_ids = tuple(i + (d // 90) * id_stride for d in degrees for i in ids)
    class_names = tuple(n if d == 0 else f"{n} rot{d}" for d in degrees
                        for n in dataset.class_names)
    suffix = "/".join(str(d) for d in degrees)
    return ClassDataset(images=images, counts=tf.tile(dataset.counts, [len(degrees)]),
                        class_ids=class_ids, class_names=class_names,
                        name=f"{dataset.name}, rotations {suffix}".lstrip(", "))


def _check_degrees(degrees: Sequence[int]) -> tuple[int, ...]:
    if isinstance(degrees, (str, bytes)) or not hasattr(degrees, "__iter__"):
        raise ValueError(f"degrees must be a sequence of angles such as (0, 90, 180, 270), "
                         f"got {degrees!r}")
    degrees = tuple(degrees)
    bad = [d for d in degrees if not isinstance(d, numbers.Integral) or isinstance(d, bool)
           or d not in _DEGREES]
    if bad or not degrees or len(set(degrees)) != len(degrees):
        raise ValueError(f"degrees must be distinct angles from {list(_DEGREES)}, at least "
                         f"one, got {degrees!r}")
    return tuple(int(d) for d in degrees)
