"""Tiny real objectives and learners for engine tests.

A smooth two-player GAN, a regressor and a classifier (optionally with
BatchNorm) are small enough for float64 finite differences, yet exercise
everything the engine does with a real GAN: two Keras models, coupled losses,
latents drawn from the objective's seed. :class:`SupervisedLearner` is the
smallest learner without an inner loop (a ``tfmeta.types.Learner``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfmeta import functional
from tfmeta.types import Reused, Task

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


def real_gan(loss: str, seed: int = 0, **objective_kwargs):
    """``(models, objective)``: a float64 dense GAN on R^3 (tanh / softplus: smooth) with the
    library's own objective, ``tfmeta.gan.gan_objective(g, d, loss=loss, gp_weight=1.0,
    **objective_kwargs)``."""
    from tfmeta.gan import gan_objective
    keras.utils.set_random_seed(seed)
    f64 = "float64"
    g = keras.Sequential([keras.Input((LATENT,), dtype=f64),
                          keras.layers.Dense(4, activation="tanh", dtype=f64),
                          keras.layers.Dense(FEATURES, activation="tanh", dtype=f64)])
    d = keras.Sequential([keras.Input((FEATURES,), dtype=f64),
                          keras.layers.Dense(4, activation="softplus", dtype=f64),
                          keras.layers.Dense(1, dtype=f64)])
    models = {"generator": g, "discriminator": d}
    return models, gan_objective(g, d, loss=loss, gp_weight=1.0, **objective_kwargs)


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


def assert_matches_finite_differences(models, grads, loss_of, player: str, *, h: float = 1e-6,
                                      label: str = "", seed: int = 0):
    """Checks ``grads[player]`` (one per trainable variable of ``models[player]``) against
    central finite differences of ``loss_of()`` (a float, read at the variables' current
    values) along one random direction per variable, to rtol 1e-5."""
    rng = np.random.default_rng(seed)
    for i, variable in enumerate(models[player].trainable_variables):
        direction = rng.standard_normal(variable.shape)
        analytic = float(np.sum(grads[player][i].numpy() * direction))
        base = variable.numpy().copy()
        values = []
        for sign in (1.0, -1.0):
            variable.assign(base + sign * h * direction)
            values.append(float(loss_of()))
        variable.assign(base)
        np.testing.assert_allclose(analytic, (values[0] - values[1]) / (2 * h), rtol=1e-5,
                                   atol=1e-9, err_msg=f"{label} {player} tensor {i}")


def toy_classifier(ways: int = 3, features: int = FEATURES, dtype: str = "float64",
                   seed: int = 0, batch_norm: bool = False):
    """Returns ``(models, objective)``: one player ``model``, cross-entropy on (x, labels).

    With ``batch_norm`` a BatchNormalization layer normalizes with the statistics
    of each batch (``training=True``, transductive, as in the original MAML).
    """
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((features,), dtype=dtype),
              keras.layers.Dense(6, activation="tanh", dtype=dtype)]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(dtype=dtype))
    m = keras.Sequential(layers + [keras.layers.Dense(ways, dtype=dtype)], name="model")

    def objective(params, batch, seed):
        del seed
        x, labels = batch
        logits = functional.apply(m, params["model"], x, training=True)
        return {"model": tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))}

    return {"model": m}, objective


def classification_batch(ways: int = 3, per_class: int = 2, seed: int = 1,
                         features: int = FEATURES, dtype=tf.float64):
    """``(x [ways * per_class, features], labels)``: class i is centred at a random point."""
    centers = tf.random.stateless_normal([ways, features], [seed, 0], dtype=dtype)
    labels = tf.repeat(tf.range(ways, dtype=tf.int32), per_class)
    x = tf.gather(centers, labels) + 0.5 * tf.random.stateless_normal(
        [ways * per_class, features], [seed, 1], dtype=dtype)
    return x, labels


def reused_and_copied(inner, val, seed, steps: int):
    """The same task twice: ``Reused`` batches, and each batch copied ``steps`` times."""
    copy = lambda batch: tf.nest.map_structure(  # noqa: E731
        lambda t: tf.stack([t] * max(steps, 1)), batch)
    seed = tf.constant(seed, tf.int32)
    return (Task(inner=Reused(inner), val=Reused(val), seed=seed),
            Task(inner=copy(inner), val=copy(val), seed=seed))


class SupervisedLearner(tf.Module):
    """A learner without an inner loop: one optimizer step on a batch ``(x, y)``.

    A ``tfmeta.types.Learner``: ``step``, ``train_step(batch) -> {"loss": ...}``,
    ``learning_rates()``. Checkpoint it with ``tf.train.Checkpoint(learner=...)``
    (it tracks its model, optimizer and step).
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 loss=None, name: str | None = None):
        super().__init__(name=name)
        self.model, self.optimizer = model, optimizer
        self.loss = loss or (lambda y, pred: tf.reduce_mean(tf.square(pred - y)))
        self.optimizer.build(model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._update = tf.function(self.update)

    def update(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            loss = self.loss(y, self.model(x, training=True))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        self.step.assign_add(1)
        return {"loss": loss}

    def train_step(self, batch) -> dict[str, tf.Tensor]:
        return self._update(batch)

    def learning_rates(self) -> dict[str, float]:
        return {"model": float(self.optimizer.learning_rate)}
