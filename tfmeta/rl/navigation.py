"""The MAML paper's 2D navigation tasks, vectorized and in the graph.

A point agent starts at the origin; each step its action, clipped to
``[-0.1, 0.1]`` per coordinate, moves it (:data:`NORMALIZED`: the action times
0.1, so that the policy's ``[-1, 1]`` is the move's range, as rllab's
``normalize`` wrapper in the authors' code); the reward is minus its distance to the
task's goal after the move; a rollout ends after ``horizon`` steps (the paper:
100) or when the agent is within 0.01 of the goal in both coordinates (the
authors' ``point_env_randgoal``). Goals are uniform in ``[-0.5, 0.5]^2``.

:func:`rollout` runs a batch of rollouts at once (one goal per rollout, any
number of tasks) in one ``tf.while_loop``; every draw is a stateless function of
the seed, so a rollout is a pure function of (policy, goals, seed).

Example:
    >>> goals = sample_goals(tf.constant([0, 1]), 20)
    >>> rollouts = rollout(lambda obs: (tf.zeros_like(obs), tf.zeros_like(obs)),
    ...                        tf.repeat(goals, 20, axis=0), seed=tf.constant([0, 2]))
    >>> rollouts.rewards.shape
    TensorShape([400, 100])
"""

from __future__ import annotations

import functools
from typing import Callable

import tensorflow as tf

from tfmeta.rl.environment import Environment, Rollouts, check_horizon, rollout_returns

GOAL_LOW, GOAL_HIGH = -0.5, 0.5
ACTION_BOUND = 0.1
HORIZON = 100
SUCCESS_RADIUS = 0.01
OBSERVATION_DIM = ACTION_DIM = 2


def sample_goals(seed: tf.Tensor, count: int, dtype=tf.float32) -> tf.Tensor:
    """``[count, 2]`` goals uniform in ``[-0.5, 0.5]^2``, a pure function of ``seed``."""
    return tf.random.stateless_uniform([count, 2], seed, GOAL_LOW, GOAL_HIGH, dtype=dtype)


def step(position: tf.Tensor, action: tf.Tensor, goal: tf.Tensor, action_scale: float = 1.0):
    """One move of every agent: ``(new_position, reward, reached)``.

    The action times ``action_scale`` is clipped to ``[-0.1, 0.1]``; the reward is minus the
    distance from the new position to the goal; ``reached`` is true within 0.01 of it in both
    coordinates.
    """
    new = position + _move(action, action_scale)
    offset = new - goal
    reward = -tf.norm(offset, axis=-1)
    reached = tf.reduce_all(tf.abs(offset) < SUCCESS_RADIUS, axis=-1)
    return new, reward, reached


def _move(action: tf.Tensor, action_scale: float) -> tf.Tensor:
    return tf.clip_by_value(action * action_scale, -ACTION_BOUND, ACTION_BOUND)


def rollout(policy: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]], goals: tf.Tensor, *,
            seed: tf.Tensor, horizon: int = HORIZON, deterministic: bool = False,
            action_scale: float = 1.0) -> Rollouts:
    """Runs one rollout per row of ``goals`` (``[B, 2]``) in one symbolic loop.

    Args:
      policy: ``observations [B, 2] -> (mean [B, 2], log_std [B, 2])`` of a Gaussian.
      goals: the goal of each rollout.
      seed: int32 ``[2]``; the action noise of step ``t`` is drawn from
        ``stateless_fold_in(seed, t)``.
      horizon: steps per rollout.
      deterministic: act with the mean (for pictures), not a sample.
      action_scale: the move is the action times this, clipped (:func:`step`).

    Returns:
      :class:`Rollouts`, gradients stopped (the data of a policy gradient).
    """
    check_horizon(horizon)
    goals = tf.convert_to_tensor(goals)
    dtype, batch = goals.dtype, tf.shape(goals)[0]
    seed = tf.cast(seed, tf.int32)
    arrays = [tf.TensorArray(dtype, size=horizon) for _ in range(4)]

    def body(t, position, alive, obs_a, act_a, rew_a, mask_a):
        mean, log_std = policy(position)
        noise = tf.random.stateless_normal(
            tf.shape(mean), tf.random.experimental.stateless_fold_in(seed, t), dtype=dtype)
        action = mean if deterministic else mean + tf.exp(log_std) * noise
        new, reward, reached = step(position, action, goals, action_scale)
        new = tf.where(alive[:, None] > 0, new, position)   # a finished agent stays put
        return (t + 1, new, alive * (1.0 - tf.cast(reached, dtype)),
                obs_a.write(t, position), act_a.write(t, action),
                rew_a.write(t, reward * alive), mask_a.write(t, alive))

    start = (tf.constant(0), tf.zeros([batch, 2], dtype), tf.ones([batch], dtype), *arrays)
    _, _, _, *arrays = tf.while_loop(lambda t, *_: t < horizon, body, start,
                                     maximum_iterations=horizon)
    obs, act, rew, mask = (tf.stop_gradient(a.stack()) for a in arrays)
    return Rollouts(tf.transpose(obs, [1, 0, 2]), tf.transpose(act, [1, 0, 2]),
                        tf.transpose(rew), tf.transpose(mask))


def positions(rollouts: Rollouts, action_scale: float = 1.0) -> tf.Tensor:
    """``[B, T + 1, 2]`` where the agent was, from the origin on (the moves scaled and
    clipped as :func:`step` does; it stays put after the rollout ended)."""
    moves = _move(rollouts.actions, action_scale)
    moved = tf.cumsum(moves * rollouts.mask[..., None], axis=1)
    return tf.concat([tf.zeros_like(moved[:, :1]), moved], axis=1)


ENV = Environment(
    name="navigation2d", title="2D navigation", observation_dim=OBSERVATION_DIM,
    action_dim=ACTION_DIM, task_dim=2, horizon=HORIZON, sample_tasks=sample_goals,
    rollout=rollout, trace=positions,
    trace_label="MAML mean paths after 0..k steps (stars: goals)")
# The authors' code (cbfinn/maml_rl, maml_trpo_point.py) wraps the environment in rllab's
# `normalize`: the policy acts in [-1, 1] (its initial std of 1 is 0.1 of a move), mapped
# linearly onto [-0.1, 0.1] and clipped.
NORMALIZED = ENV._replace(rollout=functools.partial(rollout, action_scale=ACTION_BOUND),
                          trace=functools.partial(positions, action_scale=ACTION_BOUND))

__all__ = ["ENV", "NORMALIZED", "Rollouts", "positions", "rollout", "rollout_returns",
           "sample_goals", "step"]
