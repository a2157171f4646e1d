"""Prototypical networks (Snell et al. 2017) as a Keras model over the trainer's engine.

``train_step`` is :meth:`tfmeta.metric.MetricLearner.update` (one forward pass
of every episode's support and query images with ``training=True``, the
episodes' cross-entropy of minus squared distances to the class means, one
step of the compiled optimizer); ``test_step`` embeds with BatchNorm's moving
averages (``training=False``), as the trainer's evaluation and export do, and
scores each episode's queries against its prototypes. Evaluation episodes may
have any number of ways (read from their support labels).

Example:
    >>> proto = ProtoNet(embedding, ways=20)          # 20-way training episodes
    >>> proto.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    >>> proto.fit(episodes(sampler, start=proto.optimizer.iterations), epochs=5,
    ...           steps_per_epoch=100)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmeta import checks
from tfmeta.keras import exporting
from tfmeta.keras.base import FrontDoor, MetricEngine
from tfmeta.metric import MetricLearner, MetricNets
from tfmeta.metric.episodes import embed, query_logits, support_state
from tfmeta.types import Task


class PrototypeScores(keras.layers.Layer):
    """Embeddings ``[Q, D]`` -> logits ``[Q, N]``: minus squared distances to fixed prototypes."""

    def __init__(self, prototypes, **kwargs):
        super().__init__(**kwargs)
        prototypes = tf.convert_to_tensor(prototypes)
        self.prototypes = self.add_weight(shape=prototypes.shape, trainable=False,
                                          initializer="zeros", dtype=prototypes.dtype,
                                          name="prototypes")
        self.prototypes.assign(prototypes)

    def call(self, embeddings):
        return query_logits(MetricNets("protonet", None), {"prototypes": self.prototypes[None]},
                            embeddings[None])[0]


@keras.saving.register_keras_serializable(package="tfmeta")
class ProtoNet(FrontDoor, keras.Model):
    """A prototypical network over ``embedding`` (images ``[B, H, W, C]`` -> ``[B, D]``).

    Args:
      embedding: a built Keras model (Sequential or functional).
      ways: N of the training episodes (the classes a training episode's
        labels ``0..N-1`` take); also the ways of :meth:`export`'s default.
    """

    WRAPPED = "embedding"

    def __init__(self, embedding: keras.Model, ways: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(embedding, keras.Model) or not embedding.built:
            raise ValueError(f"embedding must be a built keras.Model (give it an Input or call "
                             f"it once), got {embedding!r}")
        self.embedding = embedding
        self.ways = checks.count("ways", ways, minimum=2)
        self._engine = MetricEngine(MetricNets("protonet", embedding))
        self.built = True

    def get_config(self) -> dict:
        return dict(super().get_config(), ways=self.ways,
                    embedding=keras.saving.serialize_keras_object(self.embedding))

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        if loss is not None:
            raise ValueError(f"ProtoNet's loss is fixed (cross-entropy of minus squared "
                             f"distances to the prototypes); compile without loss=, got "
                             f"{loss!r}")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        with self.distribute_strategy.scope():
            self._engine.learner = MetricLearner(self._engine.nets, self.ways, self.optimizer,
                                                 step=self.optimizer.iterations)
        self.build_compiled(self.ways)

    @property
    def learner(self) -> MetricLearner:
        if self._engine.learner is None:
            raise ValueError("call ProtoNet.compile(optimizer, metrics=...) first")
        return self._engine.learner

    def train_step(self, data: Task):
        metrics, logits = self.learner.update(data)
        self._update_metrics(metrics["meta_loss/model"], data.val.batch[1], logits)
        return self.get_metrics_result()

    def test_step(self, data: Task):
        (_, support_labels), (_, query_labels) = data.inner.batch, data.val.batch
        ways = tf.reduce_max(tf.cast(support_labels, tf.int32)) + 1   # any number of ways
        loss, _, logits = self.learner.loss_and_logits(data, training=False, ways=ways)
        self._update_metrics(loss, query_labels, logits)
        return self.get_metrics_result()

    def prototypes(self, support_images, support_labels, ways: int | None = None) -> tf.Tensor:
        """``[N, D]``: the class means of the support embeddings (moving BatchNorm averages)."""
        ways = self.ways if ways is None else ways
        embeddings = embed(self._engine.nets, tf.convert_to_tensor(support_images)[None])
        return support_state(self._engine.nets, embeddings,
                             tf.convert_to_tensor(support_labels)[None], ways)["prototypes"][0]

    def adapt(self, support_images, support_labels, ways: int | None = None) -> keras.Model:
        """A plain Keras model for one task: images -> logits against its prototypes."""
        spec = self.embedding.inputs[0]
        inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype)
        scores = PrototypeScores(self.prototypes(support_images, support_labels, ways))
        return keras.Model(inputs, scores(self.embedding(inputs, training=False)),
                           name=f"{self.embedding.name}_prototypes")

    def export(self, filepath, format: str = "tf_saved_model", verbose: bool = True, *,
               ways: int | None = None, max_support: int = 256, max_query: int = 1024,
               max_ways: int | None = None, **kwargs) -> None:
        """A SavedModel with ``adapt_and_classify`` of N-way episodes, any N up to ``max_ways``.

        The trainer's metric export (:mod:`tfmeta.savedmodel.classifier`): the
        state is ``prototypes [N, D]``, N the request's largest label + 1; each
        query is classified on its own. ``ways`` (default: training's) is the
        metadata's, ``max_ways`` (default: ``max_support``) the largest N.
        """
        ways = self.ways if ways is None else checks.count("ways", ways, minimum=2)
        nets = self._engine.nets

        def adapt_fn(images, labels, seed):
            del seed   # nothing is drawn
            return {"prototypes": self.prototypes(images, labels, tf.reduce_max(labels) + 1)}

        def logits_fn(state, images):
            return query_logits(nets, {"prototypes": state["prototypes"][None]},
                                embed(nets, images[None]))[0]

        exporting.export_metric(self, filepath, adapt_fn, logits_fn, ways, format=format,
                                verbose=verbose, max_support=max_support, max_query=max_query,
                                max_ways=max_ways, **kwargs)
