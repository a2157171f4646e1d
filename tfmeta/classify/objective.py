"""Few-shot classification objectives: softmax cross-entropy of one player, and accuracy.

A classification task's batches are ``(images, labels)`` pairs with labels in
``0..N-1`` (an episode's support or query set, see
:class:`tfmeta.data.samplers.Episode`). The objective evaluates the classifier
at the given parameters with ``training=True``: BatchNorm normalizes with the
statistics of the batch itself (transductive, as in MAML and MAML++; see
:mod:`tfmeta.nets.conv4`), and nothing is assigned, so the objective runs under
nested tapes and inside ``tf.function``.

Example:
    >>> model = build_conv4(ways=5)
    >>> objective = classification_objective(model)
    >>> learner = MetaLearner({"model": model.trainable_variables}, objective,
    ...                       inner.sgd(0.4), lambda: keras.optimizers.Adam(1e-3), steps=1)
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfmeta import functional

PLAYER = "model"


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Mean softmax cross-entropy of integer ``labels`` under ``logits``."""
    labels = tf.cast(labels, tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def accuracy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Fraction of rows whose arg-max logit is the label (float32 scalar)."""
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32))


def takes_step(model: keras.Model) -> bool:
    """Whether ``model`` takes ``[images, step]`` (Conv-4 with MAML++'s per-step batch norm)."""
    return len(model.inputs) == 2


def logits_of(model: keras.Model, params: Any, images: tf.Tensor, step: Any = None) -> tf.Tensor:
    """``model``'s logits on ``images`` at ``params`` (a list, or ``{"model": list}``).

    For a model with per-step batch norm, ``step`` picks the normalization row:
    the inner step being taken, or the number of steps taken when scoring; None
    takes the last row (queries are scored after all the trained inner steps).
    """
    if isinstance(params, dict):
        params = params[PLAYER]
    images = tf.cast(images, model.inputs[0].dtype)
    if takes_step(model):
        step = tf.int32.max if step is None else step
        images = [images, tf.fill(tf.shape(images)[:1], tf.cast(step, tf.int32))]
    return functional.apply(model, params, images, training=True)


def classification_objective(model: keras.Model, *, player: str = PLAYER):
    """``(params, (images, labels), seed) -> {player: cross-entropy}`` for ``model``.

    Args:
      model: a built classifier taking images to logits (e.g. Conv-4).
      player: the name of its parameter set in the learner.

    The seed is unused (the loss has no random draws). With a per-step batch
    norm model the engine passes ``step=`` (see
    :func:`tfmeta.algorithms.step.call_objective`).
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"model must be a built keras.Model, got {model!r}")

    def objective(params, batch, seed, step=None):
        del seed
        images, labels = batch
        logits = logits_of(model, params[player], images, step)
        return {player: cross_entropy(logits, labels)}

    objective.model = model
    objective.takes_step = takes_step(model)   # the engine passes step= (per-step batch norm)
    objective.player = player
    return objective
