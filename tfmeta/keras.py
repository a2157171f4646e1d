"""``tfmeta.keras``: meta-learning through Keras's own ``compile``, ``fit`` and ``evaluate``.

``MAML`` wraps any Keras classifier (Sequential or functional, logits out) as a
``keras.Model`` whose ``train_step`` is one meta-update of the engine the
trainers use (:class:`tfmeta.algorithms.MetaLearner`'s meta-gradient, applied
by the compiled optimizer) and whose ``test_step`` adapts to each episode's
support set and scores its queries. The data are meta-batches of episodes,
``tfmeta.types.Task`` (:meth:`tfmeta.data.EpisodeSampler.meta_batch`), as a
``tf.data.Dataset`` (:func:`episodes`).

Example:
    >>> meta = MAML(backbone, inner_steps=1, inner_learning_rate=0.4)
    >>> meta.compile(optimizer=keras.optimizers.Adam(1e-3),
    ...              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...              metrics=["accuracy"])
    >>> meta.fit(episodes(sampler, meta_batches=100), epochs=1)
    >>> meta.evaluate(episodes(test_sampler, meta_batches=10))
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.algorithms import adapt as adapt_steps
from tfmeta.types import Reused, Task, task_at

PLAYER = "model"


def episodes(sampler, meta_batches: int | None = None, start: int = 0) -> tf.data.Dataset:
    """Meta-batches ``sampler.meta_batch(step)`` for steps ``start, start + 1, ...``.

    ``meta_batches`` None: an endless dataset (give ``fit`` its ``steps_per_epoch``).
    """
    steps = tf.data.Dataset.range(start, start + meta_batches) if meta_batches is not None \
        else tf.data.Dataset.range(start, tf.int64.max)
    return steps.map(sampler.meta_batch).prefetch(tf.data.AUTOTUNE)


class MAML(keras.Model):
    """Model-agnostic meta-learning of a Keras classifier's initialization.

    Args:
      backbone: a Keras model mapping images to class logits (its trainable
        variables are the meta-learned initialization).
      inner_steps: k, SGD steps on the support set.
      inner_learning_rate: the inner SGD rate.
      first_order: FOMAML (the inner gradients are not differentiated).
      step_weights: ``"final"`` (the query loss after k steps, as MAML) or
        ``"uniform"`` / ``"annealed"`` (MAML++'s multi-step loss).

    ``compile(optimizer, loss, metrics)``: ``loss`` scores a batch's logits
    (e.g. ``SparseCategoricalCrossentropy(from_logits=True)``); it is both the
    inner loss on the support set and the meta-loss on the queries; ``metrics``
    score the queries after adaptation in ``evaluate``.
    """

    def __init__(self, backbone: keras.Model, inner_steps: int = 1,
                 inner_learning_rate: float = 0.4, first_order: bool = False,
                 step_weights: str = "final", **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.inner_steps = int(inner_steps)
        self.inner_learning_rate = float(inner_learning_rate)
        self.first_order = bool(first_order)
        self.step_weights = step_weights
        self._meta_loss = None
        self._learner = None

    def call(self, inputs, training: bool = False):
        return self.backbone(inputs, training=training)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        if loss is None:
            raise ValueError("MAML.compile needs loss=..., e.g. keras.losses."
                             "SparseCategoricalCrossentropy(from_logits=True)")
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self._meta_loss = keras.losses.get(loss)
        self._learner = None

    def inner_optimizer(self):
        """The differentiable inner optimizer (SGD at ``inner_learning_rate``)."""
        return inner_lib.sgd(self.inner_learning_rate)

    def objective(self, params: dict, batch: Any, seed) -> dict:
        """``{"model": loss}`` of the backbone at ``params`` on ``(images, labels)``."""
        del seed
        images, labels = batch
        logits = functional.apply(self.backbone, params[PLAYER], images, training=True)
        loss = self._meta_loss(labels, logits)
        return {PLAYER: tf.reduce_mean(loss)}

    def learner(self) -> MetaLearner:
        """The engine: a MetaLearner over the backbone that steps with the compiled optimizer."""
        if self._meta_loss is None:
            raise ValueError("call compile(optimizer, loss, ...) before fit or evaluate")
        if self._learner is None:
            self._learner = MetaLearner(
                {PLAYER: self.backbone.trainable_variables}, self.objective,
                self.inner_optimizer(), outer={PLAYER: self.optimizer},
                algorithm="fomaml" if self.first_order else "maml", steps=self.inner_steps,
                step_weights=self.step_weights)
        return self._learner

    def train_step(self, data: Task):
        learner = self.learner()
        grads, metrics = learner.compute_gradients(data)
        # the compiled metrics of the queries after adaptation from the initialization that
        # the meta-gradient was taken at (one more first-order pass of the inner loop)
        with tf.control_dependencies(tf.nest.flatten(grads)):
            self._score(data, loss=False)
        learner.apply_gradients(grads, metrics)
        for metric in self.metrics:
            if metric.name == "loss":   # the meta-loss: the queries' loss after adaptation
                metric.update_state(metrics[f"meta_loss/{PLAYER}"])
        return self.get_metrics_result()

    def adapted_params(self, support_images, support_labels, steps: int | None = None) -> list:
        """The backbone's parameters after ``steps`` (default k) inner steps on a support set."""
        steps = self.inner_steps if steps is None else steps
        start = {PLAYER: [tf.convert_to_tensor(v) for v in self.backbone.trainable_variables]}
        trajectory = adapt_steps(self.objective, start, Reused((support_images, support_labels)),
                                 self.inner_optimizer(), steps=steps,
                                 seed=tf.zeros([2], tf.int32))
        return trajectory[-1][PLAYER]

    def test_step(self, data: Task):
        if self._meta_loss is None:
            raise ValueError("call compile(optimizer, loss, ...) before evaluate")
        self._score(data, loss=True)
        return self.get_metrics_result()

    def _score(self, data: Task, loss: bool) -> None:
        """Adapts to each episode's support set and updates the metrics on its queries."""
        count = int(data.seed.shape[0])
        for i in range(count):   # the episodes of the meta-batch, each adapted on its own
            task = task_at(data, i)
            (support_images, support_labels), (query_images, query_labels) = (
                task.inner.batch, task.val.batch)
            params = self.adapted_params(support_images, support_labels)
            logits = functional.apply(self.backbone, params, query_images, training=True)
            for metric in self.metrics:
                if metric.name != "loss":
                    metric.update_state(query_labels, logits)
                elif loss:
                    metric.update_state(tf.reduce_mean(self._meta_loss(query_labels, logits)))
