"""Policy-gradient losses of MAML for RL (pure functions of parameters and a batch).

The estimator is the MAML paper's (and its code's): the inner loss is the
REINFORCE surrogate ``-mean_t log pi(a_t | s_t) A_t`` over the steps taken, with
``A_t`` the reward-to-go minus the linear baseline, normalized. Its gradient is
the vanilla policy gradient; the meta-gradient differentiates the post-update
surrogate through the inner gradient step (second order), the sampling
distribution of the pre-update rollouts being treated as fixed -- the paper's
estimator, not DiCE, which would add the term of that dependence.

The outer losses are TRPO's importance-sampled surrogate with its mean KL, and
PPO's clipped surrogate.

Example:
    >>> objective = reinforce_objective(model)
    >>> adapted = adaptation_trajectory(objective, {"policy": params}, Reused(batch),
    ...                                 sgd(0.1), inner_steps=1, seed=seed)[-1]
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from tfmeta.rl import policy as policy_lib

PLAYER = "policy"


class PolicyBatch(NamedTuple):
    """Rollouts of one task, ready for a loss: ``observations [.., T, obs]``, ``actions
    [.., T, act]``, ``advantages [.., T]``, ``mask [.., T]`` and the acting policy's
    ``old_mean``, ``old_log_std [.., T, act]`` (for the ratio and the KL)."""
    observations: tf.Tensor
    actions: tf.Tensor
    advantages: tf.Tensor
    mask: tf.Tensor
    old_mean: tf.Tensor
    old_log_std: tf.Tensor


def masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``values`` over the entries where ``mask`` is 1."""
    return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def reinforce_loss(model, params, batch: PolicyBatch) -> tf.Tensor:
    """The inner loss: ``-mean log pi(a|s) A`` (its gradient: REINFORCE with a baseline)."""
    mean, log_std = policy_lib.distribution(model, params, batch.observations)
    logp = policy_lib.log_prob(mean, log_std, batch.actions)
    return -masked_mean(logp * batch.advantages, batch.mask)


def reinforce_objective(model):
    """:func:`reinforce_loss` as the engine's one-player objective ``{"policy": loss}``."""
    def objective(params, batch, seed):
        del seed
        return {PLAYER: reinforce_loss(model, params[PLAYER], batch)}
    return objective


def _log_ratio_and_kl(model, params, batch: PolicyBatch):
    mean, log_std = policy_lib.distribution(model, params, batch.observations)
    old_logp = policy_lib.log_prob(batch.old_mean, batch.old_log_std, batch.actions)
    log_ratio = policy_lib.log_prob(mean, log_std, batch.actions) - old_logp
    kl = policy_lib.kl_divergence(batch.old_mean, batch.old_log_std, mean, log_std)
    return log_ratio, masked_mean(kl, batch.mask)


def trpo_surrogate(model, params, batch: PolicyBatch) -> tuple[tf.Tensor, tf.Tensor]:
    """``(loss, kl)``: ``-mean ratio A`` and the mean KL(acting policy || policy at params)."""
    log_ratio, kl = _log_ratio_and_kl(model, params, batch)
    return -masked_mean(tf.exp(log_ratio) * batch.advantages, batch.mask), kl


def ppo_clip_loss(model, params, batch: PolicyBatch,
                  clip: float = 0.2) -> tuple[tf.Tensor, tf.Tensor]:
    """``(loss, kl)``: ``-mean min(ratio A, clip(ratio, 1 -+ clip) A)`` and the mean KL."""
    log_ratio, kl = _log_ratio_and_kl(model, params, batch)
    ratio = tf.exp(log_ratio)
    clipped = tf.clip_by_value(ratio, 1.0 - clip, 1.0 + clip)
    objective = tf.minimum(ratio * batch.advantages, clipped * batch.advantages)
    return -masked_mean(objective, batch.mask), kl
