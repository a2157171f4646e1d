"""Hierarchically structured meta-learning (HSML, Yao et al. 2019) as a task modulation.

HSML tailors MAML's shared initialization to the kind of task before adapting
(paper 002, slides on HSML):

1. **Task representation.** Each support example is described by a vector
   ``F(x, y)`` (regression: ``[x, y]``; classification: pooled pixels and the
   one-hot label), encoded by an MLP, ``g_ij = FC_enc(F(x_ij, y_ij))``, and
   reconstructed by a decoder: ``L_r`` is the mean over examples of
   ``||FC_dec(g_ij) - F(x_ij, y_ij)||^2``. The task's representation is the
   mean-pooled code through one more layer, ``g_i = FC(mean_j g_ij)`` (the
   paper's code, its "mean" aggregator).
2. **Hierarchical soft clustering.** Level ``l`` has ``K_l`` learnable centres
   ``c``; every node ``h^a`` of the level below (level 0: the one node
   ``g_i``) is assigned softly,
   ``p(a -> k) = softmax_k(-||h^a - c_k||^2 / (2 sigma^2))``, and the level's
   nodes are ``h^k = sum_a p(a -> k) tanh(W_k h^a + b_k)``. A root node sums
   ``tanh(W h^k + b)`` over the last level: ``h_i``.
3. **Knowledge adaptation.** A gate per parameter tensor,
   ``o_i = sigmoid(W_g [g_i ; h_i] + b_g)``, scales the initialization,
   ``theta_0i = theta * o_i``, from which MAML's inner steps start. With
   ``gate="weight"`` every entry has its own gate (the paper's code); with
   ``gate="unit"`` every output unit (last axis) has one, shared by its
   inputs (far fewer gate weights for convolutions).

The meta-loss is MAML's plus ``reconstruction_weight * L_r``; everything
above is a meta-variable trained with it. The engine applies a modulation
through :class:`tfmeta.types.TaskModulation` (``MetaLearner(modulation=...)``).

Example:
    >>> weights = hsml_variables([v.shape for v in model.trainable_variables], input_dim=2)
    >>> modulation = hsml(weights, describe=lambda batch: tf.concat(batch, axis=-1))
    >>> learner = MetaLearner({"model": model.trainable_variables}, objective, sgd(0.01),
    ...                       outer=lambda: keras.optimizers.Adam(1e-3),
    ...                       modulation={"model": modulation})
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from tfmeta.types import TaskModulation

ACTIVATIONS = {"relu": tf.nn.relu, "tanh": tf.tanh, "softplus": tf.nn.softplus}
GATES = ("weight", "unit")


def hsml_variables(param_shapes: Sequence[Sequence[int]], input_dim: int, *,
                   hidden: int = 40, encoder_hidden: int = 20,
                   clusters: Sequence[int] = (4, 2), gate: str = "weight", seed: int = 0,
                   dtype: Any = "float32", name: str = "hsml") -> dict:
    """HSML's meta-variables (trainable ``keras.Variable``s) for a learner's parameters.

    Args:
      param_shapes: shapes of the learner's parameter tensors, in order.
      input_dim: length of the description vector ``F(x, y)`` of one example.
      hidden: size of task representations and cluster nodes (the paper: 40).
      encoder_hidden: the autoencoder's middle layer (the paper's code: 20).
      clusters: ``K_l`` of each clustering level, bottom up (the paper: 4, 2).
      gate: ``"weight"`` (a gate per entry) or ``"unit"`` (per last-axis unit).
      seed: of the random initialization (Glorot-uniform matrices and
        centres, zero biases).

    Returns:
      ``{name: variable}`` in a fixed order: encoder, decoder, pooling layer,
      each level's ``centres_l [K_l, H]``, ``level_w_l [K_l, H, H]``,
      ``level_b_l [K_l, H]``, the root, then ``gate_w_i [2H, size_i]`` and
      ``gate_b_i [size_i]`` per parameter tensor.
    """
    import keras  # local: keeps this module importable without building Keras state
    for what, value in (("input_dim", input_dim), ("hidden", hidden),
                        ("encoder_hidden", encoder_hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"hsml: {what} must be an int >= 1, got {value!r}")
    clusters = tuple(clusters)
    if not clusters or any(isinstance(k, bool) or not isinstance(k, int) or k < 1
                           for k in clusters):
        raise ValueError(f"hsml: clusters must be one or more ints >= 1 (clusters per level, "
                         f"bottom up), got {clusters!r}")
    if gate not in GATES:
        raise ValueError(f"hsml: gate must be one of {GATES}, got {gate!r}")
    rng = np.random.default_rng(seed)

    def glorot(*shape):
        limit = math.sqrt(6.0 / (shape[-2] + shape[-1]))
        return rng.uniform(-limit, limit, shape)

    d, m, h = input_dim, encoder_hidden, hidden
    values = [("enc_w1", glorot(d, m)), ("enc_b1", np.zeros(m)),
              ("enc_w2", glorot(m, h)), ("enc_b2", np.zeros(h)),
              ("dec_w1", glorot(h, m)), ("dec_b1", np.zeros(m)),
              ("dec_w2", glorot(m, d)), ("dec_b2", np.zeros(d)),
              ("pool_w", glorot(h, h)), ("pool_b", np.zeros(h))]
    for level, k in enumerate(clusters, start=1):
        values += [(f"centres_{level}", glorot(k, h)), (f"level_w_{level}", glorot(k, h, h)),
                   (f"level_b_{level}", np.zeros((k, h)))]
    values += [("root_w", glorot(h, h)), ("root_b", np.zeros(h))]
    for i, shape in enumerate(param_shapes):
        shape = [int(s) for s in shape]
        size = int(np.prod(shape)) if gate == "weight" or not shape else shape[-1]
        values += [(f"gate_w_{i}", glorot(2 * h, size)), (f"gate_b_{i}", np.zeros(size))]
    return {n: keras.Variable(tf.constant(v, dtype), dtype=dtype, name=f"{name}_{n}",
                              trainable=True) for n, v in values}


def _levels(weights) -> int:
    return sum(1 for n in weights if n.startswith("centres_"))


def task_representation(weights, features: tf.Tensor, activation: Callable = tf.nn.relu):
    """``(g_i [H], L_r)`` of a task from its examples' descriptions ``features [n, d]``."""
    w = {n: tf.convert_to_tensor(v) for n, v in weights.items()}
    features = tf.cast(features, w["enc_w1"].dtype)
    codes = activation(activation(features @ w["enc_w1"] + w["enc_b1"]) @ w["enc_w2"]
                       + w["enc_b2"])
    rebuilt = activation(codes @ w["dec_w1"] + w["dec_b1"]) @ w["dec_w2"] + w["dec_b2"]
    loss = tf.reduce_mean(tf.reduce_sum(tf.square(rebuilt - features), axis=-1))
    pooled = activation(tf.reduce_mean(codes, axis=0, keepdims=True) @ w["pool_w"]
                        + w["pool_b"])[0]
    return pooled, loss


