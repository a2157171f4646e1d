"""The MAML paper's half-cheetah direction and velocity tasks, on gymnasium's HalfCheetah-v5.

The tasks (Finn et al. 2017, section 5.3; the authors' rllab envs
``half_cheetah_env_rand_direc.py`` and ``half_cheetah_env_rand.py``):

* ``cheetah_dir``: a direction ``d`` in {-1, +1} (probability 1/2 each); reward
  ``d * v - 0.05 |a|^2``;
* ``cheetah_vel``: a goal velocity ``g`` uniform in ``[0, 2]``; reward
  ``-|v - g| - 0.05 |a|^2``;

with ``v`` the forward velocity over the step and ``a`` the action clipped to
``[-1, 1]``; rollouts of 200 steps that never end early. The dynamics, the
17-d observation (the joint positions but the forward one, and all velocities),
the initial-state noise and ``v = (x_after - x_before) / dt`` (``dt`` 0.05: five
MuJoCo steps of 0.01) are gymnasium's ``HalfCheetah-v5``, as in learn2learn and
ProMP; the authors' rllab env observed 20 numbers (the torso's center of mass
too) and took ``v`` from it.

A rollout runs in one ``tf.while_loop``: the policy acts in the graph, and each
step of the ``B`` simulations is one ``tf.numpy_function`` call on a
:class:`CheetahPool` (``B`` MuJoCo states on gymnasium's compiled model). The
initial states come from ``reset`` seeds and the action noise from stateless
draws, both functions of the rollout's seed: a rollout is a pure function of
(policy, tasks, seed). gymnasium and mujoco are imported only when a rollout is
built (the ``rl`` extra).

Example:
    >>> tasks = DIRECTION.sample_tasks(tf.constant([0, 1]), 2)
    >>> DIRECTION.rollout(policy, tf.repeat(tasks, 5, 0), seed=tf.constant([0, 2])).rewards.shape
    TensorShape([10, 200])
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from tfmeta.rl.environment import Environment, Rollouts, check_horizon

ENV_ID = "HalfCheetah-v5"
OBSERVATION_DIM, ACTION_DIM = 17, 6
HORIZON = 200
CONTROL_COST = 0.05          # rllab: 0.5 * 1e-1 * |a|^2
VELOCITY_LOW, VELOCITY_HIGH = 0.0, 2.0
RESET_NOISE = 0.1            # HalfCheetah-v5: qpos + U(-0.1, 0.1), qvel + 0.1 N(0, 1)
FORWARD_VELOCITY = 8         # observation index of the root's forward velocity (qvel[0])


def sample_directions(seed: tf.Tensor, count: int, dtype=tf.float32) -> tf.Tensor:
    """``[count, 1]`` directions, -1 or +1 with probability 1/2, a pure function of ``seed``."""
    return tf.where(tf.random.stateless_uniform([count, 1], seed, dtype=dtype) < 0.5,
                    tf.constant(-1.0, dtype), tf.constant(1.0, dtype))


def sample_velocities(seed: tf.Tensor, count: int, dtype=tf.float32) -> tf.Tensor:
    """``[count, 1]`` goal velocities uniform in ``[0, 2]``, a pure function of ``seed``."""
    return tf.random.stateless_uniform([count, 1], seed, VELOCITY_LOW, VELOCITY_HIGH, dtype=dtype)


def reset_seeds(seed: tf.Tensor, count: int) -> tf.Tensor:
    """``[count]`` int64 seeds of the rollouts' initial states (gymnasium's ``reset(seed=)``)."""
    return tf.random.stateless_uniform([count], tf.cast(seed, tf.int32), 0, 2 ** 31 - 1,
                                       dtype=tf.int64)


def control_cost(action: tf.Tensor) -> tf.Tensor:
    """``0.05 |clip(a, -1, 1)|^2`` over the last axis."""
    return CONTROL_COST * tf.reduce_sum(tf.square(tf.clip_by_value(action, -1.0, 1.0)), axis=-1)


def direction_reward(tasks: tf.Tensor, velocity: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
    """``[B]`` reward of ``cheetah_dir``: ``d v - 0.05 |a|^2`` (``tasks [B, 1]`` holds ``d``)."""
    return tasks[:, 0] * velocity - control_cost(action)


def velocity_reward(tasks: tf.Tensor, velocity: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
    """``[B]`` reward of ``cheetah_vel``: ``-|v - g| - 0.05 |a|^2`` (``tasks [B, 1]``: ``g``)."""
    return -tf.abs(velocity - tasks[:, 0]) - control_cost(action)


@functools.lru_cache(maxsize=1)
def half_cheetah():
    """:func:`make_half_cheetah`, made once (the pools share its compiled model)."""
    return make_half_cheetah()


def make_half_cheetah():
    """A new gymnasium ``HalfCheetah-v5`` (unwrapped); MuJoCo's compile warnings go to the
    log (once each) instead of stderr and ``MUJOCO_LOG.TXT``.

    Raises:
      ValueError: gymnasium or mujoco does not import.
    """
    try:
        import gymnasium
        import mujoco
    except ImportError as e:
        raise ValueError(f"the half-cheetah tasks need gymnasium[mujoco] (pip install -e "
                         f"\".[rl]\"), which does not import here: {e}") from None
    previous, seen = mujoco.get_mju_user_warning(), set()

    def warn(message):
        if message not in seen:
            seen.add(message)
            logging.info("mujoco: %s", message)
    mujoco.set_mju_user_warning(warn)
    try:
        return gymnasium.make(ENV_ID).unwrapped
    finally:
        mujoco.set_mju_user_warning(previous)


class CheetahPool:
    """``B`` HalfCheetah-v5 simulations on one compiled model, reset and stepped together.

    ``reset`` and ``step`` do what gymnasium's ``reset(seed=s)`` and ``step(a)`` do to the
    MuJoCo state (tests/tfmeta/rl/cheetah_test.py holds them equal), on one ``MjData``
    per rollout instead of one environment (and model) per rollout.
    """

    def __init__(self):
        import mujoco
        self._mujoco, env = mujoco, half_cheetah()
        self.model, self.frame_skip, self.dt = env.model, env.frame_skip, env.dt
        self.init_qpos, self.init_qvel = env.init_qpos.copy(), env.init_qvel.copy()
        self.data: list = []

    def _observation(self, data) -> np.ndarray:
        return np.concatenate([data.qpos[1:], data.qvel])

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        """``[B, 17]`` first observations of ``B`` simulations reset with ``seeds [B]``."""
        mujoco, model = self._mujoco, self.model
        while len(self.data) < len(seeds):
            self.data.append(mujoco.MjData(model))
        out = np.empty((len(seeds), OBSERVATION_DIM))
        for b, seed in enumerate(seeds):
            data, rng = self.data[b], np.random.default_rng(int(seed))
            mujoco.mj_resetData(model, data)
            data.qpos[:] = self.init_qpos + rng.uniform(-RESET_NOISE, RESET_NOISE, model.nq)
            data.qvel[:] = self.init_qvel + RESET_NOISE * rng.standard_normal(model.nv)
            mujoco.mj_forward(model, data)
            out[b] = self._observation(data)
        return out

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``([B, 17] observations, [B] forward velocities)`` after one step of each."""
        mujoco, model = self._mujoco, self.model
        obs, velocity = np.empty((len(actions), OBSERVATION_DIM)), np.empty(len(actions))
        for b, action in enumerate(actions):
            data = self.data[b]
            before = data.qpos[0]
            data.ctrl[:] = action
            mujoco.mj_step(model, data, nstep=self.frame_skip)
            mujoco.mj_rnePostConstraint(model, data)
            velocity[b] = (data.qpos[0] - before) / self.dt
            obs[b] = self._observation(data)
        return obs, velocity


