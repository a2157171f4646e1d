"""Tests of the GAN losses against numpy formulas and of the gradient penalty's derivatives."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta.gan import losses


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logits(seed, shape=(7, 1)):
    return np.random.default_rng(seed).normal(scale=2.0, size=shape)


def _tanh_critic(params):
    """A small nonlinear critic [B, 2, 2, 1] -> [B, 1] whose input gradient depends on params."""
    w1, w2 = params

    def critic(x):
        h = tf.tanh(tf.reshape(x, [-1, 4]) @ w1)
        return h @ w2
    return critic


def _critic_params(seed):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=(4, 3))), tf.constant(rng.normal(size=(3, 1)))]


def _gp_inputs(seed, n=5):
    rng = np.random.default_rng(seed)
    real = tf.constant(rng.uniform(-1, 1, size=(n, 2, 2, 1)))
    fake = tf.constant(rng.uniform(-1, 1, size=(n, 2, 2, 1)))
    eps = tf.constant(rng.uniform(0, 1, size=(n, 1, 1, 1)))
    return real, fake, eps


def _central_difference(f, params, direction, h=1e-5):
    plus = f([p + h * d for p, d in zip(params, direction)])
    minus = f([p - h * d for p, d in zip(params, direction)])
    return (float(plus) - float(minus)) / (2 * h)


def _dot(grads, direction):
    return float(sum(tf.reduce_sum(g * d) for g, d in zip(grads, direction)))


class ElementwiseLossesTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("minimax_discriminator", losses.minimax_discriminator_loss,
         lambda r, f: np.mean(-np.log(_sigmoid(r))) + np.mean(-np.log(1 - _sigmoid(f)))),
        ("nonsaturating_discriminator", losses.nonsaturating_discriminator_loss,
         lambda r, f: np.mean(-np.log(_sigmoid(r))) + np.mean(-np.log(1 - _sigmoid(f)))),
        ("wasserstein_discriminator", losses.wasserstein_discriminator_loss,
         lambda r, f: np.mean(f) - np.mean(r)),
    )
    def test_discriminator_loss_matches_numpy_formula(self, loss_fn, formula):
        real, fake = _logits(0), _logits(1)
        self.assertAllClose(loss_fn(tf.constant(real), tf.constant(fake)), formula(real, fake))

    @parameterized.named_parameters(
        ("minimax_generator_is_log_one_minus_d", losses.minimax_generator_loss,
         lambda f: np.mean(np.log(1 - _sigmoid(f)))),
        ("nonsaturating_generator_is_minus_log_d", losses.nonsaturating_generator_loss,
         lambda f: np.mean(-np.log(_sigmoid(f)))),
        ("wasserstein_generator", losses.wasserstein_generator_loss,
         lambda f: -np.mean(f)),
    )
    def test_generator_loss_matches_numpy_formula(self, loss_fn, formula):
        fake = _logits(2)
        self.assertAllClose(loss_fn(tf.constant(fake)), formula(fake))

    @parameterized.named_parameters(
        ("minimax_discriminator", lambda x: losses.minimax_discriminator_loss(x, x)),
        ("minimax_generator", losses.minimax_generator_loss),
        ("nonsaturating_generator", losses.nonsaturating_generator_loss),
    )
    def test_logit_losses_stay_finite_for_huge_logits(self, loss_fn):
        x = tf.constant([[-1e4], [1e4], [0.0]])
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss_fn(x)
        self.assertTrue(np.isfinite(value.numpy()))
        self.assertTrue(np.all(np.isfinite(tape.gradient(value, x).numpy())))

    def test_minimax_losses_at_zero_logits_are_log_two(self):
        zeros = tf.zeros([4, 1])
        self.assertAllClose(losses.minimax_discriminator_loss(zeros, zeros), 2 * np.log(2))
        self.assertAllClose(losses.minimax_generator_loss(zeros), -np.log(2))
        self.assertAllClose(losses.nonsaturating_generator_loss(zeros), np.log(2))


class GradientPenaltyTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("norm_below_one", 0.1), ("norm_above_one", 3.0), ("norm_one", None))
    def test_linear_critic_penalty_is_squared_weight_norm_minus_one(self, scale):
        w = np.random.default_rng(3).normal(size=(1, 2, 2, 1))
        w = w / np.linalg.norm(w) if scale is None else scale * w
        critic = lambda x: tf.reduce_sum(tf.constant(w) * x, axis=[1, 2, 3])
        real, fake, eps = _gp_inputs(4)
        gp = losses.gradient_penalty(critic, real, fake, eps)
        self.assertAllClose(gp, (np.linalg.norm(w) - 1) ** 2)

    def test_penalty_uses_per_sample_norm_at_the_mixed_points(self):
        # critic(x) = 0.5 ||x||^2 per sample has input gradient x itself.
        critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])
        real, fake, eps = _gp_inputs(5)
        mixed = eps.numpy() * real.numpy() + (1 - eps.numpy()) * fake.numpy()
        norms = np.sqrt(np.sum(mixed ** 2, axis=(1, 2, 3)))
        self.assertAllClose(losses.gradient_penalty(critic, real, fake, eps),
                            np.mean((norms - 1) ** 2))

    @parameterized.named_parameters(("eager", False), ("tf_function", True))
    def test_outer_gradient_of_linear_critic_penalty_matches_closed_form_and_fd(self, compiled):
        real, fake, eps = _gp_inputs(6)
        w0 = tf.constant(np.random.default_rng(7).normal(size=(1, 2, 2, 1)))

        def penalty(w):
            return losses.gradient_penalty(
                lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3]), real, fake, eps)

        def value_and_grad(w):
            with tf.GradientTape() as tape:
                tape.watch(w)
                value = penalty(w)
            return value, tape.gradient(value, w)

        if compiled:
            value_and_grad = tf.function(value_and_grad)
        _, grad = value_and_grad(w0)
        self.assertIsNotNone(grad)
        norm = np.linalg.norm(w0.numpy())
        closed_form = 2 * (norm - 1) * w0.numpy() / norm
        self.assertAllClose(grad, closed_form)
        self.assertGreater(float(tf.norm(grad)), 0.0)
        direction = [tf.constant(np.random.default_rng(8).normal(size=(1, 2, 2, 1)))]
        fd = _central_difference(lambda p: penalty(p[0]), [w0], direction)
        self.assertAllClose(_dot([grad], direction), fd, rtol=1e-6)

    def test_outer_gradient_of_nonlinear_critic_penalty_matches_fd(self):
        real, fake, eps = _gp_inputs(9)
        params = _critic_params(10)

        def penalty(p):
            return losses.gradient_penalty(_tanh_critic(p), real, fake, eps)

        with tf.GradientTape() as tape:
            tape.watch(params)
            value = penalty(params)
        grads = tape.gradient(value, params)
        self.assertTrue(all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads))
        self.assertTrue(all(float(tf.norm(g)) > 0 for g in grads))
        direction = _critic_params(11)
        self.assertAllClose(_dot(grads, direction),
                            _central_difference(penalty, params, direction), rtol=1e-6)

    def test_penalty_gradient_flows_to_fake_samples(self):
        # No stop-gradient: the generator receives gradient through the penalty's mixed points.
        real, fake, eps = _gp_inputs(12)
        critic = _tanh_critic(_critic_params(13))
        with tf.GradientTape() as tape:
            tape.watch(fake)
            value = losses.gradient_penalty(critic, real, fake, eps)
        grad = tape.gradient(value, fake)
        self.assertIsNotNone(grad)
        self.assertGreater(float(tf.norm(grad)), 0.0)

    def test_one_sgd_step_through_penalty_has_third_order_meta_gradient_matching_fd(self):
        # What second-order MAML does: w' = w - a dGP/dw, meta-loss GP(w'); its gradient
        # needs d^2 GP / dw^2, which contains the third derivative of the critic.
        real, fake, eps = _gp_inputs(14)
        val_real, val_fake, val_eps = _gp_inputs(15)
        params = _critic_params(16)

        def meta_loss(p):
            with tf.GradientTape() as inner:
                inner.watch(p)
                inner_loss = losses.gradient_penalty(_tanh_critic(p), real, fake, eps)
            grads = inner.gradient(inner_loss, p)
            adapted = [q - 0.1 * g for q, g in zip(p, grads)]
            return losses.gradient_penalty(_tanh_critic(adapted), val_real, val_fake, val_eps)

        with tf.GradientTape() as outer:
            outer.watch(params)
            value = meta_loss(params)
        meta_grads = outer.gradient(value, params)
        self.assertTrue(all(g is not None and np.all(np.isfinite(g.numpy()))
                            for g in meta_grads))
        direction = _critic_params(17)
        self.assertAllClose(_dot(meta_grads, direction),
                            _central_difference(meta_loss, params, direction), rtol=1e-6)

    def test_zero_input_gradient_gives_penalty_one_and_finite_gradients(self):
        real, fake, eps = _gp_inputs(18)
        w = tf.zeros([1, 2, 2, 1], tf.float64)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([w, fake])
            gp = losses.gradient_penalty(
                lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3]), real, fake, eps)
        self.assertAllClose(gp, 1.0)
        for grad in tape.gradient(gp, [w, fake], unconnected_gradients="zero"):
            self.assertTrue(np.all(np.isfinite(grad.numpy())))

    def test_critic_independent_of_input_gives_penalty_one(self):
        real, fake, eps = _gp_inputs(19)
        gp = losses.gradient_penalty(lambda x: tf.ones([5, 1], tf.float64), real, fake, eps)
        self.assertAllClose(gp, 1.0)

    def test_unknown_rank_raises(self):
        fn = tf.function(
            lambda r: losses.gradient_penalty(lambda x: x, r, r, 0.5),
            input_signature=[tf.TensorSpec(None, tf.float32)])
        with self.assertRaisesRegex(ValueError, "known rank"):
            fn.get_concrete_function()


if __name__ == "__main__":
    absltest.main()
