"""The learned parts of metric learners beyond the embedding: relation module, siamese scorer, FCE.

* :func:`build_relation_module` -- Sung et al. 2018: two ``3x3 conv -> batch
  norm -> ReLU -> 2x2 max-pool`` blocks on a concatenated pair of feature
  maps, then a ReLU layer of 8 units and one output (the relation score's
  logit; the paper's sigmoid is applied by the loss);
* :func:`build_siamese_scorer` -- Koch et al. 2015: a weighted L1 distance,
  ``Dense(1)`` on ``|e1 - e2|`` (the logit of "same class");
* :class:`FullContextEmbedding` -- Vinyals et al. 2016's full context
  embeddings: a bidirectional LSTM over the support embeddings (``g``) and an
  attention LSTM that reads the support set ``steps`` times for each query (``f``).

Example:
    >>> relation = build_relation_module((7, 7, 64))
    >>> relation(tf.concat([maps_a, maps_b], axis=-1), training=True).shape
    TensorShape([B])
"""

from __future__ import annotations

import keras
import tensorflow as tf


def build_relation_module(feature_shape: tuple, *, filters: int = 64, hidden: int = 8,
                          dtype: str = "float32", name: str = "relation") -> keras.Model:
    """Relation module on ``[B, h, w, 2c]`` concatenated maps -> ``[B]`` relation logits.

    A block pools only while its maps are at least 2x2 (a 28x28 image under a
    fully pooled Conv-4 leaves 1x1 maps).
    """
    h_, w_, c_ = (int(s) for s in feature_shape)
    inputs = keras.Input((h_, w_, 2 * c_), dtype=dtype, name="pair_maps")
    h = inputs
    for i in range(2):
        h = keras.layers.Conv2D(filters, 3, padding="same", dtype=dtype, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=dtype,
                                            name=f"bn{i}")(h)
        h = keras.layers.Activation("relu", dtype=dtype, name=f"act{i}")(h)
        if h.shape[1] >= 2 and h.shape[2] >= 2:
            h = keras.layers.MaxPooling2D(2, dtype=dtype, name=f"pool{i}")(h)
    h = keras.layers.Flatten(dtype=dtype, name="flatten")(h)
    h = keras.layers.Dense(hidden, activation="relu", dtype=dtype, name="hidden")(h)
    out = keras.layers.Dense(1, dtype=dtype, name="score")(h)
    out = keras.layers.Reshape((), dtype=dtype, name="logit")(out)
    return keras.Model(inputs, out, name=name)


def build_siamese_scorer(dim: int, *, dtype: str = "float32",
                         name: str = "siamese") -> keras.Model:
    """``[B, dim]`` absolute embedding differences -> ``[B]`` logits of "same class"."""
    inputs = keras.Input((int(dim),), dtype=dtype, name="abs_difference")
    out = keras.layers.Dense(1, dtype=dtype, name="score")(inputs)
    out = keras.layers.Reshape((), dtype=dtype, name="logit")(out)
    return keras.Model(inputs, out, name=name)


@keras.saving.register_keras_serializable(package="tfmeta")
class FullContextEmbedding(keras.layers.Layer):
    """Matching networks' full context embeddings of a support set and its queries.

    ``support(g [E, S, D]) -> [E, S, D]``: ``g + forward + backward`` states of a
    bidirectional LSTM run over the support set in its given order (the paper's
    ``g``; it depends on that order, by design).

    ``query(f [E, Q, D], g [E, S, D]) -> [E, Q, D]``: the attention LSTM read
    ``steps`` times: ``h_k = LSTM([f, r_{k-1}], state_{k-1}) + f`` with the
    read-out ``r_k = sum_i softmax_i(h_k . g_i) g_i`` (the paper's ``f``; the
    previous read-out enters as input rather than concatenated into the
    hidden state, as common implementations do).

    Args:
      dim: D, the embedding size (both LSTMs have D units).
      steps: processing steps K of the attention LSTM.
    """

    def __init__(self, dim: int, steps: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.steps = int(dim), int(steps)
        self.support_lstm = keras.layers.Bidirectional(
            keras.layers.LSTM(self.dim, return_sequences=True, dtype=self.dtype_policy),
            merge_mode="sum", dtype=self.dtype_policy, name="support_lstm")
        self.query_cell = keras.layers.LSTMCell(self.dim, dtype=self.dtype_policy,
                                                name="query_cell")

    def build(self, input_shape=None):
        self.support_lstm.build((None, None, self.dim))
        self.query_cell.build((None, 2 * self.dim))
        self.built = True

    def get_config(self):
        return dict(super().get_config(), dim=self.dim, steps=self.steps)

    def call(self, inputs, training=None):
        g, f = inputs
        g = self.support(g, training=training)
        return g, self.query(f, g, training=training)

    def support(self, g: tf.Tensor, training=None) -> tf.Tensor:
        """Support embeddings in the context of the whole support set."""
        return g + self.support_lstm(g, training=training)

    def query(self, f: tf.Tensor, g: tf.Tensor, training=None) -> tf.Tensor:
        """Query embeddings after ``steps`` attention reads of the context ``g``."""
        shape = tf.shape(f)
        flat = tf.reshape(f, [-1, self.dim])                     # [E*Q, D]
        h = tf.zeros_like(flat)
        state = [h, tf.zeros_like(flat)]
        read = tf.zeros_like(flat)
        for _ in range(self.steps):
            out, state = self.query_cell(tf.concat([flat, read], axis=-1), state,
                                         training=training)
            h = tf.reshape(out + flat, shape)                     # [E, Q, D]
            attention = tf.nn.softmax(tf.einsum("eqd,esd->eqs", h, g), axis=-1)
            read = tf.reshape(tf.einsum("eqs,esd->eqd", attention, g), [-1, self.dim])
        return h