def rollout(reward: Callable, policy: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
            tasks: tf.Tensor, *, seed: tf.Tensor, horizon: int = HORIZON,
            deterministic: bool = False) -> Rollouts:
    """Runs one half-cheetah rollout per row of ``tasks`` (``[B, 1]``), rewarded by ``reward``.

    Args:
      reward: ``(tasks [B, 1], velocity [B], clipped action [B, 6]) -> [B]``.
      policy: ``observations [B, 17] -> (mean [B, 6], log_std [B, 6])`` of a Gaussian.
      tasks: each rollout's direction or goal velocity.
      seed: int32 ``[2]``; the initial states are reset with :func:`reset_seeds`, the
        action noise of step ``t`` from ``stateless_fold_in(fold_in(seed, 1), t)``.
      horizon: steps per rollout (the paper: 200).
      deterministic: act with the mean, not a sample.

    Returns:
      :class:`Rollouts` (``mask`` all ones), gradients stopped.
    """
    check_horizon(horizon)
    tasks = tf.convert_to_tensor(tasks)
    dtype, batch = tasks.dtype, tf.shape(tasks)[0]
    seed = tf.cast(seed, tf.int32)
    pool = CheetahPool()   # one per traced rollout: rollouts never share simulations
    resets = reset_seeds(seed, batch)
    noise_seed = tf.random.experimental.stateless_fold_in(seed, 1)

    def observe(x):
        x = tf.cast(x, dtype)
        x.set_shape(tasks.shape[:1].concatenate([OBSERVATION_DIM]))
        return x

    def body(t, obs, obs_a, act_a, rew_a):
        mean, log_std = policy(obs)
        noise = tf.random.stateless_normal(
            tf.shape(mean), tf.random.experimental.stateless_fold_in(noise_seed, t), dtype=dtype)
        action = mean if deterministic else mean + tf.exp(log_std) * noise
        clipped = tf.clip_by_value(action, -1.0, 1.0)
        new, velocity = tf.numpy_function(pool.step, [tf.cast(clipped, tf.float64)],
                                          [tf.float64, tf.float64], name="half_cheetah_step")
        velocity = tf.reshape(tf.cast(velocity, dtype), [batch])
        return (t + 1, observe(new), obs_a.write(t, obs), act_a.write(t, action),
                rew_a.write(t, reward(tasks, velocity, clipped)))

    first = observe(tf.numpy_function(pool.reset, [resets], tf.float64, name="half_cheetah_reset"))
    arrays = [tf.TensorArray(dtype, size=horizon) for _ in range(3)]
    _, _, *arrays = tf.while_loop(lambda t, *_: t < horizon, body,
                                  (tf.constant(0), first, *arrays), maximum_iterations=horizon)
    obs, act, rew = (tf.stop_gradient(a.stack()) for a in arrays)
    rew = tf.transpose(rew)
    return Rollouts(tf.transpose(obs, [1, 0, 2]), tf.transpose(act, [1, 0, 2]), rew,
                    tf.ones_like(rew))


