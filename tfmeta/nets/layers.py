"""Layers whose derivatives of every order are exact: batch-statistics normalization.

Second-order MAML differentiates the inner gradient, so a layer's second
derivatives must be right, not only its first. Keras' ``BatchNormalization``
(TensorFlow backend) computes the variance with ``tf.nn.moments``, which puts
``tf.stop_gradient`` on the mean inside the variance: harmless for the first
derivative (the variance's derivative with respect to the mean is zero at the
mean) but wrong for the second. Measured on Conv-4 in float64: the
second-order meta-gradient's directional derivative was 3.92 where central
finite differences gave 2.81 (tests/tfmeta/classify/conv4_maml_test.py checks
the layer below against finite differences).

:class:`BatchStatNorm` normalizes with the statistics of the batch it is given,
always (training or not), which is the transductive batch norm of MAML and
MAML++; it keeps no moving averages, so a network built with it is fully
described by its trainable tensors, in training, evaluation and export alike.

Example:
    >>> h = BatchStatNorm(epsilon=1e-3, name="bn0")(h)
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfmeta")
class BatchStatNorm(keras.layers.Layer):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` over every axis but the last.

    ``mean`` and ``var`` are the batch's own (biased variance, as batch norm
    uses), computed as ``mean((x - mean)^2)`` with the gradient flowing through
    both, so derivatives of any order are exact. TensorFlow ops (the project's
    backend), computed as ``x * scale + shift`` with per-channel factors.

    With ``rows > 0`` (MAML++'s per-step batch norm weights and biases) ``gamma``
    and ``beta`` are ``[rows, C]`` tables and the layer is called as
    ``layer(x, step)``: ``step`` (an int32 tensor whose first entry counts) picks
    the row, clamped to ``0 .. rows - 1``.

    Args:
      epsilon: added to the variance (1e-3, as MAML's ``batch_norm``).
      center: learn ``beta``; scale: learn ``gamma``.
      rows: 0 for one ``gamma``/``beta``, else the number of per-step rows.
    """

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rows: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"BatchStatNorm rows must be an int >= 0, got {rows!r}")
        self.rows = rows

    def build(self, x_shape, step_shape=None):
        channels = x_shape[-1]
        if channels is None:
            raise ValueError(f"BatchStatNorm {self.name!r} needs a known last axis, got "
                             f"{x_shape}")
        shape = (self.rows, channels) if self.rows else (channels,)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma",
                                     trainable=True) if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta",
                                    trainable=True) if self.center else None

    def _row(self, table, step):
        """Row ``step`` of a per-step table (a one-hot product: dense gradients)."""
        if not self.rows:
            return table
        index = tf.clip_by_value(tf.cast(tf.reshape(step, [-1])[0], tf.int32), 0, self.rows - 1)
        return tf.linalg.matvec(table, tf.one_hot(index, self.rows, dtype=table.dtype),
                                transpose_a=True)

    def call(self, x, step=None):
        if self.rows and step is None:
            raise ValueError(f"BatchStatNorm {self.name!r} has per-step rows; call it as "
                             "layer(x, step)")
        axes = list(range(len(x.shape) - 1))
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        # squared_difference differentiates through both arguments (tf.nn.moments stops the
        # gradient at the mean); three full-size ops in all, as tf.nn.batch_normalization.
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=axes, keepdims=True)
        scale = tf.math.rsqrt(variance + tf.cast(self.epsilon, x.dtype))   # [1, .., 1, C]
        if self.gamma is not None:
            scale = scale * tf.cast(self._row(self.gamma, step), x.dtype)
        shift = -mean * scale
        if self.beta is not None:
            shift = shift + tf.cast(self._row(self.beta, step), x.dtype)
        return x * scale + shift

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon, center=self.center,
                    scale=self.scale, rows=self.rows)

    def compute_output_shape(self, x_shape, step_shape=None):
        return x_shape
