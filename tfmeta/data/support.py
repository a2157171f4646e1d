"""Support sets of few-shot tasks: which classes are tested, which shots each adapts on.

The evaluation protocol and the sample grids of an experiment draw the same
things the same way, so they live here, below both:

* :func:`task_classes` -- the class of each test task, drawn with replacement;
* :func:`support_set` -- the ``size`` distinct images of a class a task
  adapts on (its "shots");
* :func:`step_batches` -- one random subset of the support set per inner
  step (every step sees ``batch_size`` of the shots).

Everything is a pure function of its seeds.

Example:
    >>> shots = support_set(splits.test, class_index=2, task_number=0, size=32, seed=0)
    >>> batches = step_batches(shots, steps=10, batch_size=8, seed=tf.constant([0, 0]))
    >>> batches.shape
    TensorShape([10, 8, 28, 28, 1])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmeta.data.class_dataset import ClassDataset

__all__ = ["task_classes", "support_set", "step_batches"]


def task_classes(num_classes: int, tasks: int, seed: int) -> np.ndarray:
    """The class index of each of ``tasks`` test tasks, drawn uniformly with replacement."""
    draw = tf.random.stateless_uniform([tasks], [seed, 31337], 0, num_classes, tf.int32)
    return draw.numpy()


def support_set(dataset: ClassDataset, class_index: int, task_number: int, size: int,
                seed: int) -> tf.Tensor:
    """``size`` distinct images of a class: the few shots task ``task_number`` adapts on.

    Raises:
      ValueError: the class has fewer than ``size`` images.
    """
    count = int(dataset.counts[class_index])
    if size > count:
        raise ValueError(f"support_size={size} is larger than class "
                         f"{dataset.class_names[class_index]!r} ({count} images); use a "
                         f"support size <= {count}")
    return dataset.class_batches(class_index, task_number, 1, size, seed=seed + 17)[0]


def step_batches(support: tf.Tensor, steps: int, batch_size: int, seed) -> tf.Tensor:
    """``[steps, batch_size, ...]``: each step a random subset of the support set.

    Args:
      support: ``[n, ...]`` images, ``n >= batch_size``.
      steps: inner steps (Python int).
      batch_size: images per step.
      seed: int ``[2]`` stateless seed (a tensor inside ``tf.function``).
    """
    n = tf.shape(support)[0]
    batches = []
    for j in range(steps):
        keys = tf.random.stateless_uniform([n], tf.random.experimental.stateless_fold_in(seed, j))
        batches.append(tf.gather(support, tf.math.top_k(keys, batch_size).indices))
    return tf.stack(batches)
