"""The math of the metric learners over a batch of episodes (pure functions of tensors).

Every function takes a leading episode axis ``E`` (one episode: ``E = 1``):
support embeddings ``[E, S, ...]`` with labels ``[E, S]`` in ``0..N-1``, query
embeddings ``[E, Q, ...]``. :func:`support_state` summarizes the support set
(what "adapting" means for these learners), :func:`query_logits` scores the
queries against it (``[E, Q, N]``: the arg-max is the predicted class and the
softmax the class probabilities), :func:`episode_loss` is the training loss.
``training`` is True (batch statistics; batch norm updates its moving
averages), False (the moving averages) or :data:`BATCH_STATISTICS` (the
batch's statistics, the moving averages left alone: transductive scoring):

* ``protonet``: state: class means (prototypes); logits: minus squared
  Euclidean distance; loss: cross-entropy;
* ``matching``: state: (FCE-)embeddings and one-hots; logits: log of the
  cosine-attention mass of each class; loss: cross-entropy;
* ``relation``: state: per-class sums of feature maps; logits: the relation
  module on concatenated maps; loss: MSE of their sigmoid to one-hot;
* ``siamese``: state: embeddings and one-hots; logits: the best pair logit
  of each class; loss: pair cross-entropy, same and different pairs balanced;
* ``centroid`` (the pre-trained baseline's scoring; SimpleShot, RFS): state:
  class means of the L2-normalized embeddings; logits: minus the squared
  Euclidean distance of the normalized query to them; loss: cross-entropy;
* ``logistic`` (RFS's head): state: a logistic regression fit on the
  normalized support embeddings (:mod:`tfmeta.metric.logistic`); logits: its
  logits of the normalized query; loss: cross-entropy;
* ``finetune`` (Chen et al.'s Baseline): state: a linear head imprinted with
  the normalized class means, then ``finetune_steps`` gradient steps of the
  cross-entropy on the normalized support embeddings (the embedding frozen);
  logits and loss as ``logistic``.

Example:
    >>> emb = embed(nets, images, training=False)           # [E, S + Q, D]
    >>> state = support_state(nets, emb[:, :S], labels, ways=5)
    >>> probabilities = tf.nn.softmax(query_logits(nets, state, emb[:, S:]), -1)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import tensorflow as tf

from tfmeta.functional import apply, params_of
from tfmeta.metric.logistic import (FINETUNE_LR, FINETUNE_STEPS, fit_finetune, fit_logistic,
                                    logistic_logits)

METHODS = ("protonet", "matching", "relation", "siamese", "centroid", "logistic", "finetune")
BATCH_STATISTICS = "batch_statistics"
_TINY = 1e-12


def _call(net: keras.Model, inputs: tf.Tensor, training) -> tf.Tensor:
    """``net(inputs, training)``; :data:`BATCH_STATISTICS`: normalized with the batch's
    statistics through ``stateless_call``, the updated averages discarded: inference with
    transductive batch norm, refused for a net that drops units in training (dropout,
    DropBlock), which it would run as in training."""
    if isinstance(training, str):
        if training != BATCH_STATISTICS:
            raise ValueError(f"`training` must be True, False or {BATCH_STATISTICS!r}, got "
                             f"{training!r}")
        check_batch_statistics(net)
        return apply(net, params_of(net), inputs, training=True)
    return net(inputs, training=training)


def check_batch_statistics(*nets) -> None:
    """Refuses :data:`BATCH_STATISTICS` for ``nets`` (Keras models, None skipped) that drop
    units in training (dropout, DropBlock): they would run as in training. Called inside
    every such call; call it eagerly first for an error of one line."""
    stack = [layer for net in nets if net is not None for layer in getattr(net, "layers", [])]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))
        rate = getattr(layer, "drop_rate", None) or getattr(layer, "rate", None)
        if rate and isinstance(rate, (int, float)):
            raise ValueError(f"`drop_rate`={rate:g}: scoring with batch statistics runs the "
                             f"embedding as in training, where its dropout and DropBlock "
                             f"({layer.name}) would drop units; score it with the moving "
                             "averages (transductive scoring off)")


def _no_norm(training):
    """``training`` for a layer without batch norm (the FCE's LSTMs)."""
    return False if isinstance(training, str) else training


class MetricNets(NamedTuple):
    """A metric learner's networks.

    Attributes:
      method: one of :data:`METHODS`.
      embedding: images ``[B, H, W, C]`` -> ``[B, D]`` (relation: ``[B, h, w, c]`` maps).
      head: the relation module (relation), the pair scorer (siamese), the
        :class:`tfmeta.nets.metric_heads.FullContextEmbedding` (matching with
        FCE) or None.
      scale: matching: the cosine similarities are multiplied by it before the
        attention's softmax (1: Vinyals et al.'s formula; with non-negative
        features that caps the right support's attention at e / (e + N - 1)).
      finetune_steps, finetune_lr: finetune: the head's gradient steps and their
        rate (:func:`tfmeta.metric.logistic.fit_finetune`).
    """
    method: str
    embedding: keras.Model
    head: Any = None
    scale: float = 1.0
    finetune_steps: int = FINETUNE_STEPS
    finetune_lr: float = FINETUNE_LR

    @property
    def trainable_variables(self) -> list:
        head = [] if self.head is None else list(self.head.trainable_variables)
        return list(self.embedding.trainable_variables) + head

    @property
    def variables(self) -> list:
        head = [] if self.head is None else list(self.head.variables)
        return list(self.embedding.variables) + head


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown metric method {method!r}; expected one of {METHODS}")
    return method


def embed(nets: MetricNets, images: tf.Tensor, training: bool = False) -> tf.Tensor:
    """Embeddings of ``images [..., H, W, C]`` with the leading axes kept: ``[..., D]``."""
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    flat = tf.reshape(images, tf.concat([[-1], shape[-3:]], axis=0))
    out = _call(nets.embedding, tf.cast(flat, nets.embedding.inputs[0].dtype), training)
    return tf.reshape(out, tf.concat([shape[:-3], tf.shape(out)[1:]], axis=0))


def _one_hot(labels: tf.Tensor, ways, dtype) -> tf.Tensor:
    return tf.one_hot(tf.cast(labels, tf.int32), ways, dtype=dtype)


def _class_sums(embeddings: tf.Tensor, one_hot: tf.Tensor) -> tf.Tensor:
    """``[E, N, ...]``: the sum of each class's support embeddings (any trailing shape)."""
    shape = tf.shape(embeddings)
    flat = tf.reshape(embeddings, tf.concat([shape[:2], [-1]], axis=0))
    sums = tf.einsum("esn,esd->end", one_hot, flat)
    return tf.reshape(sums, tf.concat([tf.shape(one_hot)[:1], tf.shape(one_hot)[2:],
                                       shape[2:]], axis=0))


def prototypes(embeddings: tf.Tensor, labels: tf.Tensor, ways) -> tf.Tensor:
    """Class means ``[E, N, D]`` of the support embeddings (a class without images: zeros)."""
    one_hot = _one_hot(labels, ways, embeddings.dtype)
    counts = tf.maximum(tf.reduce_sum(one_hot, axis=1), 1.0)             # [E, N]
    return _class_sums(embeddings, one_hot) / counts[:, :, None]


def squared_distances(queries: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
    """``[E, Q, N]`` squared Euclidean distances of ``queries [E, Q, D]`` to ``points [E, N, D]``.
    """
    return tf.reduce_sum(tf.math.squared_difference(queries[:, :, None], points[:, None]),
                         axis=-1)


def normalized(embeddings: tf.Tensor) -> tf.Tensor:
    """``embeddings`` scaled to unit L2 norm along the last axis (a zero vector stays zero)."""
    return tf.math.l2_normalize(embeddings, axis=-1, epsilon=_TINY)


def cosine_similarities(queries: tf.Tensor, support: tf.Tensor) -> tf.Tensor:
    """``[E, Q, S]`` cosine similarities of ``queries [E, Q, D]`` and ``support [E, S, D]``."""
    q = tf.math.l2_normalize(queries, axis=-1, epsilon=_TINY)
    s = tf.math.l2_normalize(support, axis=-1, epsilon=_TINY)
    return tf.einsum("eqd,esd->eqs", q, s)


def support_state(nets: MetricNets, embeddings: tf.Tensor, labels: tf.Tensor, ways,
                  training: bool = False) -> dict[str, tf.Tensor]:
    """The support set's summary: everything :func:`query_logits` needs of it."""
    method = check_method(nets.method)
    one_hot = _one_hot(labels, ways, embeddings.dtype)
    if method == "protonet":
        return {"prototypes": prototypes(embeddings, labels, ways)}
    if method == "centroid":
        return {"centroids": prototypes(normalized(embeddings), labels, ways)}
    if method == "logistic":
        return fit_logistic(normalized(embeddings), labels, ways)
    if method == "finetune":
        return fit_finetune(normalized(embeddings), labels, ways, steps=nets.finetune_steps,
                            learning_rate=nets.finetune_lr)
    if method == "relation":   # Sung et al. sum the K shots' feature maps of a class
        return {"class_features": _class_sums(embeddings, one_hot)}
    if method == "matching" and nets.head is not None:
        embeddings = nets.head.support(embeddings, training=_no_norm(training))
    return {"support_embeddings": embeddings, "support_one_hot": one_hot}


def siamese_pair_logits(nets: MetricNets, state: dict, queries: tf.Tensor,
                        training: bool = False) -> tf.Tensor:
    """``[E, Q, S]`` logits that query ``q`` and support image ``s`` share a class."""
    support = state["support_embeddings"]
    difference = tf.abs(queries[:, :, None] - support[:, None])            # [E, Q, S, D]
    shape = tf.shape(difference)
    logits = _call(nets.head, tf.reshape(difference, [-1, shape[-1]]), training)
    return tf.reshape(logits, shape[:3])


def query_logits(nets: MetricNets, state: dict, queries: tf.Tensor,
                 training: bool = False) -> tf.Tensor:
    """``[E, Q, N]`` class logits of the query embeddings against the support state."""
    method = check_method(nets.method)
    if method == "protonet":
        return -squared_distances(queries, state["prototypes"])
    if method == "centroid":
        return -squared_distances(normalized(queries), state["centroids"])
    if method in ("logistic", "finetune"):
        return logistic_logits(state, normalized(queries))
    if method == "relation":
        features = state["class_features"]                                   # [E, N, h, w, c]
        q_shape, f_shape = tf.shape(queries), tf.shape(features)
        pairs = tf.concat([tf.broadcast_to(features[:, None], tf.concat(
                               [q_shape[:2], f_shape[1:]], 0)),
                           tf.broadcast_to(queries[:, :, None], tf.concat(
                               [q_shape[:2], f_shape[1:2], q_shape[2:]], 0))], axis=-1)
        flat = tf.reshape(pairs, tf.concat([[-1], tf.shape(pairs)[3:]], 0))
        return tf.reshape(_call(nets.head, flat, training),
                          tf.concat([q_shape[:2], f_shape[1:2]], 0))
    one_hot = state["support_one_hot"]                                       # [E, S, N]
    if method == "matching":
        support = state["support_embeddings"]
        if nets.head is not None:
            queries = nets.head.query(queries, support, training=_no_norm(training))
        attention = tf.nn.softmax(nets.scale * cosine_similarities(queries, support), axis=-1)
        mass = tf.einsum("eqs,esn->eqn", attention, one_hot)
        return tf.math.log(tf.maximum(mass, _TINY))
    return _best_of_class(siamese_pair_logits(nets, state, queries, training), one_hot)


def _best_of_class(pair: tf.Tensor, one_hot: tf.Tensor) -> tf.Tensor:
    """``[E, Q, N]``: each class's highest pair logit ``pair [E, Q, S]`` over its support images."""
    masked = tf.where(one_hot[:, None] > 0, pair[..., None],
                      tf.constant(-1e9, pair.dtype))                         # [E, Q, S, N]
    return tf.reduce_max(masked, axis=2)


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Mean softmax cross-entropy over every query of every episode."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.cast(labels, tf.int32), logits))


def relation_loss(logits: tf.Tensor, labels: tf.Tensor, ways) -> tf.Tensor:
    """Mean squared error of the relation scores ``sigmoid(logits)`` to one-hot targets."""
    targets = _one_hot(labels, ways, logits.dtype)
    return tf.reduce_mean(tf.math.squared_difference(tf.sigmoid(logits), targets))


def siamese_loss(pair_logits: tf.Tensor, pair_targets: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy of pairs, same-class and different-class pairs weighted equally."""
    bce = tf.nn.sigmoid_cross_entropy_with_logits(pair_targets, pair_logits)
    positive = tf.reduce_sum(pair_targets)
    negative = tf.reduce_sum(1.0 - pair_targets)
    return 0.5 * (tf.reduce_sum(bce * pair_targets) / tf.maximum(positive, 1.0)
                  + tf.reduce_sum(bce * (1.0 - pair_targets)) / tf.maximum(negative, 1.0))


def episode_loss(nets: MetricNets, state: dict, queries: tf.Tensor, labels: tf.Tensor, ways,
                 training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """``(loss, logits [E, Q, N])`` of the query embeddings with integer ``labels [E, Q]``."""
    method = check_method(nets.method)
    if method == "siamese":   # the pairs once: the loss and the class logits both need them
        pair = siamese_pair_logits(nets, state, queries, training)
        one_hot = state["support_one_hot"]
        targets = tf.einsum("eqn,esn->eqs", _one_hot(labels, ways, pair.dtype), one_hot)
        return siamese_loss(pair, targets), _best_of_class(pair, one_hot)
    logits = query_logits(nets, state, queries, training)
    if method == "relation":
        return relation_loss(logits, labels, ways), logits
    return cross_entropy(logits, labels), logits
