"""Returns, the paper's linear feature baseline, and advantages (pure functions).

The baseline is rllab's ``LinearFeatureBaseline``, the one the MAML paper's code
uses: features ``[obs, obs^2, t, t^2, t^3, 1]`` with ``obs`` clipped to
``[-10, 10]`` and ``t`` the step index / 100, fitted to the discounted returns by
least squares with a ridge ``1e-5`` (raised tenfold while the solution is not
finite), refitted on every batch of a task's rollouts.

Example:
    >>> returns = discounted_returns(rollouts.rewards, rollouts.mask, 0.99)
    >>> adv = advantages(rollouts, gamma=0.99, normalize=True)
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta import checks

REGULARIZATION = 1e-5


def discounted_returns(rewards: tf.Tensor, mask: tf.Tensor, gamma: float) -> tf.Tensor:
    """``[B, T]`` reward-to-go ``R_t = r_t + gamma R_{t+1}`` over the steps taken."""
    checks.positive("gamma", gamma)
    rewards = rewards * mask
    reversed_ = tf.scan(lambda acc, r: r + gamma * acc, tf.reverse(tf.transpose(rewards), [0]),
                        initializer=tf.zeros_like(rewards[:, 0]))
    return tf.transpose(tf.reverse(reversed_, [0])) * mask


def baseline_features(observations: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """``[B, T, 2 obs_dim + 4]``: ``[obs, obs^2, t, t^2, t^3, 1]``, zero where masked."""
    obs = tf.clip_by_value(observations, -10.0, 10.0)
    steps = tf.shape(observations)[1]
    t = tf.cast(tf.range(steps), obs.dtype)[None, :, None] / 100.0
    t = tf.broadcast_to(t, tf.concat([tf.shape(obs)[:2], [1]], 0))
    features = tf.concat([obs, obs ** 2, t, t ** 2, t ** 3, tf.ones_like(t)], axis=-1)
    return features * mask[..., None]


def fit_linear_baseline(features: tf.Tensor, returns: tf.Tensor,
                        regularization: float = REGULARIZATION) -> tf.Tensor:
    """Ridge regression weights ``[F]`` of ``returns [..]`` on ``features [.., F]`` (float64).

    Solves ``(X^T X + reg I) w = X^T y``, raising ``reg`` tenfold up to five times while
    ``w`` is not finite (rllab's rule).
    """
    x = tf.reshape(tf.cast(features, tf.float64), [-1, features.shape[-1]])
    y = tf.reshape(tf.cast(returns, tf.float64), [-1, 1])
    gram, target = tf.matmul(x, x, transpose_a=True), tf.matmul(x, y, transpose_a=True)
    eye = tf.eye(features.shape[-1], dtype=tf.float64)
    weights = tf.linalg.solve(gram + regularization * eye, target)
    for k in range(1, 6):
        weights = tf.cond(tf.reduce_all(tf.math.is_finite(weights)), lambda: weights,
                          lambda: tf.linalg.solve(gram + regularization * 10 ** k * eye, target))
    return tf.cast(weights[:, 0], features.dtype)


def advantages(observations: tf.Tensor, rewards: tf.Tensor, mask: tf.Tensor, *,
               gamma: float, normalize: bool = True) -> tf.Tensor:
    """``[B, T]`` returns minus the linear baseline fitted on these rollouts; with
    ``normalize`` shifted and scaled to mean 0, std 1 over the steps taken (rllab's
    ``center_adv``)."""
    returns = discounted_returns(rewards, mask, gamma)
    features = baseline_features(observations, mask)
    baseline = tf.linalg.matvec(features, fit_linear_baseline(features, returns))
    adv = (returns - baseline) * mask
    if normalize:
        count = tf.reduce_sum(mask)
        mean = tf.reduce_sum(adv) / count
        std = tf.sqrt(tf.reduce_sum(tf.square(adv - mean) * mask) / count)
        adv = (adv - mean) / (std + 1e-8) * mask
    return tf.stop_gradient(adv)
