"""The sinusoid regression task family of the MAML paper (Finn et al. 2017).

A task is ``y = A sin(x - phase)`` with ``A ~ U[0.1, 5.0]``, ``phase ~ U[0, pi]``
and inputs ``x ~ U[-5, 5]``. Its support set has K points; the query set has
fresh points of the same curve. Everything is drawn with stateless random ops
from ``(seed, step)``, so a meta-batch is a pure function of its step.

Example:
    >>> tasks = SinusoidTasks(shots=10, seed=0)
    >>> meta_batch = tasks.meta_batch(step=3, num_tasks=25, inner_steps=1)
    >>> meta_batch.inner[0].shape   # x: [tasks, steps, shots, 1]
    TensorShape([25, 1, 10, 1])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

from tfmeta import checks
from tfmeta.types import Task

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


class SinusoidParams(NamedTuple):
    amplitude: tf.Tensor  # [N]
    phase: tf.Tensor      # [N]


class SinusoidTasks:
    """Samples sinusoid tasks as :class:`tfmeta.types.Task` meta-batches.

    Args:
      shots: K, support points per task (the same K points feed every inner
        step, as in the MAML paper).
      query: query points per task (default K, as in MAML's meta-training).
      seed: int seed; training and evaluation should use different seeds.
      dtype: of x and y.
    """

    def __init__(self, shots: int, query: int | None = None, seed: int = 0,
                 dtype: tf.DType = tf.float32):
        checks.count("shots", shots)
        checks.count("query", shots if query is None else query)
        self.shots = shots
        self.query = shots if query is None else query
        self.seed = int(seed)
        self.dtype = dtype

    def _seed(self, step, stream: int) -> tf.Tensor:
        base = tf.constant([self.seed, stream], tf.int32)
        return tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int32))

    def curves(self, step, num_tasks: int) -> SinusoidParams:
        """Amplitudes and phases of the ``num_tasks`` tasks of ``step``."""
        seed = self._seed(step, 0)
        amp = tf.random.stateless_uniform([num_tasks], seed, *AMPLITUDE, dtype=self.dtype)
        phase = tf.random.stateless_uniform(
            [num_tasks], tf.random.experimental.stateless_fold_in(seed, 1), *PHASE,
            dtype=self.dtype)
        return SinusoidParams(amp, phase)

    @staticmethod
    def evaluate(curves: SinusoidParams, x: tf.Tensor) -> tf.Tensor:
        """``y`` of each task's curve at ``x`` ([N, ..., 1])."""
        shape = [-1] + [1] * (x.shape.rank - 1)
        return (tf.reshape(curves.amplitude, shape)
                * tf.sin(x - tf.reshape(curves.phase, shape)))

    def meta_batch(self, step, num_tasks: int, inner_steps: int) -> Task:
        """A stacked meta-batch: ``inner`` = support (x, y) repeated for every step,
        ``val`` = query (x, y) repeated likewise; shapes ``[N, max(k,1), points, 1]``."""
        curves = self.curves(step, num_tasks)
        seed = self._seed(step, 1)
        n = max(inner_steps, 1)

        def points(count, stream):
            x = tf.random.stateless_uniform(
                [num_tasks, 1, count, 1], tf.random.experimental.stateless_fold_in(seed, stream),
                *X_RANGE, dtype=self.dtype)
            x = tf.tile(x, [1, n, 1, 1])
            return x, self.evaluate(curves, x)

        task_seeds = tf.random.stateless_uniform([num_tasks, 2], self._seed(step, 2),
                                                 minval=None, maxval=None, dtype=tf.int32)
        return Task(inner=points(self.shots, 0), val=points(self.query, 1), seed=task_seeds)

    def pooled_batch(self, step, num_tasks: int) -> tuple[tf.Tensor, tf.Tensor]:
        """(x, y) pooled over ``num_tasks`` tasks: the pre-training baseline's batch."""
        task = self.meta_batch(step, num_tasks, 1)
        x, y = task.inner
        return tf.reshape(x, [-1, 1]), tf.reshape(y, [-1, 1])
