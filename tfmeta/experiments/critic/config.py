"""The critic experiment's settings: one frozen, validated dataclass.

Example:
    >>> CriticConfig(dataset="omniglot", epochs=40, augment="affine", weight_decay=0.05)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks

__all__ = ["AUGMENTATIONS", "CriticConfig"]

AUGMENTATIONS = ("none", "affine")


@dataclasses.dataclass(frozen=True)
class CriticConfig:
    """Settings of :func:`tfmeta.experiments.critic.train_critic` (defaults: the MNIST critic).

    Attributes:
      dataset: TFDS name, loaded with :func:`tfmeta.data.load_class_dataset`.
      data_dir: TFDS data directory (None: TFDS's default).
      download: let TFDS download missing data.
      epochs: passes over the training images (3 reach >= 99% held-out
        accuracy on MNIST).
      batch_size: images per Adam step.
      learning_rate: initial Adam learning rate (cosine decay to 0).
      width: channels of the first block (see :func:`tfmeta.nets.build_critic`).
      holdout_fraction: per-class held-out fraction for validation, in ``[0, 1)``.
      seed: initialization, held-out split and shuffling.
      image_size: resize images to this size (None: the dataset's default,
        28 for mnist and omniglot).
      max_train_images: train on a random subset of this many images (None:
        all); for quick runs and tests.
      augment: ``"none"`` or ``"affine"``: a random shift, rotation and zoom
        of every training image in every epoch (:mod:`.augment`; never of the
        held-out images), seeded by ``seed``.
      augment_shift: largest translation per axis, in pixels (``"affine"``).
      augment_rotation: largest rotation, in degrees, in ``[0, 180]``.
      augment_zoom: largest relative change of scale, in ``[0, 1)``.
      weight_decay: decoupled weight decay (``keras.optimizers.AdamW``; each
        step multiplies the kernels by ``1 - learning_rate * weight_decay``;
        biases and BatchNorm parameters are not decayed); 0: plain Adam.
      label_smoothing: mix the one-hot targets with the uniform
        distribution by this fraction, in ``[0, 1)``; 0: plain cross-entropy.

    Raises:
      ValueError: a setting out of range; the message names the flag and value.

    Example:
        >>> CriticConfig(dataset="omniglot", epochs=30)
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = True
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    width: int = 32
    holdout_fraction: float = 0.1
    seed: int = 0
    image_size: int | None = None
    max_train_images: int | None = None
    augment: str = "none"
    augment_shift: float = 2.0
    augment_rotation: float = 10.0
    augment_zoom: float = 0.1
    weight_decay: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"--dataset must be a non-empty string, got {self.dataset!r}")
        if not isinstance(self.download, bool):
            raise ValueError(f"--download must be a bool, got {self.download!r}")
        for name in ("epochs", "batch_size", "width"):
            checks.count(name, getattr(self, name), flag=True)
        for name in ("image_size", "max_train_images"):
            if getattr(self, name) is not None:
                checks.count(name, getattr(self, name), flag=True)
        checks.positive("learning_rate", self.learning_rate, flag=True)
        check_fraction(self.holdout_fraction, flag=True)
        checks.one_of("augment", self.augment, AUGMENTATIONS, flag=True)
        checks.positive("augment_shift", self.augment_shift, flag=True, allow_zero=True)
        _check_range("augment_rotation", self.augment_rotation, 180.0, closed=True)
        _check_range("augment_zoom", self.augment_zoom, 1.0)
        checks.positive("weight_decay", self.weight_decay, flag=True, allow_zero=True)
        _check_range("label_smoothing", self.label_smoothing, 1.0)


def _check_range(name: str, value, high: float, *, closed: bool = False,
                 flag: bool = True) -> float:
    """A number in ``[0, high)`` (``[0, high]`` if ``closed``); the ValueError names the value."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and 0.0 <= value and (value <= high if closed else value < high))
    if not ok:
        interval = f"[0, {high:g}{']' if closed else ')'}"
        raise ValueError(f"{checks.label(name, flag)} must be in {interval}, got {value!r}")
    return float(value)


def check_fraction(value, *, flag: bool = False) -> float:
    """A held-out fraction in ``[0, 1)``; the ValueError names the value."""
    return _check_range("holdout_fraction", value, 1.0, flag=flag)
