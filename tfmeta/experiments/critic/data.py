"""The critic's data: every class of a dataset, each split into a training and a held-out part.

Because the critic must recognise the *meta-test* classes, it is trained on
every class of the dataset: the meta-train and meta-test classes of a
:class:`~tfmeta.data.ClassDatasetSplits` merged (10 digits for MNIST, all
1623 characters for Omniglot), with a small per-class held-out part for its
own validation. Its labels are positions in the sorted list of source class
ids (``CriticData.class_ids``), so for TFDS datasets the critic's label of a
class is its TFDS label.

Example:
    >>> data = critic_data(load_class_dataset("mnist", download=False))
    >>> data.num_classes, data.train_images.shape[1:]
    (10, (28, 28, 1))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfmeta.data import ClassDataset, ClassDatasetSplits
from tfmeta.data.pixels import pixels
from tfmeta.eval.critic import labels_for_class_ids
from tfmeta.experiments.critic.config import check_fraction

__all__ = ["CriticData", "critic_data", "heldout_count"]


@dataclasses.dataclass(frozen=True, eq=False)
class CriticData:
    """All images of all classes, split per class into training and held-out parts.

    Attributes:
      train_images: float32 ``[n_train, H, W, C]`` in ``[-1, 1]``.
      train_labels: int32 ``[n_train]``, critic labels ``0 .. num_classes - 1``.
      heldout_images: float32 ``[n_heldout, H, W, C]``.
      heldout_labels: int32 ``[n_heldout]``.
      class_ids: int64 ``[num_classes]``: the source (TFDS) class id of each
        critic label, sorted ascending.
      class_names: a readable name of each critic label.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    heldout_images: np.ndarray
    heldout_labels: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Classes of the critic (meta-train and meta-test classes together)."""
        return int(len(self.class_ids))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.train_images.shape[1:])

    def labels_of(self, dataset: ClassDataset) -> np.ndarray:
        """Critic labels of the class indices of ``dataset``, int32 ``[dataset.num_classes]``.

        Raises:
          ValueError: a class id of ``dataset`` is not a critic class.

        Example:
            >>> label = data.labels_of(splits.test)[2]   # critic label of test class index 2
        """
        return labels_for_class_ids(self.class_ids, dataset.class_ids)


def heldout_count(count: int, holdout_fraction: float) -> int:
    """Images of a class of ``count`` images that are held out.

    ``round(holdout_fraction * count)``, but at least 1 when the fraction is
    positive and at most ``count - 1``, so every class keeps a training image.

    Example:
        >>> heldout_count(20, 0.1), heldout_count(7000, 0.1), heldout_count(3, 0.1)
        (2, 700, 1)
    """
    if holdout_fraction <= 0 or count < 2:
        return 0
    return int(min(count - 1, max(1, round(holdout_fraction * count))))


def critic_data(splits: ClassDatasetSplits | ClassDataset, holdout_fraction: float = 0.1,
                seed: int = 0) -> CriticData:
    """Merges every class of ``splits`` and holds out part of each class.

    Args:
      splits: ``ClassDatasetSplits`` (meta-train and meta-test classes are
        merged) or a single ``ClassDataset``.
      holdout_fraction: fraction of each class's images held out for
        validation, in ``[0, 1)`` (see :func:`heldout_count`).
      seed: seed of the per-class split. The split of a class depends only on
        ``seed`` and its class id, not on the other classes.

    Returns:
      A :class:`CriticData`; every image is in exactly one of the two parts.
      Labels are positions in the sorted class ids; images are ordered by
      label (shuffle them for training).

    Raises:
      ValueError: a bad fraction, or a class id in both splits.
    """
    check_fraction(holdout_fraction)
    parts = [splits] if isinstance(splits, ClassDataset) else list(splits)
    by_id = {}
    for part in parts:
        images, counts = pixels(part.images).numpy(), part.counts.numpy()
        for c, (cid, name) in enumerate(zip(part.class_ids, part.class_names)):
            if cid in by_id:
                raise ValueError(
                    f"class id {cid} ({name!r}) appears twice in the splits; the critic "
                    f"needs each class once")
            by_id[cid] = (name, images[c, :counts[c]])
    class_ids = np.asarray(sorted(by_id), np.int64)
    train_x, train_y, held_x, held_y = [], [], [], []
    for label, cid in enumerate(class_ids):
        images = by_id[int(cid)][1]
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(cid) & 0xFFFFFFFF])
        order = rng.permutation(len(images))
        k = heldout_count(len(images), holdout_fraction)
        held_x.append(images[order[:k]])
        train_x.append(images[order[k:]])
        held_y.append(np.full(k, label, np.int32))
        train_y.append(np.full(len(images) - k, label, np.int32))
    return CriticData(
        train_images=np.concatenate(train_x), train_labels=np.concatenate(train_y),
        heldout_images=np.concatenate(held_x), heldout_labels=np.concatenate(held_y),
        class_ids=class_ids,
        class_names=tuple(by_id[int(cid)][0] for cid in class_ids))
