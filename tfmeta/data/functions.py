"""The heterogeneous regression task family of HSML (Yao et al. 2019): four kinds of function.

A task is one function of one of four families, each drawn with probability
1/4, with coefficients uniform in the HSML code's ranges and ``x ~ U[-5, 5]``:

* ``sinusoid``: ``A sin(w x) + b``, ``A in [0.1, 5]``, ``w in [0.8, 1.2]``, ``b in [0, 2 pi]``;
* ``line``: ``a x + b``, ``a, b in [-3, 3]``;
* ``quadratic``: ``a x^2 + b x + c``, ``a in [-0.2, 0.2]``, ``b in [-2, 2]``, ``c in [-3, 3]``;
* ``cubic``: ``a x^3 + b x^2 + c x + d``, ``a in [-0.1, 0.1]``, ``b in [-0.2, 0.2]``,
  ``c in [-2, 2]``, ``d in [-3, 3]``.

There is no observation noise (as in the HSML code). Like
:class:`tfmeta.data.sinusoid.SinusoidTasks`, whose sampling it reuses, every
draw is a stateless function of ``(seed, step)``.

Example:
    >>> tasks = FunctionTasks(shots=5, query=10, seed=0)
    >>> batch = tasks.meta_batch(step=3, num_tasks=25, inner_steps=5)
    >>> tasks.curves(3, 25).family      # [25] ints: 0 sinusoid, 1 line, 2 quadratic, 3 cubic
"""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

from tfmeta.data.sinusoid import SinusoidTasks

FAMILIES = ("sinusoid", "line", "quadratic", "cubic")
# Per family, the ranges of its coefficients (highest power first for polynomials).
RANGES = {"sinusoid": ((0.1, 5.0), (0.8, 1.2), (0.0, 2 * math.pi)),
          "line": ((-3.0, 3.0), (-3.0, 3.0)),
          "quadratic": ((-0.2, 0.2), (-2.0, 2.0), (-3.0, 3.0)),
          "cubic": ((-0.1, 0.1), (-0.2, 0.2), (-2.0, 2.0), (-3.0, 3.0))}


class FunctionParams(NamedTuple):
    family: tf.Tensor        # [N] int32, an index into FAMILIES
    coefficients: tf.Tensor  # [N, 4]: the family's coefficients, zero-padded


class FunctionTasks(SinusoidTasks):
    """Samples heterogeneous regression tasks as :class:`tfmeta.types.Task` meta-batches.

    Args:
      shots: K, support points per task.
      query: query points per task (default K).
      seed: int seed; training and evaluation should use different seeds.
      families: the family indices to draw from (default all four).
      dtype: of x and y.
    """

    def __init__(self, shots: int, query: int | None = None, seed: int = 0,
                 families: tuple = (0, 1, 2, 3),
                 dtype: tf.DType = tf.float32):
        super().__init__(shots, query, seed, dtype)
        families = tuple(families)
        if not families or any(f not in range(len(FAMILIES)) for f in families):
            raise ValueError(f"families must be indices into {FAMILIES}, got {families!r}")
        self.families = families

    def curves(self, step, num_tasks: int) -> FunctionParams:
        """Families and coefficients of the ``num_tasks`` tasks of ``step``."""
        seed = self._seed(step, 0)
        pick = tf.random.stateless_uniform([num_tasks], seed, 0, len(self.families), tf.int32)
        family = tf.gather(tf.constant(self.families, tf.int32), pick)
        unit = tf.random.stateless_uniform(
            [num_tasks, 4], tf.random.experimental.stateless_fold_in(seed, 1), dtype=self.dtype)
        low = tf.constant([[r[0] for r in RANGES[f]] + [0.0] * (4 - len(RANGES[f]))
                           for f in FAMILIES], self.dtype)
        high = tf.constant([[r[1] for r in RANGES[f]] + [0.0] * (4 - len(RANGES[f]))
                            for f in FAMILIES], self.dtype)
        coefficients = tf.gather(low, family) + unit * tf.gather(high - low, family)
        return FunctionParams(family, coefficients)

    def evaluate(self, curves: FunctionParams, x: tf.Tensor) -> tf.Tensor:
        """``y`` of each task's function at ``x`` ([N, ..., 1])."""
        shape = [-1] + [1] * (x.shape.rank - 1)
        c = [tf.reshape(curves.coefficients[:, i], shape) for i in range(4)]
        family = tf.reshape(curves.family, shape)
        values = [c[0] * tf.sin(c[1] * x) + c[2],
                  c[0] * x + c[1],
                  (c[0] * x + c[1]) * x + c[2],
                  ((c[0] * x + c[1]) * x + c[2]) * x + c[3]]
        y = tf.zeros_like(x)
        for i, v in enumerate(values):
            y = tf.where(tf.equal(family, i), v, y)
        return y
