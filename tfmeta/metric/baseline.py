"""``BaselineLearner``: pre-trains an embedding as an ordinary classifier over every training class.

The few-shot baseline of Chen et al. 2019 ("A Closer Look at Few-shot
Classification": Baseline) and Tian et al. 2020 (RFS): no episodes and no
inner loop in training; the embedding and a linear classifier over all the
meta-train classes learn by cross-entropy on plain mini-batches
(:class:`tfmeta.data.ImageBatchSampler`), one optimizer step per batch. At
test the classifier is dropped and an episode is scored from the support
set's features of the frozen embedding (method ``centroid`` of
:mod:`tfmeta.metric.episodes`: nearest class mean of L2-normalized features).

A :class:`tfmeta.types.Learner` for :func:`tfmeta.training.meta_train`, and the
engine of :class:`tfmeta.keras.Baseline` (which passes its own classifier and
its optimizer's ``iterations`` as the step). A non-finite loss or gradient
raises ``InvalidArgumentError`` and changes nothing (the batch-norm moving
averages the forward pass updated are put back).

Example:
    >>> learner = BaselineLearner(embedding, classes=splits.train.num_classes,
    ...                           optimizer=keras.optimizers.Adam(1e-3))
    >>> learner.train_step(ImageBatchSampler(splits.train, batch_size=64)(0))
    {'meta_loss/model': <tf.Tensor ...>, 'accuracy': ..., 'grad_norm/model': ...}
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfmeta.distribute import keras_replica_share
from tfmeta.metric.metric_learner import PLAYER, apply_if_finite


class BaselineLearner(tf.Module):
    """Owns the classifier over every training class, the optimizer and the step.

    Args:
      embedding: images ``[B, H, W, C]`` -> features ``[B, D]`` (moving-average
        batch norm: batch statistics in training, the averages at test).
      classes: outputs of the linear classifier (the training classes).
      optimizer: a Keras optimizer (its schedule is read at its own iteration).
      dtype: the classifier's dtype.
      classifier: a built ``keras.layers.Dense`` of ``classes`` outputs on the
        embedding's features to train (default: a new one).
      step: the update counter (default: a new int64 variable that each update
        advances; a counter passed in is advanced by its owner, as the Keras
        front door's optimizer ``iterations``).
      weight_decay: ``lambda`` of an L2 penalty ``lambda / 2 * |w|^2`` on every
        trainable weight, added to the gradients as ``lambda * w`` (torch's
        ``SGD(weight_decay=...)``, RFS's 5e-4; 0: none). Unlike Keras's own
        ``weight_decay`` (decoupled) it goes through the optimizer's momentum.
    """

    def __init__(self, embedding: keras.Model, classes: int,
                 optimizer: keras.optimizers.Optimizer, dtype: str = "float32",
                 name: str | None = None, classifier: keras.layers.Dense | None = None,
                 step: Any = None, weight_decay: float = 0.0):
        super().__init__(name=name)
        if int(classes) < 2:
            raise ValueError(f"classes must be at least 2, got {classes!r}")
        if not float(weight_decay) >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.embedding = embedding
        if classifier is None:
            classifier = keras.layers.Dense(int(classes), dtype=dtype, name="classifier")
            classifier.build((None, int(embedding.output_shape[-1])))
        self.classifier = classifier
        self.optimizer = optimizer
        self.trainable = (list(embedding.trainable_variables)
                          + list(self.classifier.trainable_variables))
        self.moving = [v for v in embedding.variables if not v.trainable]
        self.optimizer.build(self.trainable)
        self._owns_step = step is None
        self.step = (tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_step")
                     if step is None else step)
        self._train = tf.function(lambda batch: self.update(batch)[0], reduce_retracing=True)

    def loss(self, batch: tuple[Any, Any], training: bool = True
             ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loss, accuracy)`` of ``(images [B, H, W, C], labels [B])``: mean cross-entropy of
        the classifier over every training class."""
        return self.loss_and_logits(batch, training)[:2]

    def loss_and_logits(self, batch: tuple[Any, Any], training: bool = True) -> tuple:
        """``(loss, accuracy, logits [B, classes])`` of a mini-batch."""
        images, labels = batch
        dtype = self.embedding.inputs[0].dtype
        logits = self.classifier(self.embedding(tf.cast(images, dtype), training=training))
        labels = tf.cast(labels, tf.int32)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels, tf.cast(logits, tf.float32)))
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return loss, tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32)), logits

    def update(self, batch: tuple[Any, Any]) -> tuple[dict, tf.Tensor]:
        """One optimizer step on one mini-batch (in a ``tf.function``): ``(metrics, logits)``."""
        kept = [tf.identity(v) for v in self.moving]
        with tf.GradientTape() as tape:
            loss, accuracy, logits = self.loss_and_logits(batch, training=True)
        grads = tape.gradient(loss, self.trainable)
        pairs = [(g, v) for g, v in zip(grads, self.trainable) if g is not None]
        shares, (loss, accuracy) = keras_replica_share([g for g, _ in pairs], (loss, accuracy))
        pairs = list(zip(shares, [v for _, v in pairs]))
        if self.weight_decay:
            pairs = [(g + tf.cast(self.weight_decay, g.dtype) * v, v) for g, v in pairs]
        apply_if_finite(self.optimizer, pairs, loss, self.moving, kept,
                        after=(lambda: self.step.assign_add(1)) if self._owns_step else None)
        return {f"meta_loss/{PLAYER}": loss, "accuracy": accuracy,
                f"grad_norm/{PLAYER}": tf.linalg.global_norm([g for g, _ in pairs])}, logits

    def train_step(self, batch: tuple[Any, Any]) -> dict[str, tf.Tensor]:
        """One update on a mini-batch ``(images, labels)``; returns the metrics."""
        return self._train(batch)

    def learning_rates(self) -> dict[str, float]:
        return {PLAYER: float(self.optimizer.learning_rate)}
