"""A meta-batch's tasks one after another or all at once: the mean of what each task gives.

Example:
    >>> grads, metrics = mean_over_tasks(one_task, tasks, zeros, mode="loop")
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfmeta.types import Task, task_at


def mean_over_tasks(one_task: Callable[[Task], Any], tasks: Task, zeros: Any, *,
                    mode: str = "loop", parallel: int = 1) -> Any:
    """The mean over the stacked ``tasks`` of ``one_task(task)``, a nest shaped like ``zeros``.

    ``mode="loop"``: one task per ``tf.while_loop`` iteration (``parallel`` of
    them at once), summed in ``zeros``' dtypes; ``"vectorized"``: one batched
    computation (``tf.vectorized_map``: every op gets a task axis).
    """
    if mode == "vectorized":
        per_task = tf.vectorized_map(one_task, tasks, fallback_to_while_loop=True, warn=False)
        return tf.nest.map_structure(lambda t: tf.reduce_mean(t, axis=0), per_task)
    n = tf.shape(tasks.seed)[0]

    def body(i, total):
        out = one_task(task_at(tasks, i))
        return i + 1, tf.nest.map_structure(lambda a, t: a + tf.cast(t, a.dtype), total, out)

    _, total = tf.while_loop(lambda i, _: i < n, body, (0, zeros), parallel_iterations=parallel)
    return tf.nest.map_structure(lambda a: a / tf.cast(n, a.dtype), total)
