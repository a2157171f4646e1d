"""Episodes for Keras's ``fit`` and ``evaluate``: meta-batches of a sampler as a ``tf.data.Dataset``.

Element ``i`` is :meth:`tfmeta.data.EpisodeSampler.meta_batch` of step
``start + i``: a stacked :class:`tfmeta.types.Task` of ``episodes`` episodes,
support set as the inner batch and query set as the validation batch, each
``(images [E, S, H, W, C], labels [E, S])``. The same step gives the same
episodes (the sampler draws them from ``(seed, step)``), which is what makes a
resumed ``fit`` equal an uninterrupted one.

``start`` may be a variable, read when iteration begins: with
``start=model.optimizer.iterations`` the stream continues at the model's
meta-step, so a ``fit`` restarted by ``keras.callbacks.BackupAndRestore``
(which restores the weights and the optimizer, iterations included) draws the
meta-batches the interrupted one would have drawn next.

:func:`batches` gives a :class:`tfmeta.data.ImageBatchSampler`'s labelled
mini-batches the same way (the baseline's training stream).

:func:`test_episodes` gives the held-out episodes the trainers evaluate on
(``trainers.few_shot_eval``): episode ``i`` is ``sampler(i)``, so ``evaluate``
on them reports the trainer's accuracy.

Example:
    >>> train = episodes(sampler, start=meta.optimizer.iterations)   # endless
    >>> meta.fit(train, epochs=10, steps_per_epoch=100)
    >>> meta.evaluate(episodes(test_sampler, meta_batches=50))
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def _read(start: Any) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(start), tf.int64)


def episodes(sampler, meta_batches: int | None = None, start: Any = 0) -> tf.data.Dataset:
    """Meta-batches ``sampler.meta_batch(step)`` for steps ``start, start + 1, ...``.

    Args:
      sampler: a :class:`tfmeta.data.EpisodeSampler` (its ``episodes`` is the
        meta-batch size).
      meta_batches: how many; None: an endless dataset (give ``fit`` its
        ``steps_per_epoch``).
      start: the first step, an int or a variable read when iteration begins
        (see the module docstring).
    """
    return _steps(meta_batches, start, "meta_batches").map(sampler.meta_batch).prefetch(
        tf.data.AUTOTUNE)


def batches(sampler, count: int | None = None, start: Any = 0) -> tf.data.Dataset:
    """Labelled mini-batches ``sampler(step)`` of a :class:`tfmeta.data.ImageBatchSampler`
    (``(images [B, H, W, C], labels [B])`` of every training class: what
    :class:`tfmeta.keras.Baseline` fits on) for steps ``start, start + 1, ...``; ``count`` and
    ``start`` as ``meta_batches`` and ``start`` of :func:`episodes`."""
    return _steps(count, start, "count").map(sampler).prefetch(tf.data.AUTOTUNE)


def _steps(count: int | None, start: Any, name: str) -> tf.data.Dataset:
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        raise ValueError(f"{name} must be an int >= 1 or None (endless), got {count!r}")
    if isinstance(start, int) and not isinstance(start, bool):
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start!r}")
        end = tf.int64.max if count is None else start + count
        return tf.data.Dataset.range(start, end)
    total = tf.int64.max if count is None else count   # read once per iteration

    def from_start(_):
        first = _read(start)
        return tf.data.Dataset.range(first, first + tf.minimum(
            tf.constant(total, tf.int64), tf.int64.max - first))
    return tf.data.Dataset.range(1).flat_map(from_start)


def test_episodes(sampler, count: int, batch: int = 1) -> tf.data.Dataset:
    """Episodes ``sampler(0) ... sampler(count - 1)``, ``batch`` to a meta-batch.

    The trainers' evaluation draws these (``EpisodeSampler(test_classes, ways,
    shots, queries, seed=seed)``, the evaluation's `seed`), one per index.
    """
    for name, value in (("count", count), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return (tf.data.Dataset.range(count).map(lambda i: sampler(i).task()).batch(batch)
            .prefetch(tf.data.AUTOTUNE))
