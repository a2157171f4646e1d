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

    Args:
      epsilon: added to the variance (1e-3, as MAML's ``batch_norm``).
      center: learn ``beta``; scale: learn ``gamma``.
    """

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"BatchStatNorm {self.name!r} needs a known last axis, got "
                             f"{input_shape}")
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma",
                                     trainable=True) if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta",
                                    trainable=True) if self.center else None

    def call(self, x):
        axes = list(range(len(x.shape) - 1))
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        # squared_difference differentiates through both arguments (tf.nn.moments stops the
        # gradient at the mean); three full-size ops in all, as tf.nn.batch_normalization.
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=axes, keepdims=True)
        scale = tf.math.rsqrt(variance + tf.cast(self.epsilon, x.dtype))   # [1, .., 1, C]
        if self.gamma is not None:
            scale = scale * tf.cast(self.gamma, x.dtype)
        shift = -mean * scale
        if self.beta is not None:
            shift = shift + tf.cast(self.beta, x.dtype)
        return x * scale + shift

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon, center=self.center,
                    scale=self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape
