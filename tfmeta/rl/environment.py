"""What every task family of :mod:`tfmeta.rl` offers the learner: :class:`Environment`.

An environment is data, not a class hierarchy: its dimensions, its paper horizon,
``sample_tasks(seed, count, dtype) -> [count, task_dim]`` and
``rollout(policy, tasks [B, task_dim], *, seed, horizon, deterministic) -> Rollouts``
(one rollout per row of ``tasks``; a pure function of the policy, the tasks and the
seed). :mod:`tfmeta.rl.envs` names them; :mod:`.navigation` and :mod:`.cheetah`
define them.

Example:
    >>> env = envs.get("navigation2d")
    >>> tasks = env.sample_tasks(tf.constant([0, 1]), 4)
    >>> env.rollout(policy, tasks, seed=tf.constant([0, 2]), horizon=env.horizon).rewards.shape
    TensorShape([4, 100])
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf


class Rollouts(NamedTuple):
    """A batch of rollouts, batch-major: ``observations [B, T, obs]`` (what the agent saw
    when it acted), ``actions [B, T, act]`` (as sampled, before clipping), ``rewards [B, T]``,
    ``mask [B, T]`` (1 for the steps taken, 0 after the rollout ended)."""
    observations: tf.Tensor
    actions: tf.Tensor
    rewards: tf.Tensor
    mask: tf.Tensor


class Environment(NamedTuple):
    """A task family: what the learner, the experiment and its figure need of it.

    ``trace(rollouts) -> [B, T', d]`` is what the figure draws of mean-action rollouts:
    ``d = 2``, positions in the plane; ``d = 1``, one quantity against time.
    ``check()`` raises ``ValueError`` (one line) when the environment cannot run here.
    """
    name: str
    title: str
    observation_dim: int
    action_dim: int
    task_dim: int
    horizon: int
    sample_tasks: Callable[..., tf.Tensor]
    rollout: Callable[..., Rollouts]
    trace: Callable[[Rollouts], tf.Tensor]
    trace_label: str
    check: Callable[[], None] = lambda: None


def check_horizon(horizon) -> int:
    """``horizon`` if it is an integer >= 1, else one ``ValueError`` line."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"`horizon` must be an integer >= 1, got {horizon!r}")
    return horizon


def rollout_returns(rollouts: Rollouts) -> tf.Tensor:
    """``[B]`` undiscounted return of each rollout (the paper's "average return")."""
    return tf.reduce_sum(rollouts.rewards * rollouts.mask, axis=1)
