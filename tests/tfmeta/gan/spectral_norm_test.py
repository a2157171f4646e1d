"""Spectral normalization of the discriminator (``spectral_norm``), on real computations.

The estimate of the largest singular value against numpy's SVD, the normalized function's
scale invariance, its first derivatives and a second-order meta-gradient through an inner step
against float64 central finite differences, and a run built with ``spectral_norm`` whose
discriminator no longer depends on its kernels' scale.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfmeta import functional
from tfmeta.experiments import maml_gan
from tfmeta.gan import objective as gan, spectral
from tfmeta.nets import dcgan

H = 1e-6
SHAPE = (8, 8, 1)


def _kernels(width=32, shape=(28, 28, 1), seed=3):
    d = dcgan.build_discriminator(shape, width, dtype="float64", seed=seed)
    return [v.numpy() for v in d.trainable_variables if len(v.shape) >= 2]


def _top(kernel):
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


class SpectralNormTest(tf.test.TestCase, parameterized.TestCase):

    def test_the_estimate_approaches_the_largest_singular_value_from_below(self):
        for kernel in _kernels():
            true = _top(kernel)
            five = float(spectral.largest_singular_value(tf.constant(kernel)))
            many = float(spectral.largest_singular_value(tf.constant(kernel), iterations=2000))
            self.assertLessEqual(five, true * (1 + 1e-12), kernel.shape)
            self.assertGreater(five, 0.9 * true, kernel.shape)
            self.assertAllClose(many, true, rtol=1e-5)
            normalized, = spectral.spectral_normalize([tf.constant(kernel)])
            self.assertBetween(_top(normalized.numpy()), 1.0 - 1e-12, 1 / 0.9)

    def test_kernels_lose_their_scale_and_biases_keep_theirs(self):
        kernel, bias = tf.constant(_kernels()[1]), tf.constant([0.5, -2.0], tf.float64)
        a = spectral.spectral_normalize([kernel, bias])
        b = spectral.spectral_normalize([3.7 * kernel, bias])
        self.assertAllClose(a[0], b[0], rtol=1e-12, atol=0)
        self.assertAllEqual(a[1], bias)
        self.assertGreater(_top(3.7 * kernel.numpy()), 3.0)
        self.assertLess(_top(b[0].numpy()), 1 / 0.9)

    def test_first_derivatives_match_finite_differences(self):
        kernel = tf.constant(_kernels(width=4)[1])
        weights = tf.random.stateless_normal(kernel.shape, [1, 2], dtype=tf.float64)
        direction = tf.random.stateless_normal(kernel.shape, [3, 4], dtype=tf.float64)

        def value(k):
            return tf.reduce_sum(weights * spectral.spectral_normalize([k])[0])

        with tf.GradientTape() as tape:
            tape.watch(kernel)
            out = value(kernel)
        analytic = float(tf.reduce_sum(tape.gradient(out, kernel) * direction))
        fd = (float(value(kernel + H * direction)) - float(value(kernel - H * direction))) / (2 * H)
        self.assertAllClose(analytic, fd, rtol=1e-6)

    @parameterized.parameters("non-saturating", "wgan-gp")
    def test_second_order_meta_gradient_through_one_inner_step_matches_fd(self, loss):
        g = dcgan.build_generator(6, SHAPE, 2, dtype="float64", seed=0)
        d = dcgan.build_discriminator(SHAPE, 2, dtype="float64", seed=10)
        objective = gan.gan_objective(g, d, loss=loss, spectral_norm=True)
        params = {"generator": functional.params_of(g), "discriminator": functional.params_of(d)}
        inner_x, val_x = (tf.random.stateless_uniform((3,) + SHAPE, [s, 0], -1, 1, tf.float64)
                          for s in (7, 8))

        def meta_losses(p):
            with tf.GradientTape(persistent=True) as inner:
                inner.watch(p)
                out = objective(p, inner_x, tf.constant([10, 0]))
            adapted = {k: [q - 0.05 * g for q, g in zip(p[k], inner.gradient(out[k], p[k]))]
                       for k in p}
            return objective(adapted, val_x, tf.constant([11, 0]))

        with tf.GradientTape(persistent=True) as outer:
            outer.watch(params)
            val = meta_losses(params)
        for player in ("discriminator", "generator"):
            grads = outer.gradient(val[player], params[player])
            v = [tf.random.stateless_normal(q.shape, [20, i], dtype=tf.float64)
                 for i, q in enumerate(params[player])]
            shifted = lambda sign: dict(params, **{player: [
                q + sign * H * e for q, e in zip(params[player], v)]})
            fd = (float(meta_losses(shifted(1))[player])
                  - float(meta_losses(shifted(-1))[player])) / (2 * H)
            analytic = float(sum(tf.reduce_sum(a * e) for a, e in zip(grads, v)))
            self.assertAllClose(analytic, fd, rtol=1e-5, atol=1e-8)

    def test_the_objective_runs_the_discriminator_at_its_normalized_parameters(self):
        g = dcgan.build_generator(6, SHAPE, 2, dtype="float64", seed=0)
        d = dcgan.build_discriminator(SHAPE, 2, dtype="float64", seed=10)
        params = {"generator": functional.params_of(g), "discriminator": functional.params_of(d)}
        normalized = dict(params, discriminator=spectral.spectral_normalize(
            params["discriminator"]))
        batch = tf.random.stateless_uniform((3,) + SHAPE, [5, 0], -1, 1, tf.float64)
        seed = tf.constant([1, 2])
        with_sn = gan.gan_objective(g, d, loss="non-saturating", spectral_norm=True)
        plain = gan.gan_objective(g, d, loss="non-saturating")
        a, b, c = with_sn(params, batch, seed), plain(normalized, batch, seed), plain(
            params, batch, seed)
        for player in a:
            self.assertAllClose(a[player], b[player], rtol=1e-12)
        self.assertNotAllClose(a["discriminator"], c["discriminator"])

    def test_a_run_with_spectral_norm_ignores_its_discriminators_scale(self):
        batch = tf.random.stateless_uniform([4, 8, 8, 1], [1, 2], -1.0, 1.0)
        seed = tf.constant([3, 5])
        for sn in (True, False):
            config = maml_gan.MamlGanConfig(generator_width=4, discriminator_width=4,
                                            latent_dim=4, loss="non-saturating",
                                            spectral_norm=sn)
            setup = maml_gan.build(config, (8, 8, 1))
            params = {"generator": functional.params_of(setup.generator),
                      "discriminator": functional.params_of(setup.discriminator)}
            scaled = dict(params, discriminator=[   # biases start at 0: the kernels' scale only
                10.0 * p for p in params["discriminator"]])
            before = setup.objective(params, batch, seed)["discriminator"]
            after = setup.objective(scaled, batch, seed)["discriminator"]
            if sn:
                self.assertAllClose(before, after, rtol=1e-5)
            else:
                self.assertGreater(abs(float(after - before)), 0.1)

    def test_bad_input_is_one_clear_error(self):
        with self.assertRaisesRegex(ValueError, r"rank >= 2, got shape \(3,\)"):
            spectral.largest_singular_value(tf.ones([3]))
        with self.assertRaisesRegex(ValueError, "iterations must be an int >= 1, got 0"):
            spectral.largest_singular_value(tf.ones([3, 2]), iterations=0)


if __name__ == "__main__":
    tf.test.main()
