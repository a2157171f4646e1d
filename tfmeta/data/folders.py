"""Class-per-task datasets from a folder of images, one sub-folder per class.

:func:`load_folder_dataset` reads images with Keras's maintained loader,
``keras.utils.image_dataset_from_directory`` (decoding, resizing, file
formats and ordering are Keras's), and returns a :class:`ClassDataset`.

Nesting. Keras treats the direct sub-folders of the folder it is given as the
classes. Datasets such as Omniglot nest classes one level deeper
(``Alphabet/characterNN/*.png``). So the folder is searched for *class roots*:
a folder is a class root when at least one of its sub-folders holds image
files directly; then each of its sub-folders is a class, and Keras is run on
it. Otherwise each sub-folder is searched in turn. Class names are the class
folders' paths relative to ``path`` (``"Greek/character01"``), so classes of
different parents never merge. For ``omniglot/background_small1`` this gives
its 136 characters (5 alphabets) as 136 classes.

Images are resized (area averaging) to ``image_size``, converted to
``channels`` channels and scaled to float32 ``[-1, 1]``. Pass ``invert=True``
for black-on-white images such as Omniglot's PNGs, so ink is bright on dark
like MNIST and like :func:`load_class_dataset("omniglot")`.

Example:
    >>> ds = load_folder_dataset("shared/data/omniglot/background_small1", invert=True)
    >>> ds.num_classes, ds.class_names[0]
    (136, 'Balinese/character01')
    >>> splits = ds.split(train_classes=range(100))   # disjoint train/test classes
"""

from __future__ import annotations

import os
from pathlib import Path

from absl import logging
import keras
import numpy as np

from tfmeta.data.class_dataset import ClassDataset
from tfmeta.data.class_ids import image_size_pair

# The file types keras.utils.image_dataset_from_directory reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def load_folder_dataset(
    path: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] = 28,
    channels: int = 1,
    invert: bool = False,
    name: str | None = None,
) -> ClassDataset:
    """Loads a folder with one sub-folder of images per class (nesting allowed).

    Args:
      path: the dataset folder.
      image_size: ``H`` or ``(H, W)`` to resize to.
      channels: 1 (grayscale) or 3 (RGB).
      invert: map ``x -> -x`` after scaling to ``[-1, 1]`` (for dark ink on
        white paper).
      name: a name for messages (default: the folder name).

    Returns:
      A ClassDataset; ``class_ids`` are ``0 .. num_classes - 1`` in the sorted
      order of the class paths, ``class_names`` the class paths relative to
      ``path``.

    Raises:
      FileNotFoundError: ``path`` is not a folder or holds no class folders.
      ValueError: bad ``image_size`` / ``channels``.

    Example:
        >>> ds = load_folder_dataset("my_images", image_size=64, channels=3)
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {os.fspath(path)!r} does not exist; pass the path of a folder "
            f"with one sub-folder of images per class")
    size = image_size_pair(image_size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    class_roots = _class_roots(root)
    if not class_roots:
        raise FileNotFoundError(
            f"image folder {os.fspath(path)!r} has no class sub-folder holding images "
            f"({', '.join(IMAGE_EXTENSIONS)}); put each class's images in its own sub-folder")
    images, labels, names = [], [], []
    for class_root in class_roots:
        ds = keras.utils.image_dataset_from_directory(
            class_root, labels="inferred", label_mode="int",
            color_mode="grayscale" if channels == 1 else "rgb", batch_size=512,
            image_size=size, shuffle=False, interpolation="area", verbose=False)
        prefix = class_root.relative_to(root).as_posix()
        offset = len(names)
        names += [n if prefix == "." else f"{prefix}/{n}" for n in ds.class_names]
        for x, y in ds.as_numpy_iterator():
            images.append(x)
            labels.append(y.astype(np.int64) + offset)
    images = np.concatenate(images) * np.float32(2.0 / 255.0) - np.float32(1.0)
    images = np.clip(images, -1.0, 1.0)
    if invert:
        images = -images
    labels = np.concatenate(labels)
    empty = sorted(set(range(len(names))) - set(np.unique(labels).tolist()))
    if empty:
        raise FileNotFoundError(
            f"class folders {[names[i] for i in empty]} under {os.fspath(path)!r} hold no "
            f"images; remove them or add images")
    dataset = ClassDataset.from_labelled_images(
        images, labels, class_names=names, name=name or root.name)
    logging.info("Loaded image folder %s: %d classes, %d images of %s.", root,
                 dataset.num_classes, len(labels), dataset.image_shape)
    return dataset


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() for p in folder.iterdir())


def _class_roots(folder: Path) -> list[Path]:
    """Folders whose sub-folders are the classes (see the module docstring)."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    if any(_has_images(sub) for sub in subfolders):
        return [folder]
    roots = []
    for sub in subfolders:
        roots += _class_roots(sub)
    return roots

