"""Tests of the two-player GAN objective on small float64 DCGANs (real computations)."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta import functional
from tfmeta.gan import losses, objective as gan
from tfmeta.nets import dcgan

LATENT, SHAPE, WIDTH, BATCH = 6, (8, 8, 1), 2, 3
ALL_LOSSES = [(name.replace("-", "_"), name) for name in gan.LOSSES]


def _models(dtype="float64", seed=0):
    g = dcgan.build_generator(LATENT, SHAPE, WIDTH, dtype=dtype, seed=seed)
    d = dcgan.build_discriminator(SHAPE, WIDTH, dtype=dtype, seed=seed + 10)
    return g, d


def _params(g, d):
    return {"generator": functional.params_of(g), "discriminator": functional.params_of(d)}


def _images(seed, dtype=tf.float64, n=BATCH):
    return tf.random.stateless_uniform((n,) + SHAPE, seed=[seed, 0], minval=-1, maxval=1,
                                       dtype=dtype)


def _seed(a, b=0):
    return tf.constant([a, b], tf.int32)


def _direction(params, seed):
    return [tf.random.stateless_normal(p.shape, seed=[seed, i], dtype=p.dtype)
            for i, p in enumerate(params)]


def _dot(grads, direction):
    return float(sum(tf.reduce_sum(g * v) for g, v in zip(grads, direction)))


class GanObjectiveTest(tf.test.TestCase, parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.g, cls.d = _models()

    def _objective(self, loss, **kwargs):
        return gan.gan_objective(self.g, self.d, loss=loss, **kwargs)

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_same_seed_gives_identical_losses(self, loss):
        objective, params, x = self._objective(loss), _params(self.g, self.d), _images(1)
        first, second = objective(params, x, _seed(3)), objective(params, x, _seed(3))
        self.assertEqual(set(first), {"generator", "discriminator"})
        for player in first:
            self.assertEqual(first[player].shape, ())
            self.assertEqual(first[player].dtype, tf.float64)
            self.assertAllEqual(first[player], second[player])

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_different_seeds_give_different_losses(self, loss):
        objective, params, x = self._objective(loss), _params(self.g, self.d), _images(1)
        first, second = objective(params, x, _seed(3)), objective(params, x, _seed(4))
        for player in first:
            self.assertNotAllClose(first[player], second[player])

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_losses_match_direct_computation_from_the_documented_draws(self, loss):
        objective, params = self._objective(loss), _params(self.g, self.d)
        x, seed = _images(2), _seed(5)
        z = gan.sample_latents(seed, BATCH, LATENT, tf.float64)
        fake = gan.generate(self.g, params["generator"], z)
        critic = lambda images: functional.apply(self.d, params["discriminator"], images)
        real_out, fake_out = critic(x).numpy(), critic(fake).numpy()
        sp = lambda t: np.logaddexp(0.0, t)
        if loss == "wgan-gp":
            eps = tf.random.stateless_uniform(
                [BATCH, 1, 1, 1], seed=tf.random.experimental.stateless_fold_in(seed, 1),
                dtype=tf.float64)
            gp = losses.gradient_penalty(critic, x, fake, eps)
            expected = {"discriminator": fake_out.mean() - real_out.mean() + 10.0 * gp,
                        "generator": -fake_out.mean()}
        else:
            expected = {"discriminator": sp(-real_out).mean() + sp(fake_out).mean(),
                        "generator": (-sp(fake_out).mean() if loss == "minimax"
                                      else sp(-fake_out).mean())}
        actual = objective(params, x, seed)
        for player in expected:
            self.assertAllClose(actual[player], expected[player], rtol=1e-12, atol=1e-12)

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_each_player_loss_has_nonzero_gradient_for_all_own_params(self, loss):
        objective, params = self._objective(loss), _params(self.g, self.d)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(params)
            out = objective(params, _images(3), _seed(6))
        for player in ("generator", "discriminator"):
            grads = tape.gradient(out[player], params[player])
            for variable, grad in zip(getattr(self, player[0]).trainable_variables, grads):
                self.assertIsNotNone(grad, f"{player} {variable.path}")
                self.assertTrue(np.all(np.isfinite(grad.numpy())), f"{player} {variable.path}")
                if loss == "wgan-gp" and player == "discriminator" and variable.path == "fc/bias":
                    # mean(fake) - mean(real) cancels the critic's output bias, and the
                    # penalty only sees input gradients: its gradient is exactly zero.
                    self.assertAllEqual(grad, tf.zeros_like(grad))
                else:
                    self.assertGreater(float(tf.norm(grad)), 0.0, f"{player} {variable.path}")

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_discriminator_loss_depends_on_generator_params_no_stop_gradient(self, loss):
        objective, params = self._objective(loss), _params(self.g, self.d)
        with tf.GradientTape() as tape:
            tape.watch(params["generator"])
            d_loss = objective(params, _images(4), _seed(7))["discriminator"]
        grads = tape.gradient(d_loss, params["generator"])
        self.assertTrue(all(g is not None for g in grads))
        self.assertGreater(float(tf.linalg.global_norm(grads)), 0.0)

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_tf_function_matches_eager_values_and_gradients(self, loss):
        objective, params = self._objective(loss), _params(self.g, self.d)
        x, seed = _images(5), _seed(8)

        def losses_and_grads(p, images, s):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(p)
                out = objective(p, images, s)
            return out, {k: tape.gradient(out[k], p[k]) for k in out}

        eager = losses_and_grads(params, x, seed)
        compiled = tf.function(losses_and_grads)(params, x, seed)
        self.assertAllClose(compiled, eager, rtol=1e-10, atol=1e-12)

    def test_tf_function_with_unknown_batch_size(self):
        objective, params = self._objective("wgan-gp"), _params(self.g, self.d)
        fn = tf.function(objective, input_signature=[
            tf.nest.map_structure(tf.TensorSpec.from_tensor, params),
            tf.TensorSpec((None,) + SHAPE, tf.float64), tf.TensorSpec([2], tf.int32)])
        for n in (2, 4):
            x = _images(6, n=n)
            self.assertAllClose(fn(params, x, _seed(9)), objective(params, x, _seed(9)))

    @parameterized.named_parameters(*ALL_LOSSES)
    def test_second_order_meta_gradient_through_one_inner_step_matches_fd(self, loss):
        # One step of each player from the same pre-update params, then validation losses;
        # for wgan-gp this differentiates through the penalty's input gradient (third order).
        objective, params = self._objective(loss), _params(self.g, self.d)
        inner_x, val_x = _images(7), _images(8)

        def meta_losses(p):
            with tf.GradientTape(persistent=True) as inner:
                inner.watch(p)
                out = objective(p, inner_x, _seed(10))
            adapted = {k: [q - 0.05 * g for q, g in zip(p[k], inner.gradient(out[k], p[k]))]
                       for k in p}
            return objective(adapted, val_x, _seed(11))

        with tf.GradientTape(persistent=True) as outer:
            outer.watch(params)
            val = meta_losses(params)
        h = 1e-6
        for player in ("generator", "discriminator"):
            grads = outer.gradient(val[player], params[player])
            self.assertTrue(all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads))
            v = _direction(params[player], seed=20)
            shifted = lambda sign: dict(params, **{player: [
                q + sign * h * d for q, d in zip(params[player], v)]})
            fd = (float(meta_losses(shifted(1))[player])
                  - float(meta_losses(shifted(-1))[player])) / (2 * h)
            self.assertAllClose(_dot(grads, v), fd, rtol=1e-5, atol=1e-8)

    def test_float32_reference_models_run_all_losses(self):
        g, d = dcgan.build_generator(seed=0), dcgan.build_discriminator(seed=1)
        params = _params(g, d)
        x = tf.random.stateless_uniform([2, 28, 28, 1], seed=[0, 0], minval=-1, maxval=1)
        for loss in gan.LOSSES:
            out = gan.gan_objective(g, d, loss=loss)(params, x, _seed(0))
            for value in out.values():
                self.assertEqual(value.dtype, tf.float32)
                self.assertTrue(np.isfinite(value.numpy()))

    def test_gp_weight_scales_the_penalty_only_in_the_discriminator_loss(self):
        params, x, seed = _params(self.g, self.d), _images(9), _seed(12)
        plain = self._objective("wgan-gp", gp_weight=0.0)(params, x, seed)
        ten = self._objective("wgan-gp", gp_weight=10.0)(params, x, seed)
        twenty = self._objective("wgan-gp", gp_weight=20.0)(params, x, seed)
        self.assertAllClose(plain["generator"], ten["generator"])
        self.assertAllClose(twenty["discriminator"] - ten["discriminator"],
                            ten["discriminator"] - plain["discriminator"])
        self.assertGreater(float(ten["discriminator"] - plain["discriminator"]), 0.0)

    def test_batch_size_sets_the_number_of_latents(self):
        params, x = _params(self.g, self.d), _images(10)
        out = self._objective("minimax", batch_size=5)(params, x, _seed(13))
        z = gan.sample_latents(_seed(13), 5, LATENT, tf.float64)
        fake_out = functional.apply(self.d, params["discriminator"],
                                    gan.generate(self.g, params["generator"], z))
        self.assertAllClose(out["generator"], losses.minimax_generator_loss(fake_out))

    def test_wgan_gp_with_batch_size_different_from_batch_raises(self):
        objective = self._objective("wgan-gp", batch_size=BATCH + 1)
        with self.assertRaisesRegex(ValueError, f"batch has {BATCH} images but {BATCH + 1}"):
            objective(_params(self.g, self.d), _images(11), _seed(14))

    def test_unknown_loss_raises_listing_valid_losses(self):
        with self.assertRaisesRegex(
                ValueError, r"'hinge'.*\['wgan-gp', 'minimax', 'non-saturating'\]"):
            gan.gan_objective(self.g, self.d, loss="hinge")

    def test_missing_player_raises(self):
        objective = self._objective("minimax")
        with self.assertRaisesRegex(ValueError, r"missing \['discriminator'\]"):
            objective({"generator": functional.params_of(self.g)}, _images(12), _seed(15))

    @parameterized.named_parameters(
        ("latent_dim_mismatch", dict(latent_dim=LATENT + 1), "latent_dim=7"),
        ("negative_gp_weight", dict(gp_weight=-1.0), "gp_weight must be >= 0, got -1.0"),
        ("zero_batch_size", dict(batch_size=0), "batch_size must be a positive int"),
    )
    def test_invalid_configuration_raises_with_value(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            gan.gan_objective(self.g, self.d, **kwargs)

    def test_generate_uses_the_given_params_not_the_variables(self):
        params = functional.params_of(self.g)
        z = gan.sample_latents(_seed(16), 2, LATENT, tf.float64)
        shifted = [p + 0.5 for p in params]
        self.assertAllClose(gan.generate(self.g, params, z), self.g(z))
        self.assertNotAllClose(gan.generate(self.g, shifted, z), self.g(z))


if __name__ == "__main__":
    absltest.main()
