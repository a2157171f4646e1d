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
    if meta_batches is not None and (isinstance(meta_batches, bool)
                                     or not isinstance(meta_batches, int) or meta_batches < 1):
        raise ValueError(f"meta_batches must be an int >= 1 or None (endless), got "
                         f"{meta_batches!r}")
    if isinstance(start, int) and not isinstance(start, bool):
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start!r}")
        end = tf.int64.max if meta_batches is None else start + meta_batches
        steps = tf.data.Dataset.range(start, end)
    else:   # read once per iteration, when its first element is drawn
        count = tf.int64.max if meta_batches is None else meta_batches

        def from_start(_):
            first = _read(start)
            return tf.data.Dataset.range(first, first + tf.minimum(
                tf.constant(count, tf.int64), tf.int64.max - first))
        steps = tf.data.Dataset.range(1).flat_map(from_start)
    return steps.map(sampler.meta_batch).prefetch(tf.data.AUTOTUNE)


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
