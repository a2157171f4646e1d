"""The half-cheetah tasks: gymnasium's dynamics, the paper's rewards by hand, pure rollouts."""

from gymnasium.envs.mujoco import half_cheetah_v5
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.rl import cheetah, envs

# Mean actions, some beyond [-1, 1] (clipped before the step and the control cost).
ACTIONS = np.array([[0.5, -1.5, 0.2, 0.9, -0.3, 2.0],
                    [-0.7, 0.4, 1.2, -0.1, 0.6, -0.8]], np.float32)


def constant_policy(obs):
    """The mean of row ``b`` is ``ACTIONS[b]``, whatever it observes; log_std -1."""
    mean = tf.constant(ACTIONS, obs.dtype) + 0.0 * obs[:, :6]
    return mean, tf.fill(tf.shape(mean), tf.constant(-1.0, obs.dtype))


def by_hand(reset_seed, actions, horizon):
    """gymnasium's HalfCheetah-v5 stepped by hand: ``(observations [T, 17], velocities [T])``
    with the velocity ``(x_after - x_before) / dt`` read from the MuJoCo state."""
    env = cheetah.make_half_cheetah()   # gymnasium.make("HalfCheetah-v5").unwrapped, quiet
    assert isinstance(env, half_cheetah_v5.HalfCheetahEnv) and env.spec.id == "HalfCheetah-v5"
    obs, _ = env.reset(seed=int(reset_seed))
    observations, velocities = [], []
    for t in range(horizon):
        observations.append(obs)
        x_before = float(env.data.qpos[0])
        obs, _, _, _, info = env.step(np.clip(actions[t], -1, 1))
        velocities.append((float(env.data.qpos[0]) - x_before) / env.dt)
        np.testing.assert_allclose(velocities[-1], info["x_velocity"], rtol=1e-12)
    return np.array(observations), np.array(velocities)


class CheetahTest(absltest.TestCase):

    def test_pool_resets_and_steps_as_gymnasium_does(self):
        pool = cheetah.CheetahPool()
        seeds = np.array([3, 11])
        first = pool.reset(seeds)
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, size=(4, 2, 6))
        for b, seed in enumerate(seeds):
            want, _ = by_hand(seed, actions[:, b], 4)
            np.testing.assert_array_equal(first[b], want[0])
        for t in range(3):
            obs, velocity = pool.step(actions[t])
            for b, seed in enumerate(seeds):
                want, want_v = by_hand(seed, actions[:, b], t + 2)
                np.testing.assert_array_equal(obs[b], want[t + 1])
                self.assertEqual(velocity[b], want_v[t])

    def test_rewards_match_a_hand_computation_from_the_mujoco_state(self):
        horizon, seed = 4, tf.constant([7, 8])
        resets = cheetah.reset_seeds(seed, 2).numpy()
        clipped = np.clip(ACTIONS.astype(np.float64), -1, 1)
        control = 0.05 * np.sum(clipped ** 2, axis=1)   # 0.5 * 0.1 |a|^2, a clipped
        for name, tasks, reward in (
                ("cheetah_dir", [[1.0], [-1.0]], lambda g, v, c: g * v - c),
                ("cheetah_vel", [[0.3], [1.7]], lambda g, v, c: -abs(v - g) - c)):
            env = envs.get(name)
            traj = env.rollout(constant_policy, tf.constant(tasks, tf.float64), seed=seed,
                               horizon=horizon, deterministic=True)
            self.assertEqual(traj.observations.shape, (2, horizon, 17))
            np.testing.assert_array_equal(traj.mask, np.ones((2, horizon)))
            for b in range(2):
                obs, velocity = by_hand(resets[b], np.repeat(ACTIONS[b:b + 1], horizon, 0),
                                        horizon)
                np.testing.assert_allclose(traj.observations[b], obs, rtol=1e-12)
                want = [reward(tasks[b][0], v, control[b]) for v in velocity]
                np.testing.assert_allclose(traj.rewards[b], want, rtol=1e-12, err_msg=name)
                self.assertTrue(np.any(np.abs(velocity) > 1e-3))   # it moved: v counts

    def test_rollout_is_a_pure_function_of_the_seed(self):
        env = envs.get("cheetah_vel")
        tasks = env.sample_tasks(tf.constant([0, 1]), 2)
        run = tf.function(lambda s: env.rollout(constant_policy, tasks, seed=s, horizon=5))
        a, b = run(tf.constant([5, 6])), run(tf.constant([5, 6]))
        c = env.rollout(constant_policy, tasks, seed=tf.constant([5, 7]), horizon=5)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        self.assertFalse(np.allclose(a.observations[:, 0], c.observations[:, 0]))   # resets
        self.assertFalse(np.allclose(a.actions, c.actions))                         # noise

    def test_tasks_are_the_papers_and_a_function_of_the_seed(self):
        directions = cheetah.sample_directions(tf.constant([3, 4]), 400).numpy()
        self.assertEqual(set(directions.ravel()), {-1.0, 1.0})
        self.assertBetween(float(np.mean(directions > 0)), 0.4, 0.6)
        velocities = cheetah.sample_velocities(tf.constant([3, 4]), 400).numpy()
        self.assertEqual(velocities.shape, (400, 1))
        self.assertTrue(np.all((velocities >= 0) & (velocities <= 2)))
        self.assertGreater(velocities.max(), 1.9)
        np.testing.assert_array_equal(velocities,
                                      cheetah.sample_velocities(tf.constant([3, 4]), 400))

    def test_unknown_env_is_one_line(self):
        names = r"\['navigation2d', 'cheetah_dir', 'cheetah_vel'\]"
        with self.assertRaisesRegex(ValueError, rf"^`env`='ant_dir' is not one of {names}$"):
            envs.get("ant_dir")


if __name__ == "__main__":
    absltest.main()
