"""The 2D navigation environment: clipping, reward, termination, and the in-graph rollout."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.rl import envs, navigation


class NavigationTest(absltest.TestCase):

    def test_step_clips_the_action_and_rewards_minus_the_distance_after_the_move(self):
        position = tf.constant([[0.0, 0.0], [0.2, 0.1]])
        action = tf.constant([[0.5, -0.05], [0.01, 0.02]])
        goal = tf.constant([[0.3, 0.4], [0.21, 0.12]])
        new, reward, reached = navigation.step(position, action, goal)
        np.testing.assert_allclose(new, [[0.1, -0.05], [0.21, 0.12]], atol=1e-7)
        np.testing.assert_allclose(reward, [-np.hypot(0.2, 0.45), 0.0], atol=1e-6)
        np.testing.assert_array_equal(reached, [False, True])

    def test_goals_are_uniform_in_the_square_and_a_function_of_the_seed(self):
        goals = navigation.sample_goals(tf.constant([3, 4]), 2000)
        self.assertTrue(np.all(np.abs(goals) <= 0.5))
        self.assertGreater(float(tf.reduce_max(goals)), 0.45)
        np.testing.assert_array_equal(goals, navigation.sample_goals(tf.constant([3, 4]), 2000))

    def test_rollout_follows_the_mean_policy_and_stops_at_the_goal(self):
        goals = tf.constant([[0.25, 0.0], [-0.5, 0.5]])

        def toward(position):   # a deterministic policy: step at most 0.1 toward the goal
            return goals - position, tf.zeros_like(position)

        traj = navigation.rollout(toward, goals, seed=tf.constant([0, 1]), horizon=8,
                                  deterministic=True)
        self.assertEqual(traj.observations.shape, (2, 8, 2))
        # Rollout 0 reaches (0.25, 0) after 3 moves and ends: 3 steps taken.
        np.testing.assert_array_equal(traj.mask[0], [1, 1, 1, 0, 0, 0, 0, 0])
        np.testing.assert_allclose(traj.rewards[0, :3], [-0.15, -0.05, 0.0], atol=1e-6)
        np.testing.assert_allclose(traj.observations[1, 1], [-0.1, 0.1], atol=1e-6)
        self.assertEqual(float(tf.reduce_sum(traj.mask[1])), 5.0)
        returns = navigation.rollout_returns(traj)
        np.testing.assert_allclose(returns[0], -0.2, atol=1e-6)

    def test_rollout_is_a_pure_function_of_the_seed(self):
        goals = navigation.sample_goals(tf.constant([0, 0]), 4)
        policy = lambda obs: (tf.zeros_like(obs), tf.fill(tf.shape(obs), -2.0))   # noqa: E731
        a = navigation.rollout(policy, goals, seed=tf.constant([5, 6]), horizon=10)
        b = navigation.rollout(policy, goals, seed=tf.constant([5, 6]), horizon=10)
        c = navigation.rollout(policy, goals, seed=tf.constant([5, 7]), horizon=10)
        np.testing.assert_array_equal(a.actions, b.actions)
        self.assertFalse(np.allclose(a.actions, c.actions))

    def test_normalized_actions_move_a_tenth_of_the_action_clipped_as_rllab_normalize(self):
        position = tf.zeros([3, 2])
        action = tf.constant([[0.5, -0.3], [2.0, -1.5], [1.0, 0.05]])
        goal = tf.constant([[0.05, -0.03], [0.1, 0.1], [0.0, 0.0]])
        new, reward, reached = navigation.step(position, action, goal, action_scale=0.1)
        # rllab: lb + (a + 1) / 2 (ub - lb) = 0.1 a on [-0.1, 0.1], then clipped.
        np.testing.assert_allclose(new, [[0.05, -0.03], [0.1, -0.1], [0.1, 0.005]], atol=1e-7)
        np.testing.assert_allclose(reward, [0.0, -0.2, -np.hypot(0.1, 0.005)], atol=1e-6)
        np.testing.assert_array_equal(reached, [True, False, False])
        # The environment's rollout and trace agree: the drawn path is the rollout's.
        goals = tf.constant([[0.3, -0.2]])
        policy = lambda obs: (tf.fill(tf.shape(obs), 0.5), tf.zeros_like(obs))   # noqa: E731
        traj = navigation.NORMALIZED.rollout(policy, goals, seed=tf.constant([0, 1]), horizon=4,
                                             deterministic=True)
        np.testing.assert_allclose(traj.observations[0, 1:], [[0.05, 0.05], [0.1, 0.1],
                                                              [0.15, 0.15]], atol=1e-6)
        np.testing.assert_allclose(navigation.NORMALIZED.trace(traj)[0, -1], [0.2, 0.2],
                                   atol=1e-6)
        raw = navigation.ENV.rollout(policy, goals, seed=tf.constant([0, 1]), horizon=4,
                                     deterministic=True)
        np.testing.assert_allclose(raw.observations[0, 1], [0.1, 0.1], atol=1e-6)

    def test_navigation_normalizes_by_default_and_the_half_cheetah_always(self):
        self.assertIs(envs.get("navigation2d"), navigation.NORMALIZED)
        self.assertIs(envs.get("navigation2d", normalize_actions=False), navigation.ENV)
        self.assertIs(envs.get("cheetah_dir"), envs.ENVS["cheetah_dir"])
        with self.assertRaisesRegex(ValueError, r"^`normalize_actions`=false applies to "
                                                r"navigation2d; cheetah_dir's actions are always "
                                                r"in \[-1, 1\]$"):
            envs.get("cheetah_dir", normalize_actions=False)

    def test_bad_horizon_is_one_line(self):
        with self.assertRaisesRegex(ValueError, r"^`horizon` must be an integer >= 1, got 0$"):
            navigation.rollout(lambda o: (o, o), tf.zeros([1, 2]), seed=tf.constant([0, 0]),
                               horizon=0)


if __name__ == "__main__":
    absltest.main()