def running_velocity(rollouts: Rollouts) -> tf.Tensor:
    """``[B, T, 1]``: the mean of the root's forward velocity (observation 8) over the steps
    so far, a smooth picture of how fast, and which way, the cheetah runs."""
    velocity = rollouts.observations[..., FORWARD_VELOCITY:FORWARD_VELOCITY + 1]
    steps = tf.cast(tf.range(1, tf.shape(velocity)[1] + 1), velocity.dtype)[None, :, None]
    return tf.cumsum(velocity, axis=1) / steps


def check() -> None:
    """Raises ``ValueError`` (one line) if gymnasium's HalfCheetah-v5 cannot be made here."""
    half_cheetah()


def _environment(name: str, title: str, sample, reward, goal: str) -> Environment:
    return Environment(
        name=name, title=title, observation_dim=OBSERVATION_DIM, action_dim=ACTION_DIM,
        task_dim=1, horizon=HORIZON, sample_tasks=sample,
        rollout=functools.partial(rollout, reward), trace=running_velocity,
        trace_label=f"MAML, mean actions: running mean velocity (dashed: {goal})", check=check)


DIRECTION = _environment("cheetah_dir", "half-cheetah, direction", sample_directions,
                         direction_reward, "the direction")
VELOCITY = _environment("cheetah_vel", "half-cheetah, goal velocity", sample_velocities,
                        velocity_reward, "the goal")
