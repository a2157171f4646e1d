"""The critic experiment's settings: one frozen, validated dataclass.

Example:
    >>> CriticConfig(dataset="omniglot", epochs=40, augment="affine", weight_decay=0.05)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import data_dir_setting, download_setting, setting

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
      ValueError: a setting out of range; the message names the field and value.

    Example:
        >>> CriticConfig(dataset="omniglot", epochs=30)
    """

    dataset: str = setting("mnist",
        'TFDS dataset whose classes (all of them, meta-train and meta-test) the critic '
        'learns, e.g. mnist, fashion_mnist, omniglot.')
    data_dir: str | None = data_dir_setting()
    download: bool = download_setting()
    epochs: int = setting(3,
        'Passes over the training images (3 give >= 99% held-out accuracy on MNIST; Omniglot '
        'needs more, e.g. 30).')
    batch_size: int = setting(128, 'Images per Adam step.')
    learning_rate: float = setting(1e-3,
        'Initial Adam learning rate; it decays to 0 along a cosine over the run.')
    width: int = setting(32,
        'Channels of the stem and first residual block; the four blocks have width x (1, 2, '
        '4, 4) channels.')
    holdout_fraction: float = setting(0.1,
        "Fraction of each class's images held out to measure the critic's accuracy (at least "
        'one image per class if > 0).')
    seed: int = setting(0, 'Seed of the initialization, held-out split and shuffling.')
    image_size: int | None = setting(None,
        "Resize images to this size (default: the dataset's, 28 for mnist and omniglot).")
    max_train_images: int | None = setting(None,
        'For quick runs and tests only: train on a random subset of this many images '
        '(default: all).')
    augment: str = setting("none",
        "Augmentation of the training images (never of the held-out ones): 'none', or "
        "'affine': a random shift (`augment_shift`), rotation (`augment_rotation`) and zoom "
        '(`augment_zoom`) of every image in every epoch, seeded by `seed`.')
    augment_shift: float = setting(2.0,
        'With `augment`=affine: largest translation per axis, in pixels (uniform in [-shift, '
        'shift]).')
    augment_rotation: float = setting(10.0,
        'With `augment`=affine: largest rotation about the image centre, in degrees, in [0, '
        '180].')
    augment_zoom: float = setting(0.1,
        'With `augment`=affine: largest relative change of scale about the image centre, in '
        '[0, 1) (0.1: scale 0.9 to 1.1).')
    augment_binarize: float = setting(0.0,
        'Chance of each training image to be thresholded to black and white at a random level '
        '(uniform in [-0.5, 0.5]) in every epoch, after `augment`, in [0, 1]: the critic then '
        'reads the shape of a stroke, not its anti-aliased grey (generated strokes are nearly '
        'binary). 0: off.')
    weight_decay: float = setting(0.0,
        'Decoupled weight decay (AdamW) of the kernels: each step multiplies them by 1 - '
        'learning_rate * weight_decay; biases and BatchNorm parameters are not decayed. 0: '
        'plain Adam.')
    label_smoothing: float = setting(0.0,
        'Mix the one-hot training targets with the uniform distribution by this fraction, in '
        "[0, 1). 0: plain cross-entropy. It caps the critic's confidence, so it raises the "
        'NLL the critic reports for every image.')

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"`dataset` must be a non-empty string, got {self.dataset!r}")
        if not isinstance(self.download, bool):
            raise ValueError(f"`download` must be a bool, got {self.download!r}")
        for name in ("epochs", "batch_size", "width"):
            checks.count(name, getattr(self, name))
        for name in ("image_size", "max_train_images"):
            if getattr(self, name) is not None:
                checks.count(name, getattr(self, name))
        checks.positive("learning_rate", self.learning_rate)
        check_fraction(self.holdout_fraction)
        checks.one_of("augment", self.augment, AUGMENTATIONS)
        checks.positive("augment_shift", self.augment_shift, allow_zero=True)
        _check_range("augment_rotation", self.augment_rotation, 180.0, closed=True)
        _check_range("augment_zoom", self.augment_zoom, 1.0)
        _check_range("augment_binarize", self.augment_binarize, 1.0, closed=True)
        checks.positive("weight_decay", self.weight_decay, allow_zero=True)
        _check_range("label_smoothing", self.label_smoothing, 1.0)


def _check_range(name: str, value, high: float, *, closed: bool = False) -> float:
    """A number in ``[0, high)`` (``[0, high]`` if ``closed``); the ValueError names the value."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and 0.0 <= value and (value <= high if closed else value < high))
    if not ok:
        interval = f"[0, {high:g}{']' if closed else ')'}"
        raise ValueError(f"`{name}` must be in {interval}, got {value!r}")
    return float(value)


def check_fraction(value) -> float:
    """A held-out fraction in ``[0, 1)``; the ValueError names the value."""
    return _check_range("holdout_fraction", value, 1.0)