def cluster(weights, representation: tf.Tensor, sigma: float = 2.0):
    """``(h_i [H], assignments)``: the root node of the soft clustering of ``g_i``, and each
    level's assignment probabilities ``[K_{l-1}, K_l]`` (level 1's is ``[1, K_1]``)."""
    w = {n: tf.convert_to_tensor(v) for n, v in weights.items()}
    nodes = representation[None]                                    # [A, H]
    assignments = []
    for level in range(1, _levels(weights) + 1):
        centres = w[f"centres_{level}"]                              # [K, H]
        distance = tf.reduce_sum(tf.square(nodes[:, None] - centres[None]), axis=-1)
        p = tf.nn.softmax(-distance / (2.0 * sigma ** 2), axis=1)    # [A, K]
        moved = tf.tanh(tf.einsum("ah,khj->akj", nodes, w[f"level_w_{level}"])
                        + w[f"level_b_{level}"][None])              # [A, K, H]
        nodes = tf.einsum("ak,akj->kj", p, moved)
        assignments.append(p)
    root = tf.reduce_sum(tf.tanh(nodes @ w["root_w"] + w["root_b"]), axis=0)
    return root, assignments


def gates(weights, representation: tf.Tensor, root: tf.Tensor, shapes) -> list:
    """The sigmoid gates ``o_i``, one per parameter tensor, shaped to multiply it."""
    z = tf.concat([representation, root], axis=0)[None]
    out = []
    for i, shape in enumerate(shapes):
        o = tf.sigmoid(z @ tf.convert_to_tensor(weights[f"gate_w_{i}"])
                       + tf.convert_to_tensor(weights[f"gate_b_{i}"]))[0]
        # a gate per entry takes the tensor's shape; one per unit broadcasts on the last axis
        out.append(tf.reshape(o, shape) if int(o.shape[0]) == int(np.prod(shape)) else o)
    return out


def hsml(weights: dict, describe: Callable[[Any], tf.Tensor], *, sigma: float = 2.0,
         reconstruction_weight: float = 0.01, activation: str = "relu") -> TaskModulation:
    """HSML's modulation of one player's initialization.

    Args:
      weights: :func:`hsml_variables`.
      describe: ``support batch -> [n, input_dim]``, the description ``F(x, y)``
        of each support example (a pure function without variables).
      sigma: the clustering's length scale (the paper's code: 2 for regression).
      reconstruction_weight: ``xi``, the weight of ``L_r`` in the meta-loss
        (the paper's code: 0.01).
      activation: of the autoencoder, ``"relu"`` (the paper's) or a smooth one.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"hsml: activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    if not sigma > 0:
        raise ValueError(f"hsml: sigma must be > 0, got {sigma!r}")
    if not reconstruction_weight >= 0:
        raise ValueError(f"hsml: reconstruction_weight must be >= 0, got "
                         f"{reconstruction_weight!r}")
    act = ACTIVATIONS[activation]

    def apply(params, support):
        representation, loss = task_representation(weights, describe(support), act)
        root, _ = cluster(weights, representation, sigma)
        shapes = [[int(s) for s in p.shape] for p in params]
        tailored = [p * tf.cast(o, p.dtype)
                    for p, o in zip(params, gates(weights, representation, root, shapes))]
        return tailored, tf.cast(reconstruction_weight, loss.dtype) * loss

    def assignments(support):
        representation, _ = task_representation(weights, describe(support), act)
        return cluster(weights, representation, sigma)[1]

    return TaskModulation(apply=apply, variables=tuple(weights.values()), name="hsml",
                          inspect=assignments)
