"""The few-shot image benchmarks by name: mini-ImageNet, tiered-ImageNet, CIFAR-FS, FC100, CUB.

:func:`load_benchmark` dispatches to each one's loader, which reads the files
users have (see each module, and docs/datasets.md):

=====================  ===============================  ==================  ====
name                   files in ``data_dir``            classes             size
=====================  ===============================  ==================  ====
``mini_imagenet``      ``mini-imagenet-cache-*.pkl``,    64 / 16 / 20        84
                       or ``{split}.csv`` + ``images/``
``tiered_imagenet``    ``tiered-imagenet/{split}_*``     351 / 97 / 160      84
``cifar_fs``           ``cifar-100-python.tar.gz``       64 / 16 / 20        32
``fc100``              ``cifar-100-python.tar.gz``       60 / 20 / 20        32
``cub``                ``CUB_200_2011.tgz``              100 / 50 / 50       84
=====================  ===============================  ==================  ====

Classes are meta-train / validation / meta-test; the result's ``test`` member
is the meta-test classes, or with ``held_out="val"`` the validation classes.

Example:
    >>> splits = load_benchmark("cifar_fs", "data")
    >>> splits.train.num_classes, splits.train.image_shape
    (64, (32, 32, 3))
"""

from __future__ import annotations

import os
from typing import Callable

from tfmeta import checks
from tfmeta.data.class_dataset import ClassDatasetSplits
from tfmeta.data.cifar100 import load_cifar_fs, load_fc100
from tfmeta.data.cub import load_cub
from tfmeta.data.mini_imagenet import load_mini_imagenet, load_tiered_imagenet

__all__ = ["BENCHMARKS", "IMAGE_SIZES", "load_benchmark"]

BENCHMARKS: dict[str, Callable[..., ClassDatasetSplits]] = {
    "mini_imagenet": load_mini_imagenet,
    "tiered_imagenet": load_tiered_imagenet,
    "cifar_fs": load_cifar_fs,
    "fc100": load_fc100,
    "cub": load_cub,
}
"""Each benchmark's loader: ``(data_dir, *, held_out, image_size) -> ClassDatasetSplits``."""

IMAGE_SIZES = {"mini_imagenet": 84, "tiered_imagenet": 84, "cifar_fs": 32, "fc100": 32,
               "cub": 84}
"""The image side the papers use on each benchmark (the default ``image_size``)."""


def load_benchmark(name: str, data_dir: str | os.PathLike, *, held_out: str = "test",
                   image_size: int | None = None) -> ClassDatasetSplits:
    """The meta-train classes and the meta-test (or validation) classes of a benchmark.

    Args:
      name: a key of :data:`BENCHMARKS`.
      data_dir: the folder holding its files.
      held_out: ``"test"`` or ``"val"``.
      image_size: the square side (default: :data:`IMAGE_SIZES`).

    Example:
        >>> load_benchmark("cub", "data", held_out="val").test.num_classes
        50
    """
    checks.one_of("name", name, tuple(BENCHMARKS))
    size = IMAGE_SIZES[name] if image_size is None else image_size
    return BENCHMARKS[name](data_dir, held_out=held_out, image_size=size)
