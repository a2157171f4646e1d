"""The policy-gradient estimator against a closed form, and the TRPO/PPO surrogates."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta import functional
from tfmeta.rl import losses, policy


def bandit_batch(model, params, samples, seed, reward):
    """A one-step Gaussian bandit: observation 0, action ~ pi, advantage = reward(action)."""
    obs = tf.zeros([samples, 1, 1], tf.float64)
    mean, log_std = policy.distribution(model, params, obs)
    noise = tf.random.stateless_normal(mean.shape, seed, dtype=tf.float64)
    actions = mean + tf.exp(log_std) * noise
    ones = tf.ones([samples, 1], tf.float64)
    return losses.PolicyBatch(obs, actions, reward(actions[..., 0]), ones, mean, log_std)


class PolicyGradientTest(absltest.TestCase):

    def test_reinforce_gradient_matches_the_closed_form_on_a_gaussian_bandit(self):
        # reward(a) = -(a - c)^2, a ~ N(mu, sigma^2):  E r = -(mu - c)^2 - sigma^2, so
        # dE/dmu = -2 (mu - c) and dE/dlog_sigma = -2 sigma^2.
        model = policy.build_policy(1, 1, hidden=(), init_std=0.8, dtype="float64")
        kernel, bias, log_std = functional.params_of(model)
        bias = tf.constant([0.3], tf.float64)
        params = [kernel, bias, log_std]
        c, sigma = 1.0, 0.8
        batch = bandit_batch(model, params, 400_000, tf.constant([1, 2]),
                             lambda a: -tf.square(a - c))
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = losses.reinforce_loss(model, params, batch)
        _, g_bias, g_log_std = tape.gradient(loss, params)
        # The loss is minus the surrogate: its gradient is minus the policy gradient.
        np.testing.assert_allclose(-g_bias.numpy(), [-2 * (0.3 - c)], rtol=0.03)
        np.testing.assert_allclose(-g_log_std.numpy(), [-2 * sigma ** 2], rtol=0.03)

    def test_surrogates_equal_the_reinforce_loss_value_and_gradient_at_the_acting_policy(self):
        model = policy.build_policy(1, 1, hidden=(4,), dtype="float64")
        params = functional.params_of(model)
        batch = bandit_batch(model, params, 64, tf.constant([3, 4]), lambda a: a)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(params)
            pg = losses.reinforce_loss(model, params, batch)
            trpo, kl = losses.trpo_surrogate(model, params, batch)
            ppo, _ = losses.ppo_clip_loss(model, params, batch)
        self.assertAlmostEqual(float(kl), 0.0, places=12)
        # d/dtheta of -ratio A at ratio 1 is -A dlog pi: REINFORCE's gradient.
        for other in (trpo, ppo):
            for a, b in zip(tape.gradient(other, params), tape.gradient(pg, params)):
                np.testing.assert_allclose(a, b, atol=1e-12)

    def test_gaussian_kl_matches_its_formula(self):
        kl = policy.kl_divergence(tf.constant([0.0]), tf.constant([0.0]), tf.constant([1.0]),
                                  tf.constant([np.log(2.0)], tf.float32))
        np.testing.assert_allclose(kl, np.log(2) + (1 + 1) / 8 - 0.5, rtol=1e-6)

    def test_bad_activation_is_one_line(self):
        with self.assertRaisesRegex(ValueError, r"^`activation`='elu' is not one of"):
            policy.build_policy(2, 2, activation="elu")


if __name__ == "__main__":
    absltest.main()
