"""A logistic-regression head fit on an episode's support features in the graph (RFS's head).

:func:`fit_logistic` fits, for every episode of a batch, a multinomial
logistic regression ``softmax(x W + b)`` on the L2-normalized support
features by a fixed number of full-batch gradient steps from zero on the
regularized mean cross-entropy ``CE + l2 / 2 * |W|^2`` (``l2`` 1 / (C S) is
scikit-learn's ``LogisticRegression(C)`` objective, which RFS fits, divided by
the S support images). The gradients are written out (no tape), so the fit
runs in a ``tf.while_loop`` inside ``tf.function`` and an exported
SavedModel alike. :func:`logistic_logits` scores normalized queries with it.

Example:
    >>> head = fit_logistic(support [E, S, D], labels [E, S], ways=5)
    >>> logistic_logits(head, queries [E, Q, D]).shape
    TensorShape([E, Q, 5])
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["LOGISTIC_L2", "LOGISTIC_STEPS", "fit_logistic", "logistic_logits"]

LOGISTIC_STEPS = 100
LOGISTIC_L2 = 0.2   # 1 / (C S) at scikit-learn's C = 1 and a 5-image support set


def fit_logistic(features: tf.Tensor, labels: tf.Tensor, ways, *, steps: int = LOGISTIC_STEPS,
                 l2: float = LOGISTIC_L2) -> dict[str, tf.Tensor]:
    """``{"weights": [E, D, N], "bias": [E, N]}`` fit on ``features [E, S, D]`` (already
    normalized) with integer ``labels [E, S]`` in ``0..N-1``, by ``steps`` gradient steps."""
    features = tf.convert_to_tensor(features)
    targets = tf.one_hot(tf.cast(labels, tf.int32), ways, dtype=features.dtype)   # [E, S, N]
    count = tf.cast(tf.shape(features)[1], features.dtype)
    # The loss's gradient is Lipschitz with constant at most (max |x|^2 + 1) / 2 + l2 (the
    # softmax's Hessian is at most 1/2 in norm; the bias adds 1 to |x|^2): unit features.
    rate = 1.0 / (1.0 + l2)

    def step(i, weights, bias):
        logits = tf.einsum("esd,edn->esn", features, weights) + bias[:, None]
        error = (tf.nn.softmax(logits, axis=-1) - targets) / count                  # [E, S, N]
        weights = weights - rate * (tf.einsum("esd,esn->edn", features, error) + l2 * weights)
        bias = bias - rate * tf.reduce_sum(error, axis=1)
        return i + 1, weights, bias

    shape = tf.shape(features)
    weights = tf.zeros(tf.stack([shape[0], shape[2], tf.shape(targets)[2]]), features.dtype)
    bias = tf.zeros(tf.stack([shape[0], tf.shape(targets)[2]]), features.dtype)
    _, weights, bias = tf.while_loop(lambda i, *_: i < steps, step,
                                     (tf.constant(0), weights, bias))
    return {"weights": weights, "bias": bias}


def logistic_logits(head: dict[str, tf.Tensor], queries: tf.Tensor) -> tf.Tensor:
    """``[E, Q, N]`` logits of ``queries [E, Q, D]`` (already normalized) under the fit head."""
    return tf.einsum("eqd,edn->eqn", queries, head["weights"]) + head["bias"][:, None]
