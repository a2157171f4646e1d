"""``MetricLearner``: trains a metric learner's nets on batches of episodes.

A :class:`tfmeta.types.Learner` for :func:`tfmeta.training.meta_train`: one
update embeds the support and query images of every episode of the batch in
one forward pass (``training=True``: batch norm uses the batch's statistics
and updates its moving averages), computes the episodes' loss
(:func:`tfmeta.metric.episodes.episode_loss`, mean over episodes) and takes one
step of the optimizer on every trainable variable of the nets. A non-finite
loss or gradient raises ``InvalidArgumentError`` and changes nothing (the
moving averages the forward pass updated are put back).

Example:
    >>> learner = MetricLearner(nets, ways=60, optimizer=keras.optimizers.Adam(1e-3))
    >>> learner.train_step(sampler.meta_batch(step))
    {'loss': <tf.Tensor ...>, 'accuracy': <tf.Tensor ...>}
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfmeta.distribute import keras_replica_share
from tfmeta.metric.episodes import MetricNets, check_method, embed, episode_loss, support_state
from tfmeta.types import Task

PLAYER = "model"


def apply_if_finite(optimizer, pairs: list, loss: tf.Tensor, moving: list, kept: list,
                    after=None) -> None:
    """Applies the ``(gradient, variable)`` ``pairs`` (then calls ``after``) when ``loss`` and
    every gradient are finite; otherwise restores the ``moving`` variables (batch-norm
    averages) to their values ``kept`` before the forward pass, and the in-graph check
    fails: nothing is updated."""
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(loss))]
                           + [tf.reduce_all(tf.math.is_finite(g)) for g, _ in pairs])

    def restore():
        with tf.control_dependencies([v.assign(k) for v, k in zip(moving, kept)]):
            return tf.constant(False)

    ok = tf.cond(finite, lambda: tf.constant(True), restore)
    with tf.control_dependencies([tf.debugging.Assert(ok, [
            "non-finite loss or gradient; nothing was updated"])]):
        optimizer.apply_gradients(pairs)
        if after is not None:
            after()


class MetricLearner(tf.Module):
    """Owns a metric learner's optimizer and step; its nets are ``nets``.

    Args:
      nets: the embedding and head (:class:`MetricNets`).
      ways: N of the training episodes (Prototypical networks train with more
        ways than they test with).
      optimizer: a Keras optimizer (its schedule is read at its own iteration).
      step: the update counter (default: a new int64 variable that each update
        advances; a counter passed in is advanced by its owner, as the Keras
        front door's optimizer ``iterations``).

    In a Keras ``train_step`` under a strategy each replica's gradients are
    scaled for the optimizer's sum across replicas
    (:func:`tfmeta.distribute.keras_replica_share`).
    """

    def __init__(self, nets: MetricNets, ways: int, optimizer: keras.optimizers.Optimizer,
                 step: Any = None, name: str | None = None):
        super().__init__(name=name)
        check_method(nets.method)
        self.nets, self.ways = nets, int(ways)
        self.optimizer = optimizer
        self.trainable = nets.trainable_variables
        self.moving = [v for v in nets.variables if not v.trainable]   # batch norm averages
        self.optimizer.build(self.trainable)
        self._owns_step = step is None
        self.step = (tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_step")
                     if step is None else step)
        self._train = tf.function(lambda tasks: self.update(tasks)[0], reduce_retracing=True)

    def loss(self, tasks: Task, training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loss, accuracy)`` of a stacked batch of episodes (``Task`` of Reused batches)."""
        return self.loss_and_logits(tasks, training)[:2]

    def loss_and_logits(self, tasks: Task, training: bool = True, ways=None) -> tuple:
        """``(loss, accuracy, logits [E, Q, N])`` of a stacked batch of episodes of ``ways``
        classes (default: the training ways; may be a tensor)."""
        ways = self.ways if ways is None else ways
        (sx, sy), (qx, qy) = tasks.inner.batch, tasks.val.batch
        shots = tf.shape(sx)[1]
        embeddings = embed(self.nets, tf.concat([sx, qx], axis=1), training=training)
        state = support_state(self.nets, embeddings[:, :shots], sy, ways, training)
        loss, logits = episode_loss(self.nets, state, embeddings[:, shots:], qy, ways, training)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted, tf.cast(qy, tf.int32)),
                                          tf.float32))
        return loss, accuracy, logits

    def update(self, tasks: Task) -> tuple[dict, tf.Tensor]:
        """One update (in a ``tf.function``): ``(metrics, query logits [E, Q, N])``."""
        # Batch norm's moving averages change in the forward pass: kept to be put back if the
        # update is refused, so that a refused update changes nothing.
        kept = [tf.identity(v) for v in self.moving]
        with tf.GradientTape() as tape:
            loss, accuracy, logits = self.loss_and_logits(tasks, training=True)
        grads = tape.gradient(loss, self.trainable)
        pairs = [(g, v) for g, v in zip(grads, self.trainable) if g is not None]
        shares, (loss, accuracy) = keras_replica_share([g for g, _ in pairs], (loss, accuracy))
        pairs = list(zip(shares, [v for _, v in pairs]))
        apply_if_finite(self.optimizer, pairs, loss, self.moving, kept,
                        after=(lambda: self.step.assign_add(1)) if self._owns_step else None)
        return {f"meta_loss/{PLAYER}": loss, "accuracy": accuracy,
                f"grad_norm/{PLAYER}": tf.linalg.global_norm([g for g, _ in pairs])}, logits

    def train_step(self, tasks: Task) -> dict[str, tf.Tensor]:
        """One update on a stacked batch of episodes; returns the metrics."""
        return self._train(tasks)

    def learning_rates(self) -> dict[str, float]:
        return {PLAYER: float(self.optimizer.learning_rate)}
