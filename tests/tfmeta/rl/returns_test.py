"""Discounted returns, the paper's linear feature baseline and normalized advantages."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.rl import returns


class ReturnsTest(absltest.TestCase):

    def test_discounted_returns_are_the_reward_to_go_over_the_steps_taken(self):
        rewards = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 5.0, 5.0]])
        mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], np.float64)
        got = returns.discounted_returns(tf.constant(rewards), tf.constant(mask), 0.5)
        np.testing.assert_allclose(got, [[1 + 1 + 0.75 + 0.5, 2 + 1.5 + 1, 3 + 2, 4],
                                         [1.5, 1, 0, 0]])

    def test_features_are_obs_obs2_t_t2_t3_one(self):
        obs = tf.constant([[[1.0, -2.0], [0.5, 20.0]]])
        got = returns.baseline_features(obs, tf.ones([1, 2]))
        np.testing.assert_allclose(got[0, 1], [0.5, 10.0, 0.25, 100.0, 0.01, 1e-4, 1e-6, 1.0],
                                   rtol=1e-6)

    def test_baseline_fit_is_ridge_least_squares(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(50, 8))
        y = x @ rng.normal(size=8) + 0.01 * rng.normal(size=50)
        want = np.linalg.solve(x.T @ x + 1e-5 * np.eye(8), x.T @ y)
        got = returns.fit_linear_baseline(tf.constant(x), tf.constant(y))
        np.testing.assert_allclose(got, want, rtol=1e-8)

    def test_baseline_explains_returns_linear_in_the_features_and_advantages_are_normalized(self):
        rng = np.random.default_rng(1)
        obs = tf.constant(rng.uniform(-1, 1, size=(6, 10, 2)))
        mask = tf.constant(np.concatenate([np.ones((6, 8)), np.zeros((6, 2))], axis=1))
        rewards = tf.constant(rng.normal(size=(6, 10)))
        adv = returns.advantages(obs, rewards, mask, gamma=0.9)
        taken = adv.numpy()[mask.numpy() > 0]
        self.assertAlmostEqual(taken.mean(), 0.0, places=6)
        self.assertAlmostEqual(taken.std(), 1.0, places=5)
        np.testing.assert_array_equal(adv.numpy()[:, 8:], 0.0)
        raw = returns.advantages(obs, rewards, mask, gamma=0.9, normalize=False)
        ret = returns.discounted_returns(rewards, mask, 0.9)
        # Least squares with a constant feature: residuals sum to ~0 and are smaller than the
        # returns' own spread.
        self.assertLess(abs(float(tf.reduce_sum(raw))), 1e-3)
        self.assertLess(float(tf.math.reduce_std(raw)), float(tf.math.reduce_std(ret)))


if __name__ == "__main__":
    absltest.main()
