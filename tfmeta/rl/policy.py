"""A Gaussian MLP policy as a Keras model, applied at plain-tensor (fast) weights.

The model maps observations to ``concat([mean, log_std])``: hidden Dense layers
(the paper: two of 100, ReLU), a linear mean, and a state-independent
``log_std`` vector held by :class:`GaussianHead` (initial std 1, as rllab's
``GaussianMLPPolicy``). Its trainable variables are the policy's parameters;
:func:`distribution` runs it through ``model.stateless_call`` at any parameters
(:func:`tfmeta.functional.apply`), so adapted policies are plain tensors.

Example:
    >>> model = build_policy(2, 2)
    >>> mean, log_std = distribution(model, functional.params_of(model), tf.zeros([5, 2]))
    >>> log_prob(mean, log_std, tf.zeros([5, 2])).shape
    TensorShape([5])
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import tensorflow as tf

from tfmeta import checks, functional

ACTIVATIONS = ("relu", "tanh")


class GaussianHead(keras.layers.Layer):
    """Appends a learned, state-independent ``log_std`` to the mean: ``[.., 2 * act_dim]``."""

    def __init__(self, init_std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init_std = float(init_std)

    def build(self, input_shape):
        self.log_std = self.add_weight(
            shape=(input_shape[-1],), name="log_std",
            initializer=keras.initializers.Constant(math.log(self.init_std)))

    def call(self, mean):
        return keras.ops.concatenate(
            [mean, keras.ops.broadcast_to(self.log_std, keras.ops.shape(mean))], axis=-1)

    def get_config(self):
        return {**super().get_config(), "init_std": self.init_std}


def build_policy(observation_dim: int, action_dim: int, hidden: Sequence[int] = (100, 100),
                 activation: str = "relu", init_std: float = 1.0, seed: int = 0,
                 dtype: str = "float32") -> keras.Model:
    """The MAML paper's policy: observation -> hidden layers -> Gaussian over actions."""
    checks.one_of("activation", activation, ACTIVATIONS)
    checks.positive("init_std", init_std)
    for width in hidden:
        checks.count("hidden", width)
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((observation_dim,), dtype=dtype)]
    layers += [keras.layers.Dense(h, activation=activation, dtype=dtype) for h in hidden]
    layers += [keras.layers.Dense(action_dim, dtype=dtype), GaussianHead(init_std, dtype=dtype)]
    return keras.Sequential(layers, name="policy")


def distribution(model: keras.Model, params: Sequence[tf.Tensor], observations: tf.Tensor):
    """``(mean, log_std)`` of the policy at ``params`` for ``observations [..., obs_dim]``."""
    shape = tf.shape(observations)
    flat = tf.reshape(observations, [-1, shape[-1]])
    out = functional.apply(model, params, flat)
    out = tf.reshape(out, tf.concat([shape[:-1], [-1]], axis=0))
    mean, log_std = tf.split(out, 2, axis=-1)
    return mean, log_std


def log_prob(mean: tf.Tensor, log_std: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """Log-density of ``actions`` under the diagonal Gaussian, summed over the last axis."""
    z = (actions - mean) * tf.exp(-log_std)
    return tf.reduce_sum(-0.5 * tf.square(z) - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


def kl_divergence(mean0, log_std0, mean1, log_std1) -> tf.Tensor:
    """KL(p0 || p1) of diagonal Gaussians, summed over the last axis."""
    var0, var1 = tf.exp(2 * log_std0), tf.exp(2 * log_std1)
    return tf.reduce_sum(log_std1 - log_std0 + (var0 + tf.square(mean0 - mean1)) / (2 * var1)
                         - 0.5, axis=-1)
