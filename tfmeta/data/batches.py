"""Plain supervised mini-batches over every image of a ClassDataset, epoch by epoch.

:class:`ImageBatchSampler` deals the dataset's images out in epochs: each
epoch is its own pseudo-random permutation of all the images
(``tf.random.experimental.index_shuffle``, never materialized), and step
``s`` takes the ``batch_size`` images at positions ``s * batch_size ..`` of
that stream, so every image is seen once per epoch and a batch is a pure
function of ``(seed, step)`` (a resumed run replays it). A label is the
image's class index in the dataset (``0 .. num_classes - 1``): what a
classifier over all the meta-train classes learns (the pre-training of the
few-shot baselines). With ``augment`` each batch is augmented
(:mod:`tfmeta.data.augment`) by draws keyed on ``(seed, step)`` as well.

Example:
    >>> sampler = ImageBatchSampler(splits.train, batch_size=64, seed=0)
    >>> images, labels = sampler(step=0)
    >>> images.shape, labels.shape
    (TensorShape([64, 28, 28, 1]), TensorShape([64]))
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta.data.augment import augment_images, check_augment
from tfmeta.data.class_dataset import ClassDataset
from tfmeta.data.pixels import gather_pixels, storage_device
from tfmeta.data.sampling import SALT_AUGMENT, SALT_BATCH, check_count, check_seed, step_key

__all__ = ["ImageBatchSampler"]


class ImageBatchSampler:
    """``step -> (images [B, H, W, C], labels [B])``: epochs of shuffled images of every class.

    Args:
      dataset: the images to train on (e.g. ``splits.train``).
      batch_size: ``B``, images per batch (at most the dataset's images).
      seed: the sampler's seed.
      augment: one of :data:`tfmeta.data.augment.AUGMENTS` (``none``, ``crop``,
        ``rfs``).

    Raises:
      ValueError: ``dataset`` is not a ClassDataset, ``batch_size`` is not a
        count or exceeds the dataset's images, or an unknown ``augment``.
    """

    def __init__(self, dataset: ClassDataset, *, batch_size: int, seed: int = 0,
                 augment: str = "none"):
        if not isinstance(dataset, ClassDataset):
            raise ValueError(f"dataset must be a ClassDataset, got {type(dataset).__name__}")
        check_count("batch_size", batch_size, 1)
        if batch_size > dataset.num_images:
            raise ValueError(f"batch_size={batch_size} is more than the {dataset.num_images} "
                             f"images of {dataset.name or 'the dataset'}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, check_seed(seed)
        self.augment = check_augment(augment)
        self.num_images = int(dataset.num_images)
        counts = tf.cast(dataset.counts, tf.int64)
        self._starts = tf.concat([[0], tf.cumsum(counts)[:-1]], axis=0)   # first image of each
        shape = dataset.image_shape
        with storage_device(dataset.images):
            self._flat_images = tf.reshape(
                dataset.images, [dataset.num_classes * dataset.max_count, *shape])

    def __call__(self, step) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch of ``step`` (int or integer scalar tensor): float32 images, int32 labels."""
        step = tf.cast(tf.convert_to_tensor(step), tf.int64)
        n = tf.constant(self.num_images, tf.int64)
        stream = step * self.batch_size + tf.range(self.batch_size, dtype=tf.int64)
        epoch, position = stream // n, stream % n
        # A batch spans at most two epochs (B <= the images), each shuffled by its own key.
        first = epoch[0]
        image0, image1 = (tf.random.experimental.index_shuffle(
            position, step_key(self.seed, first + i, SALT_BATCH), n - 1) for i in (0, 1))
        image = tf.where(epoch == first, image0, image1)                             # [B]
        labels = tf.searchsorted(self._starts, image, side="right", out_type=tf.int64) - 1
        flat = labels * self.dataset.max_count + image - tf.gather(self._starts, labels)
        images = augment_images(gather_pixels(self._flat_images, flat),
                                step_key(self.seed, step, SALT_AUGMENT), self.augment)
        return (tf.ensure_shape(images, (self.batch_size,) + self.dataset.image_shape),
                tf.cast(labels, tf.int32))
