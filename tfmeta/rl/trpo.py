"""TRPO's update: conjugate gradient on Fisher-vector products and a backtracking line search.

Pure functions over flat vectors (:func:`flatten` / :func:`unflatten` convert
parameter lists). The step solves ``F s = -g`` approximately by conjugate
gradient (``F`` given only as ``v -> F v``, damped), scales it to the trust
region ``1/2 s^T F s = max_kl``, then halves it (``backtrack_ratio``) until the
surrogate improves and the mean KL is within ``max_kl`` (Schulman et al. 2015;
the settings of the MAML code: 10 CG iterations, damping 1e-5, max KL 0.01).

Example:
    >>> x = conjugate_gradient(lambda v: tf.linalg.matvec(fisher, v), b, iterations=10)
    >>> accepted, new_flat, info = line_search(evaluate, flat, step, loss_before, max_kl=0.01)
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf


def flatten(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """One vector of all entries, in order."""
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


def unflatten(vector: tf.Tensor, like: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """``vector`` cut back into tensors shaped as ``like``."""
    sizes = [int(tf.size(t)) for t in like]
    return [tf.reshape(p, t.shape) for p, t in zip(tf.split(vector, sizes), like)]


def conjugate_gradient(matvec: Callable[[tf.Tensor], tf.Tensor], b: tf.Tensor,
                       iterations: int = 10, tolerance: float = 1e-10) -> tf.Tensor:
    """Approximate solution ``x`` of ``A x = b`` for a symmetric positive definite ``A``
    given as ``matvec``; stops early when the squared residual is below ``tolerance``."""
    x = tf.zeros_like(b)
    r = tf.identity(b)
    p = tf.identity(b)
    rr = tf.tensordot(r, r, 1)
    for _ in range(iterations):
        if float(rr) < tolerance:
            break
        ap = matvec(p)
        alpha = rr / tf.tensordot(p, ap, 1)
        x += alpha * p
        r -= alpha * ap
        rr_new = tf.tensordot(r, r, 1)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def trust_region_step(gradient: tf.Tensor, fisher_product: Callable[[tf.Tensor], tf.Tensor], *,
                      max_kl: float, iterations: int = 10, damping: float = 1e-5) -> tf.Tensor:
    """The full TRPO step (to add to the flat parameters): the damped CG solution of
    ``F s = -gradient`` scaled so that ``1/2 s^T F s = max_kl``."""
    def damped(v):
        return fisher_product(v) + damping * v
    direction = conjugate_gradient(damped, -gradient, iterations)
    shs = 0.5 * tf.tensordot(direction, damped(direction), 1)
    return direction * tf.sqrt(max_kl / tf.maximum(shs, 1e-12))


def line_search(evaluate: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]], flat: tf.Tensor,
                full_step: tf.Tensor, loss_before: float, *, max_kl: float,
                backtrack_ratio: float = 0.8, max_backtracks: int = 15):
    """Backtracks from ``flat + full_step`` until ``evaluate(candidate) -> (loss, kl)`` has a
    lower loss than ``loss_before`` and ``kl <= max_kl``.

    Returns:
      ``(accepted, parameters, {"loss", "kl", "backtracks"})``; not accepted: ``flat``.
    """
    for k in range(max_backtracks):
        candidate = flat + (backtrack_ratio ** k) * full_step
        loss, kl = evaluate(candidate)
        loss, kl = float(loss), float(kl)
        if loss < loss_before and kl <= max_kl:
            return True, candidate, {"loss": loss, "kl": kl, "backtracks": k}
    return False, flat, {"loss": loss_before, "kl": 0.0, "backtracks": max_backtracks}
