"""Tests of the DCGAN builders: shapes, ranges, parameter counts, names and geometry."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta import functional
from tfmeta.nets import dcgan


class DcganTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("reference_28x28x1", 100, (28, 28, 1), 64),
        ("rgb_32x32x3_width16", 20, (32, 32, 3), 16),
        ("non_square_8x12x2", 5, (8, 12, 2), 4),
    )
    def test_generator_maps_latents_to_images_in_tanh_range(self, latent, shape, width):
        g = dcgan.build_generator(latent, shape, width, seed=0)
        self.assertTrue(g.built)
        z = 3.0 * tf.random.stateless_normal([3, latent], seed=[0, 1])
        x = g(z)
        self.assertEqual(tuple(x.shape), (3,) + shape)
        self.assertAllInRange(x, -1.0, 1.0)
        self.assertGreater(float(tf.math.reduce_std(x)), 0.0)

    @parameterized.named_parameters(
        ("reference_28x28x1", (28, 28, 1), 64),
        ("rgb_32x32x3_width16", (32, 32, 3), 16),
        ("non_square_8x12x2", (8, 12, 2), 4),
    )
    def test_discriminator_maps_images_to_one_logit(self, shape, width):
        d = dcgan.build_discriminator(shape, width, seed=0)
        self.assertTrue(d.built)
        out = d(tf.random.stateless_uniform((5,) + shape, seed=[0, 2], minval=-1, maxval=1))
        self.assertEqual(tuple(out.shape), (5, 1))

    def test_reference_parameter_counts_match_hand_computation(self):
        g = dcgan.build_generator()
        d = dcgan.build_discriminator()
        g_fc = 100 * 7 * 7 * 128 + 7 * 7 * 128
        g_deconv1 = 4 * 4 * 128 * 64 + 64
        g_deconv2 = 4 * 4 * 64 * 1 + 1
        d_conv1 = 4 * 4 * 1 * 64 + 64
        d_conv2 = 4 * 4 * 64 * 128 + 128
        d_fc = 7 * 7 * 128 * 1 + 1
        self.assertEqual(functional.num_params(g), g_fc + g_deconv1 + g_deconv2)  # 765,633
        self.assertEqual(functional.num_params(d), d_conv1 + d_conv2 + d_fc)      # 138,561
        self.assertEqual(functional.num_params(g), 765_633)
        self.assertEqual(functional.num_params(d), 138_561)

    def test_models_have_no_normalization_or_non_trainable_state(self):
        for model in (dcgan.build_generator(), dcgan.build_discriminator()):
            self.assertEmpty(model.non_trainable_variables)
            for layer in model.layers:
                self.assertNotIn("Normalization", type(layer).__name__)

    def test_leaky_relu_slope_is_0_2(self):
        g = dcgan.build_generator(4, (4, 4, 1), 2)
        lrelus = [l for l in g.layers if isinstance(l, keras.layers.LeakyReLU)]
        self.assertLen(lrelus, 2)
        self.assertAllClose(lrelus[0](tf.constant([-1.0, 2.0])), [-0.2, 2.0])

    def test_variable_paths_are_stable(self):
        g = dcgan.build_generator(4, (8, 8, 1), 2)
        d = dcgan.build_discriminator((8, 8, 1), 2)
        self.assertEqual([v.path for v in g.trainable_variables],
                         ["fc/kernel", "fc/bias", "deconv1/kernel", "deconv1/bias",
                          "deconv2/kernel", "deconv2/bias"])
        self.assertEqual([v.path for v in d.trainable_variables],
                         ["conv1/kernel", "conv1/bias", "conv2/kernel", "conv2/bias",
                          "fc/kernel", "fc/bias"])

    def test_seed_makes_initialization_deterministic(self):
        a = dcgan.build_discriminator((8, 8, 1), 2, seed=3)
        b = dcgan.build_discriminator((8, 8, 1), 2, seed=3)
        for va, vb in zip(a.trainable_variables, b.trainable_variables):
            self.assertAllEqual(va, vb)
        # Per-layer seeds: two layers of the same kernel shape must not share draws.
        c = dcgan.build_generator(4, (4, 4, 4), 4, seed=3)
        self.assertNotAllClose(c.get_layer("deconv1").kernel, c.get_layer("deconv2").kernel)

    def test_float64_policy_gives_float64_variables_and_outputs(self):
        g = dcgan.build_generator(4, (8, 8, 1), 2, dtype="float64")
        d = dcgan.build_discriminator((8, 8, 1), 2, dtype="float64")
        self.assertTrue(all(v.dtype == "float64" for v in g.trainable_variables))
        self.assertTrue(all(v.dtype == "float64" for v in d.trainable_variables))
        out = d(g(tf.ones([2, 4], tf.float64)))
        self.assertEqual(out.dtype, tf.float64)

    @parameterized.named_parameters(
        ("height_30", (30, 28, 1)),
        ("width_6", (28, 6, 1)),
        ("side_2", (2, 2, 1)),
    )
    def test_image_side_not_divisible_by_4_raises(self, shape):
        with self.assertRaisesRegex(ValueError, r"divisible by 4.*" + str(shape[0])):
            dcgan.build_generator(image_shape=shape)
        with self.assertRaisesRegex(ValueError, "divisible by 4"):
            dcgan.build_discriminator(image_shape=shape)

    @parameterized.named_parameters(
        ("two_dims", dict(image_shape=(28, 28)), "image_shape"),
        ("zero_channels", dict(image_shape=(28, 28, 0)), "image_shape"),
        ("zero_width", dict(width=0), "`width` must be an integer >= 1, got 0"),
        ("float_latent", dict(latent_dim=10.0), "`latent_dim` must be an integer >= 1, got 10.0"),
    )
    def test_invalid_sizes_raise_with_value(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            dcgan.build_generator(**kwargs)

    def test_conv_same_padding_equals_torch_padding_one(self):
        # The peer uses Conv2d(k4, s2, p1) and ConvTranspose2d(k4, s2, p1). "same" must pad
        # one pixel per side: compare with explicit padding, and check the transposed
        # convolution is the adjoint of that padded convolution (what torch's ConvT is).
        d = dcgan.build_discriminator((8, 8, 2), 3, dtype="float64", seed=1)
        conv = d.get_layer("conv1")
        x = tf.random.stateless_normal([2, 8, 8, 2], seed=[1, 1], dtype=tf.float64)
        explicit = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), conv.kernel,
                                strides=2, padding="VALID") + conv.bias
        self.assertAllClose(conv(x), explicit)

        g = dcgan.build_generator(4, (8, 8, 2), 3, dtype="float64", seed=1)
        deconv = g.get_layer("deconv2")            # [B, 4, 4, 3] -> [B, 8, 8, 2]
        kernel = tf.convert_to_tensor(deconv.kernel)   # (4, 4, out=2, in=3): HWIO of a conv 2->3
        y = tf.random.stateless_normal([2, 4, 4, 3], seed=[1, 2], dtype=tf.float64)
        x = tf.random.stateless_normal([2, 8, 8, 2], seed=[1, 3], dtype=tf.float64)
        conv_x = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel,
                              strides=2, padding="VALID")
        deconv_y = deconv(y) - deconv.bias
        self.assertAllClose(tf.reduce_sum(deconv_y * x), tf.reduce_sum(y * conv_x))
        self.assertEqual(np.shape(deconv_y), (2, 8, 8, 2))


if __name__ == "__main__":
    absltest.main()
