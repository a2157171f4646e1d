"""Tiny real objectives for engine tests: a smooth two-player GAN and a regressor.

They are small enough for float64 finite differences, yet exercise everything the
engine does with a real GAN: two Keras models, coupled losses, latents drawn from
the objective's seed.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmeta import functional
from tfmeta.types import Task

LATENT, FEATURES = 2, 3


def toy_gan(dtype: str = "float64", seed: int = 0):
    """Returns ``(models, objective)`` for a smooth two-player GAN on R^3."""
    keras.utils.set_random_seed(seed)
    g = keras.Sequential([keras.Input((LATENT,), dtype=dtype),
                          keras.layers.Dense(4, activation="tanh", dtype=dtype),
                          keras.layers.Dense(FEATURES, dtype=dtype)], name="generator")
    d = keras.Sequential([keras.Input((FEATURES,), dtype=dtype),
                          keras.layers.Dense(4, activation="tanh", dtype=dtype),
                          keras.layers.Dense(1, dtype=dtype)], name="discriminator")

    def objective(params, batch, seed):
        z = tf.random.stateless_normal([tf.shape(batch)[0], LATENT], seed, dtype=batch.dtype)
        fake = functional.apply(g, params["generator"], z)
        d_fake = functional.apply(d, params["discriminator"], fake)
        d_real = functional.apply(d, params["discriminator"], batch)
        return {"discriminator": tf.reduce_mean(d_fake) - tf.reduce_mean(d_real)
                + 0.1 * tf.reduce_mean(tf.square(d_real)),
                "generator": -tf.reduce_mean(d_fake)}

    return {"generator": g, "discriminator": d}, objective


def toy_regressor(dtype: str = "float64", seed: int = 0, features: int = FEATURES):
    """Returns ``(models, objective)``: one player ``model``, MSE on (x, y) batches."""
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((features,), dtype=dtype),
                          keras.layers.Dense(5, activation="tanh", dtype=dtype),
                          keras.layers.Dense(1, dtype=dtype)], name="model")

    def objective(params, batch, seed):
        del seed
        x, y = batch
        pred = functional.apply(m, params["model"], x)
        return {"model": tf.reduce_mean(tf.square(pred - y))}

    return {"model": m}, objective


def gan_task(steps: int, batch: int = 5, seed: int = 1, dtype=tf.float64) -> Task:
    """A fixed task of real-looking data: points around (1, -1, 0.5)."""
    n = max(steps, 1)
    center = tf.constant([1.0, -1.0, 0.5], dtype)
    inner = center + 0.3 * tf.random.stateless_normal([n, batch, FEATURES], [seed, 1], dtype=dtype)
    val = center + 0.3 * tf.random.stateless_normal([n, batch, FEATURES], [seed, 2], dtype=dtype)
    return Task(inner=inner, val=val, seed=tf.constant([seed, 7], tf.int32))


def regression_task(steps: int, batch: int = 6, seed: int = 1, dtype=tf.float64,
                    features: int = FEATURES) -> Task:
    n = max(steps, 1)
    w = tf.random.stateless_normal([features, 1], [seed, 0], dtype=dtype)

    def draw(s):
        x = tf.random.stateless_normal([n, batch, features], [seed, s], dtype=dtype)
        return x, tf.matmul(x, w)

    return Task(inner=draw(1), val=draw(2), seed=tf.constant([seed, 3], tf.int32))


def variables(models):
    return {p: list(m.trainable_variables) for p, m in models.items()}
