"""Task samplers over a ClassDataset: meta-batches of class tasks and N-way K-shot episodes.

Both samplers are pure functions of ``(seed, step)``: the same seed and step
give the same tasks (a resumed run replays them), different steps give
different tasks. Sampling is TensorFlow ops on the in-memory padded image
tensor (``tf.random.stateless_*`` draws, ``top_k`` for sampling without
replacement, one ``gather``), so a sampler can be called eagerly or inside a
compiled ``tf.function`` with ``step`` as a tensor (e.g.
``optimizer.iterations``).

* :class:`MetaBatchSampler` (MAML-GAN): ``N`` distinct classes per step, for
  each ``k`` inner batches and ``max(k, 1)`` fresh validation batches of ``B``
  distinct images, returned as a :class:`tfmeta.types.Task`.
* :class:`EpisodeSampler` (classification): ``N`` distinct classes relabelled
  ``0..N-1``, ``K`` support and ``Q`` query images per class, disjoint; one
  :class:`Episode`, or with ``meta_batch(step)`` a stacked ``Task`` of
  ``episodes`` of them whose support set is reused at every inner step
  (:class:`tfmeta.types.Reused`): what a :class:`tfmeta.algorithms.MetaLearner`
  trains on.

Example:
    >>> splits = load_class_dataset("mnist", download=False)
    >>> sampler = MetaBatchSampler(splits.train, tasks=4, inner_steps=10, batch_size=32)
    >>> task = sampler(step=0)
    >>> task.inner.shape, task.val.shape, task.seed.shape
    (TensorShape([4, 10, 32, 28, 28, 1]), TensorShape([4, 10, 32, 28, 28, 1]), TensorShape([4, 2]))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfmeta.data.augment import augment_images, check_augment
from tfmeta.data.class_dataset import ClassDataset
from tfmeta.data.pixels import gather_pixels, storage_device
from tfmeta.data.sampling import (SALT_AUGMENT, SALT_EPISODE, SALT_META_BATCH, check_count,
                                  check_seed, sample_without_replacement, step_key)
from tfmeta.types import Reused, Task


class Episode(NamedTuple):
    """An N-way K-shot classification episode.

    Images are grouped by class: label ``i`` belongs to dataset class index
    ``classes[i]``; rows ``i*K .. i*K+K-1`` of the support set (``i*Q ..`` of
    the query set) have label ``i``. Support and query images are distinct.

    Attributes:
      support_images: float32 ``[N*K, H, W, C]``.
      support_labels: int32 ``[N*K]`` in ``0..N-1``.
      query_images: float32 ``[N*Q, H, W, C]``.
      query_labels: int32 ``[N*Q]``.
      classes: int32 ``[N]``, the dataset class index of each label.
      seed: int32 ``[2]``, the episode's seed for the objective's random draws.
    """
    support_images: tf.Tensor
    support_labels: tf.Tensor
    query_images: tf.Tensor
    query_labels: tf.Tensor
    classes: tf.Tensor
    seed: tf.Tensor

    def task(self) -> Task:
        """This episode as a :class:`tfmeta.types.Task` for MAML-style learners.

        Every inner step adapts on the support set and every step is scored on
        the query set, each given once (``Reused``, not copied k times); the
        batches are ``(images, labels)`` pairs with labels in ``0..N-1``.
        """
        return Task(inner=Reused((self.support_images, self.support_labels)),
                    val=Reused((self.query_images, self.query_labels)), seed=self.seed)


class _ClassSampler:
    """Shared checks and draws: ``num_classes`` distinct classes, distinct images in each."""

    _salt: int

    def __init__(self, dataset: ClassDataset, num_classes: int, images_per_draw: int,
                 seed: int, what_classes: str, what_images: str):
        if not isinstance(dataset, ClassDataset):
            raise ValueError(
                f"dataset must be a ClassDataset (from load_class_dataset(...).train or "
                f"load_folder_dataset(...)), got {type(dataset).__name__}")
        if num_classes > dataset.num_classes:
            raise ValueError(
                f"{what_classes} asks for {num_classes} distinct classes but "
                f"{dataset.name or 'the dataset'} has only {dataset.num_classes}; use "
                f"{what_classes} <= {dataset.num_classes}")
        counts = dataset.counts.numpy()
        smallest = int(np.argmin(counts))
        if counts[smallest] < images_per_draw:
            too_few = int(np.sum(counts < images_per_draw))
            raise ValueError(
                f"class {dataset.class_names[smallest]!r} (index {smallest}) of "
                f"{dataset.name or 'the dataset'} has only {int(counts[smallest])} images, "
                f"fewer than {what_images} = {images_per_draw} ({too_few} classes are that "
                f"small); make {what_images} at most {int(counts[smallest])}, "
                f"or drop those classes with dataset.select(...)")
        self.dataset = dataset
        self.seed = check_seed(seed)
        self._num_classes = num_classes
        height, width, chans = dataset.image_shape
        with storage_device(dataset.images):
            self._flat_images = tf.reshape(
                dataset.images, [dataset.num_classes * dataset.max_count, height, width, chans])

    def _key(self, step) -> tf.Tensor:
        """The stateless key of ``step`` (int or integer scalar tensor)."""
        return step_key(self.seed, step, self._salt)

    def _draw(self, key, draws: int, per_draw: int):
        """Classes ``[N]``, flat image indices ``[N, draws, per_draw]``, seed key."""
        class_key, image_key, seed_key = tf.unstack(
            tf.random.experimental.stateless_split(key, 3))
        noise = tf.random.stateless_uniform([self.dataset.num_classes], class_key)
        classes = tf.math.top_k(noise, k=self._num_classes).indices  # distinct, random order
        counts = tf.gather(self.dataset.counts, classes)
        index = sample_without_replacement(
            image_key, tf.broadcast_to(counts[:, None], [self._num_classes, draws]),
            self.dataset.max_count, per_draw)
        flat = classes[:, None, None] * self.dataset.max_count + index
        return classes, flat, seed_key


class MetaBatchSampler(_ClassSampler):
    """Meta-batches of class tasks for MAML-style training (MAML-GAN).

    At every step, ``tasks`` distinct classes are drawn; for each class,
    ``inner_steps`` inner batches and ``max(inner_steps, 1)`` validation
    batches (one fresh batch per inner step; one batch scoring the initial
    parameters when ``inner_steps == 0``) of ``batch_size`` images. The
    images within one batch are distinct; the batches of a task are drawn
    independently of each other.

    Args:
      dataset: the task distribution (e.g. ``splits.train``).
      tasks: ``N``, classes (tasks) per meta-batch.
      inner_steps: ``k >= 0``.
      batch_size: ``B``, images per batch; every class needs at least ``B``.
      seed: the sampler's seed.

    Raises:
      ValueError: a class has fewer than ``batch_size`` images, ``tasks`` exceeds
        the classes, or a bad count.

    Example:
        >>> sampler = MetaBatchSampler(splits.train, tasks=4, inner_steps=10,
        ...                            batch_size=32, seed=0)
        >>> task = sampler(step)                  # tfmeta.types.Task
        >>> task.inner.shape                      # [N, k, B, H, W, C]
        TensorShape([4, 10, 32, 28, 28, 1])
        >>> step_fn = tf.function(lambda s: sampler(s))   # compiled, step a tensor
    """

    _salt = SALT_META_BATCH

    def __init__(self, dataset: ClassDataset, *, tasks: int, inner_steps: int,
                 batch_size: int, seed: int = 0):
        check_count("tasks", tasks, 1)
        check_count("inner_steps", inner_steps, 0)
        check_count("batch_size", batch_size, 1)
        super().__init__(dataset, tasks, batch_size, seed, "tasks", "batch_size")
        self.tasks = tasks
        self.inner_steps = inner_steps
        self.batch_size = batch_size

    def __call__(self, step) -> Task:
        """The meta-batch of ``step`` (int or integer scalar tensor).

        Returns:
          ``Task(inner, val, seed)``: ``inner`` float32 ``[N, k, B, H, W, C]``,
          ``val`` float32 ``[N, max(k, 1), B, H, W, C]``, ``seed`` int32
          ``[N, 2]``, distinct per task (for the objective's latents).
        """
        k = self.inner_steps
        _, flat, seed_key = self._draw(self._key(step), k + max(k, 1), self.batch_size)
        images = gather_pixels(self._flat_images, flat)  # [N, k + max(k,1), B, H, W, C]
        noise = tf.random.stateless_uniform([], seed_key, minval=None, maxval=None,
                                            dtype=tf.int32)
        seeds = tf.stack([tf.fill([self.tasks], noise), tf.range(self.tasks, dtype=tf.int32)],
                         axis=1)
        return Task(inner=images[:, :k], val=images[:, k:], seed=seeds)

    meta_batch = __call__

    def classes(self, step) -> tf.Tensor:
        """int32 ``[N]``: the dataset class index of each task of ``step``."""
        return self._draw(self._key(step), 1, 1)[0]


class EpisodeSampler(_ClassSampler):
    """N-way K-shot episodes for few-shot classification.

    Args:
      dataset: the task distribution (e.g. ``splits.test``).
      ways: ``N``, classes per episode.
      shots: ``K >= 1``, support images per class.
      queries: ``Q >= 1``, query images per class (distinct from the support).
      seed: the sampler's seed.
      episodes: episodes per :meth:`meta_batch` (a meta-batch of tasks).
      augment: one of :data:`tfmeta.data.augment.AUGMENTS`: every support and query
        image augmented, each by its own draw from the episode's key (training
        episodes only; held-out episodes are never augmented).

    Raises:
      ValueError: a class has fewer than ``shots + queries`` images, ``ways``
        exceeds the classes, a bad count or an unknown ``augment``.

    Example:
        >>> sampler = EpisodeSampler(splits.test, ways=5, shots=1, queries=15)
        >>> episode = sampler(step=0)
        >>> episode.support_images.shape, episode.query_labels.shape
        (TensorShape([5, 28, 28, 1]), TensorShape([75]))
        >>> tasks = EpisodeSampler(splits.train, ways=5, shots=1, queries=15,
        ...                        episodes=4).meta_batch(step)
        >>> tasks.inner.batch[0].shape          # Reused((images, labels)), [E, N*K, ...]
        TensorShape([4, 5, 28, 28, 1])
        >>> learner.train_step(tasks)           # a MetaLearner with a classifier objective
    """

    _salt = SALT_EPISODE

    def __init__(self, dataset: ClassDataset, *, ways: int, shots: int, queries: int,
                 seed: int = 0, episodes: int = 1, augment: str = "none"):
        self.augment = check_augment(augment)
        check_count("ways", ways, 1)
        check_count("shots", shots, 1)
        check_count("queries", queries, 1)
        check_count("episodes", episodes, 1)
        super().__init__(dataset, ways, shots + queries, seed, "ways", "shots + queries")
        self.ways, self.shots, self.queries = ways, shots, queries
        self.episodes = episodes

    def __call__(self, step) -> Episode:
        """The episode of ``step`` (int or integer scalar tensor)."""
        return self._episode(self._key(step))

    episode = __call__

    def meta_batch(self, step) -> Task:
        """``episodes`` episodes of ``step`` as one stacked :class:`tfmeta.types.Task`.

        Episode ``i`` is drawn from its own key (``fold_in`` of the step's key
        and ``i``), so the episodes are independent and a pure function of
        ``(seed, step)``; ``step`` may be a tensor.

        Returns:
          ``Task(inner=Reused((images [E, N*K, H, W, C], labels [E, N*K])),
          val=Reused((images [E, N*Q, H, W, C], labels [E, N*Q])), seed [E, 2])``.
        """
        key = self._key(step)
        tasks = [self._episode(tf.random.experimental.stateless_fold_in(key, i)).task()
                 for i in range(self.episodes)]
        return tf.nest.map_structure(lambda *t: tf.stack(t), *tasks)

    def _episode(self, key) -> Episode:
        n, k, q = self.ways, self.shots, self.queries
        classes, flat, seed_key = self._draw(key, 1, k + q)
        flat = flat[:, 0]                                          # [N, K + Q]
        shape = self.dataset.image_shape
        support = gather_pixels(self._flat_images, tf.reshape(flat[:, :k], [n * k]))
        query = gather_pixels(self._flat_images, tf.reshape(flat[:, k:], [n * q]))
        if self.augment != "none":
            both = augment_images(tf.concat([support, query], 0), tf.random.experimental.
                                  stateless_fold_in(key, SALT_AUGMENT), self.augment)
            support, query = both[:n * k], both[n * k:]
        labels = tf.range(n, dtype=tf.int32)
        return Episode(
            support_images=tf.ensure_shape(support, (n * k,) + shape),
            support_labels=tf.repeat(labels, k),
            query_images=tf.ensure_shape(query, (n * q,) + shape),
            query_labels=tf.repeat(labels, q),
            classes=classes,
            seed=tf.random.stateless_uniform([2], seed_key, minval=None, maxval=None,
                                             dtype=tf.int32))

