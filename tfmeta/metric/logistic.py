"""Linear heads fit on an episode's support features in the graph: RFS's and Chen et al.'s.

Both fit, for every episode of a batch, a multinomial logistic regression
``softmax(x W + b)`` on the L2-normalized support features by a fixed number
of full-batch gradient steps on the mean cross-entropy (plus ``l2 / 2 * |W|^2``):

* :func:`fit_logistic` (RFS's head): from zero, with ``l2`` 1 / (C S)
  (scikit-learn's ``LogisticRegression(C)`` objective, which RFS fits, divided
  by the S support images), at the rate the loss's smoothness allows;
* :func:`fit_finetune` (Chen et al. 2019's Baseline: a new linear head
  trained on the frozen backbone's support features; head only, as theirs):
  from the imprinted weights (Qi et al. 2018: each class's column is its
  normalized mean support feature, the bias zero -- the cosine nearest-centroid
  classifier, so 0 steps is already a sensible head and the steps refine it),
  no penalty, ``steps`` steps at ``learning_rate``. Chen et al. start from a
  random head and take SGD steps (rate 0.01, momentum 0.9, weight decay 1e-3)
  on mini-batches of 4 for 100 epochs, on unnormalized features; full-batch
  steps here need no seed, so an episode scores the same everywhere.

The gradients are written out (no tape), so the fits run in a
``tf.while_loop`` inside ``tf.function`` and an exported SavedModel alike.
:func:`logistic_logits` scores normalized queries with either head.

Example:
    >>> head = fit_logistic(support [E, S, D], labels [E, S], ways=5)
    >>> logistic_logits(head, queries [E, Q, D]).shape
    TensorShape([E, Q, 5])
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["FINETUNE_LR", "FINETUNE_STEPS", "LOGISTIC_L2", "LOGISTIC_STEPS", "fit_finetune",
           "fit_logistic", "logistic_logits"]

LOGISTIC_STEPS = 100
LOGISTIC_L2 = 0.2   # 1 / (C S) at scikit-learn's C = 1 and a 5-image support set
FINETUNE_STEPS = 100
FINETUNE_LR = 1.0   # half of 2 / L, L <= 1 for unit features (see _descend)


def _descend(features: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, bias: tf.Tensor, *,
             steps: int, rate, l2: float) -> dict[str, tf.Tensor]:
    """``steps`` gradient steps at ``rate`` on ``mean CE + l2 / 2 * |W|^2`` from ``(weights
    [E, D, N], bias [E, N])``. The loss's gradient is Lipschitz with constant at most
    (max |x|^2 + 1) / 2 + l2 (the softmax's Hessian is at most 1/2 in norm; the bias adds 1 to
    |x|^2): 1 + l2 for unit features, so a rate below 2 / (1 + l2) descends."""
    count = tf.cast(tf.shape(features)[1], features.dtype)
    rate = tf.convert_to_tensor(rate, features.dtype)   # a Python float exactly, not via float32

    def step(i, weights, bias):
        logits = tf.einsum("esd,edn->esn", features, weights) + bias[:, None]
        error = (tf.nn.softmax(logits, axis=-1) - targets) / count                  # [E, S, N]
        weights = weights - rate * (tf.einsum("esd,esn->edn", features, error) + l2 * weights)
        bias = bias - rate * tf.reduce_sum(error, axis=1)
        return i + 1, weights, bias

    _, weights, bias = tf.while_loop(lambda i, *_: i < steps, step,
                                     (tf.constant(0), weights, bias))
    return {"weights": weights, "bias": bias}


def fit_logistic(features: tf.Tensor, labels: tf.Tensor, ways, *, steps: int = LOGISTIC_STEPS,
                 l2: float = LOGISTIC_L2) -> dict[str, tf.Tensor]:
    """``{"weights": [E, D, N], "bias": [E, N]}`` fit on ``features [E, S, D]`` (already
    normalized) with integer ``labels [E, S]`` in ``0..N-1``, by ``steps`` gradient steps."""
    features = tf.convert_to_tensor(features)
    targets = tf.one_hot(tf.cast(labels, tf.int32), ways, dtype=features.dtype)   # [E, S, N]
    shape = tf.shape(features)
    weights = tf.zeros(tf.stack([shape[0], shape[2], tf.shape(targets)[2]]), features.dtype)
    bias = tf.zeros(tf.stack([shape[0], tf.shape(targets)[2]]), features.dtype)
    return _descend(features, targets, weights, bias, steps=steps, rate=1.0 / (1.0 + l2), l2=l2)


def fit_finetune(features: tf.Tensor, labels: tf.Tensor, ways, *, steps: int = FINETUNE_STEPS,
                 learning_rate: float = FINETUNE_LR) -> dict[str, tf.Tensor]:
    """``{"weights": [E, D, N], "bias": [E, N]}``: the head imprinted with the normalized class
    means of ``features [E, S, D]`` (already normalized; a class without images: zeros), then
    ``steps`` gradient steps at ``learning_rate`` on the mean cross-entropy of ``labels``."""
    features = tf.convert_to_tensor(features)
    targets = tf.one_hot(tf.cast(labels, tf.int32), ways, dtype=features.dtype)   # [E, S, N]
    sums = tf.einsum("esd,esn->edn", features, targets)
    weights = tf.math.l2_normalize(sums, axis=1, epsilon=1e-12)
    bias = tf.zeros_like(weights[:, 0])
    return _descend(features, targets, weights, bias, steps=steps, rate=learning_rate, l2=0.0)


def logistic_logits(head: dict[str, tf.Tensor], queries: tf.Tensor) -> tf.Tensor:
    """``[E, Q, N]`` logits of ``queries [E, Q, D]`` (already normalized) under the fit head."""
    return tf.einsum("eqd,edn->eqn", queries, head["weights"]) + head["bias"][:, None]
