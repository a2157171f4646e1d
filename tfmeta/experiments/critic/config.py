"""The critic experiment's settings: one frozen, validated dataclass.

Example:
    >>> CriticConfig(dataset="omniglot", epochs=30)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks

__all__ = ["CriticConfig"]


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


def check_fraction(value, *, flag: bool = False) -> float:
    """A held-out fraction in ``[0, 1)``; the ValueError names the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{checks.label('holdout_fraction', flag)} must be in [0, 1), "
                         f"got {value!r}")
    return float(value)
