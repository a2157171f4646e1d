"""What every model of the front door shares: the wrapped Keras model, and Keras's compile machinery.

* the wrapped model (``WRAPPED``: the backbone or the embedding) is what
  ``call`` runs and what ``from_config`` deserializes;
* ``.keras`` loading: Keras restores a subclass's compile settings only through
  ``compile_from_config`` when ``compile`` is overridden (ours builds the
  engine); the optimizer is built there in the engine's variable order, which
  is also the order it was saved in;
* the compiled loss and metrics are built at ``compile`` for labels ``[B]`` and
  outputs ``[B, N]``: under a ``tf.distribute`` strategy Keras would otherwise
  build them from a symbolic batch, and a batch here is a meta-batch of episodes;
* the gradient learners' engine holder and their compiled loss applied per example.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


class FrontDoor:
    """Mixin of a ``keras.Model`` that wraps the model named ``WRAPPED`` and whose ``compile``
    builds its learner."""

    WRAPPED = "backbone"

    def call(self, inputs, training: bool = False):
        return getattr(self, self.WRAPPED)(inputs, training=training)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config[cls.WRAPPED] = keras.saving.deserialize_keras_object(
            config[cls.WRAPPED], custom_objects=custom_objects)
        return cls(**config)

    def compile_from_config(self, config: dict) -> None:
        self.compile(**keras.saving.deserialize_keras_object(config))

    def build_compiled(self, classes: int, dtype="float32") -> None:
        """Creates the compiled loss's and metrics' state now, for ``classes`` outputs."""
        labels = tf.zeros([1], tf.int32)
        outputs = tf.zeros([1, classes], dtype)
        with self.distribute_strategy.scope():
            if getattr(self, "loss", None) is not None:
                self.compute_loss(y=labels, y_pred=outputs, training=False)
            self.compute_metrics(None, labels, outputs, None)
        self.reset_metrics()

    def _update_metrics(self, loss, labels, logits) -> None:
        """The compiled metrics on one step: ``loss`` to the one named "loss", ``(labels,
        logits)`` (flattened to one row per query) to every other."""
        labels = tf.reshape(labels, [-1])
        logits = tf.reshape(logits, [tf.shape(labels)[0], -1])
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(labels, logits)


class Engine:
    """Untracked holder of the Python objects behind the model (Keras tracks attributes)."""

    def __init__(self, inner):
        self.inner, self.loss, self.learner = inner, None, None


class MetricEngine:
    """Untracked holder of a metric front door's nets and learner (ProtoNet, Baseline)."""

    def __init__(self, nets):
        self.nets, self.learner = nets, None


def per_example(loss: Any):
    """``(labels, outputs) -> [batch]`` losses of a compiled ``loss`` (name, function or Loss)."""
    loss = keras.losses.get(loss)
    return loss.call if isinstance(loss, keras.losses.Loss) else loss
