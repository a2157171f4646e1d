"""The pre-train + fine-tune baseline (Chen et al. 2019; RFS) as a Keras model over the engine.

``fit`` trains on ordinary labelled mini-batches ``(images [B, H, W, C],
labels [B])`` of every training class, not episodes: ``train_step`` is
:meth:`tfmeta.metric.BaselineLearner.update` (the embedding and a linear
classifier over ``classes`` outputs, cross-entropy, one step of the compiled
optimizer), as the few-shot experiment trains `algorithm` baseline. ``call``
gives those classes' logits. ``evaluate`` takes either such batches (accuracy
over the training classes) or episodes (:func:`tfmeta.keras.test_episodes`):
each episode is scored by ``head`` on the L2-normalized features of the frozen
embedding (BatchNorm's moving averages), any number of ways -- ``centroid``
(nearest class mean), ``logistic`` (RFS's head) or ``finetune`` (a new linear
head imprinted with the class means, then ``finetune_steps`` gradient steps at
``finetune_lr``; :mod:`tfmeta.metric.logistic`). ``adapt`` gives a plain Keras
model for one episode; ``export`` a SavedModel whose ``adapt_and_classify``
fits the head in the graph, the trainer's metric export.

Example:
    >>> base = Baseline(embedding, classes=splits.train.num_classes, head="finetune")
    >>> base.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    >>> base.fit(batches(ImageBatchSampler(splits.train, batch_size=64),
    ...                  start=base.optimizer.iterations), epochs=5, steps_per_epoch=100,
    ...          validation_data=test_episodes(sampler, 100))
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmeta import checks
from tfmeta.keras import exporting
from tfmeta.keras.base import FrontDoor, MetricEngine
from tfmeta.metric import BaselineLearner, MetricNets
from tfmeta.metric.episodes import embed, episode_loss, query_logits, support_state
from tfmeta.metric.logistic import FINETUNE_LR, FINETUNE_STEPS
from tfmeta.types import Task

HEADS = ("centroid", "logistic", "finetune")


class EpisodeScores(keras.layers.Layer):
    """Embeddings ``[Q, D]`` -> logits ``[Q, N]`` under one episode's fixed support state (the
    class means, or the head fit on the support set)."""

    def __init__(self, method: str, state: dict, **kwargs):
        super().__init__(**kwargs)
        self.method, self.state = method, {}
        for name, value in state.items():
            value = tf.convert_to_tensor(value)
            self.state[name] = self.add_weight(shape=value.shape, trainable=False,
                                               initializer="zeros", dtype=value.dtype, name=name)
            self.state[name].assign(value)

    def call(self, embeddings):
        state = {name: v[None] for name, v in self.state.items()}
        return query_logits(MetricNets(self.method, None), state, embeddings[None])[0]


@keras.saving.register_keras_serializable(package="tfmeta")
class Baseline(FrontDoor, keras.Model):
    """An embedding pre-trained as a classifier of ``classes`` training classes; episodes scored
    by ``head`` on its normalized features.

    Args:
      embedding: a built Keras model, images ``[B, H, W, C]`` -> features ``[B, D]``
        (e.g. ``tfmeta.nets.build_conv4_embedding``, or ResNet-12 with ``ways=None,
        norm="moving"``).
      classes: the training classes (the labels of a ``fit`` batch are ``0..classes-1``).
      head: ``centroid``, ``logistic`` or ``finetune``: how an episode is scored.
      finetune_steps, finetune_lr: the ``finetune`` head's gradient steps and rate.
      weight_decay: an L2 penalty's ``lambda`` added to the gradients as ``lambda * w``
        before the compiled optimizer (RFS's 5e-4 with SGD; the trainer's, through its
        momentum, unlike Keras's decoupled ``weight_decay``); 0: none.
    """

    WRAPPED = "embedding"

    def __init__(self, embedding: keras.Model, classes: int, head: str = "centroid",
                 finetune_steps: int = FINETUNE_STEPS, finetune_lr: float = FINETUNE_LR,
                 weight_decay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(embedding, keras.Model) or not embedding.built:
            raise ValueError(f"embedding must be a built keras.Model (give it an Input or call "
                             f"it once), got {embedding!r}")
        self.embedding = embedding
        self.classes = checks.count("classes", classes, minimum=2)
        self.head = checks.one_of("head", head, HEADS)
        self.finetune_steps = checks.count("finetune_steps", finetune_steps, minimum=0)
        self.finetune_lr = checks.positive("finetune_lr", finetune_lr)
        self.weight_decay = checks.positive("weight_decay", weight_decay, allow_zero=True)
        self.classifier = keras.layers.Dense(self.classes, name="classifier")
        self.classifier.build((None, int(embedding.outputs[0].shape[-1])))
        self._engine = MetricEngine(MetricNets(self.head, embedding,
                                               finetune_steps=self.finetune_steps,
                                               finetune_lr=self.finetune_lr))
        self.built = True

    def call(self, inputs, training: bool = False):
        return self.classifier(self.embedding(inputs, training=training))

    def get_config(self) -> dict:
        return dict(super().get_config(), classes=self.classes, head=self.head,
                    finetune_steps=self.finetune_steps, finetune_lr=self.finetune_lr,
                    weight_decay=self.weight_decay,
                    embedding=keras.saving.serialize_keras_object(self.embedding))

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        if loss is not None:
            raise ValueError(f"Baseline's loss is fixed (cross-entropy over the training "
                             f"classes; episodes: the head's); compile without loss=, got "
                             f"{loss!r}")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        with self.distribute_strategy.scope():
            self._engine.learner = BaselineLearner(
                self.embedding, self.classes, self.optimizer, classifier=self.classifier,
                step=self.optimizer.iterations, weight_decay=self.weight_decay)
        self.build_compiled(self.classes)

    @property
    def learner(self) -> BaselineLearner:
        if self._engine.learner is None:
            raise ValueError("call Baseline.compile(optimizer, metrics=...) first")
        return self._engine.learner

    def train_step(self, data):
        if isinstance(data, Task):
            raise ValueError("Baseline.fit takes labelled mini-batches (images, labels) of the "
                             "training classes, not episodes (those are for evaluate)")
        metrics, logits = self.learner.update(tuple(data[:2]))
        self._update_metrics(metrics["meta_loss/model"], data[1], logits)
        return self.get_metrics_result()

    def test_step(self, data):
        if not isinstance(data, Task):   # labelled images of the training classes
            loss, _, logits = self.learner.loss_and_logits(tuple(data[:2]), training=False)
            self._update_metrics(loss, data[1], logits)
            return self.get_metrics_result()
        (sx, sy), (qx, qy) = data.inner.batch, data.val.batch
        ways = tf.reduce_max(tf.cast(sy, tf.int32)) + 1   # any number of ways
        nets, shots = self._engine.nets, tf.shape(sx)[1]
        embeddings = embed(nets, tf.concat([sx, qx], axis=1), training=False)
        state = support_state(nets, embeddings[:, :shots], sy, ways)
        loss, logits = episode_loss(nets, state, embeddings[:, shots:], qy, ways, training=False)
        self._update_metrics(loss, qy, logits)
        return self.get_metrics_result()

    def support_state(self, support_images, support_labels, ways: int | None = None) -> dict:
        """One episode's state (no leading axis): ``centroids [N, D]`` or the fit head's
        ``weights [D, N]`` and ``bias [N]``; ``ways`` default: the largest label + 1."""
        labels = tf.convert_to_tensor(support_labels)
        ways = tf.reduce_max(tf.cast(labels, tf.int32)) + 1 if ways is None else ways
        embeddings = embed(self._engine.nets, tf.convert_to_tensor(support_images)[None])
        state = support_state(self._engine.nets, embeddings, labels[None], ways)
        return {name: t[0] for name, t in state.items()}

    def adapt(self, support_images, support_labels, ways: int | None = None) -> keras.Model:
        """A plain Keras model for one episode: images -> its ``head``'s logits."""
        spec = self.embedding.inputs[0]
        inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype)
        scores = EpisodeScores(self.head, self.support_state(support_images, support_labels,
                                                             ways))
        return keras.Model(inputs, scores(self.embedding(inputs, training=False)),
                           name=f"{self.embedding.name}_{self.head}")

    def export(self, filepath, format: str = "tf_saved_model", verbose: bool = True, *,
               ways: int | None = None, max_support: int = 256, max_query: int = 1024,
               max_ways: int | None = None, **kwargs) -> None:
        """A SavedModel with ``adapt_and_classify`` of N-way episodes, any N up to ``max_ways``
        (default: ``max_support``): the trainer's metric export, the head fit in the graph
        (a fixed number of steps). ``ways`` is the N its metadata names (no training episode
        fixes one; default 5, or ``max_ways`` if smaller)."""
        ways = checks.count("ways", min(5, max_ways or 5) if ways is None else ways, minimum=2)
        nets = self._engine.nets

        def adapt_fn(images, labels, seed):
            del seed   # nothing is drawn
            return self.support_state(images, labels)

        def logits_fn(state, images):
            return query_logits(nets, {n: t[None] for n, t in state.items()},
                                embed(nets, images[None]))[0]

        exporting.export_metric(self, filepath, adapt_fn, logits_fn, ways, format=format,
                                verbose=verbose, max_support=max_support, max_query=max_query,
                                max_ways=max_ways, metadata={
                                    "trained_classes": self.classes, "baseline_head": self.head,
                                    **({"finetune_steps": self.finetune_steps,
                                        "finetune_lr": self.finetune_lr}
                                       if self.head == "finetune" else {})}, **kwargs)
