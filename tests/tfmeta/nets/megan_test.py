"""MeGAN's conditional generator: shapes, range, and what each conditioning listens to."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.functional import apply, params_of
from tfmeta.nets.megan import CONDITIONINGS, build_conditional_generator

WAYS, SIZE, NOISE = 3, 8, 4


def inputs(labels, seed=0, noise=None):
    labels = tf.constant(labels)
    n = int(labels.shape[0])
    images = tf.random.stateless_uniform([n, SIZE, SIZE, 1], [seed, 1], -1, 1)
    noise = tf.random.stateless_normal([n, NOISE], [seed, 2]) if noise is None else noise
    return images, tf.one_hot(labels, WAYS), noise


def build(conditioning):
    keras.utils.set_random_seed(0)
    return build_conditional_generator((SIZE, SIZE, 1), ways=WAYS, conditioning=conditioning,
                                       noise_dim=NOISE, width=4)


class ConditionalGeneratorTest(absltest.TestCase):

    def test_every_conditioning_maps_its_inputs_to_images_in_the_tanh_range(self):
        for conditioning in CONDITIONINGS:
            g = build(conditioning)
            out = apply(g, params_of(g), list(inputs([0, 1, 2, 0, 1])), training=True)
            self.assertEqual(out.shape, (5, SIZE, SIZE, 1), conditioning)
            self.assertLessEqual(float(tf.reduce_max(tf.abs(out))), 1.0)

    def test_image_conditioning_follows_the_image(self):
        g = build("image")
        images, one_hot, noise = inputs([0, 1])
        a = g([images, one_hot, noise])
        b = g([tf.reverse(images, [0]), one_hot, noise])
        self.assertGreater(float(tf.reduce_max(tf.abs(a - b))), 1e-4)
        c = g([images, tf.reverse(one_hot, [0]), noise])   # labels are not listened to
        np.testing.assert_allclose(a.numpy(), c.numpy(), atol=1e-6)

    def test_prototype_is_the_class_mean_of_the_encoded_support(self):
        image, prototype = build("image"), build("prototype")
        for layer in image.layers:   # the same layers by name
            if layer.weights:
                prototype.get_layer(layer.name).set_weights(layer.get_weights())
        images, one_hot, _ = inputs([0, 1, 0, 2])
        same = tf.tile(tf.random.stateless_normal([1, NOISE], [3, 3]), [4, 1])
        out = prototype([images, one_hot, same]).numpy()
        np.testing.assert_allclose(out[0], out[2], atol=1e-6)    # class 0's two shots
        self.assertGreater(float(np.max(np.abs(out[0] - out[1]))), 1e-4)
        # One shot per class: the prototype is the image's own encoding.
        one_shot = [t[:2] for t in (images, one_hot, same)]
        np.testing.assert_allclose(prototype(one_shot).numpy(), image(one_shot).numpy(),
                                   atol=1e-6)

    def test_label_conditioning_ignores_the_image_and_none_ignores_both(self):
        images, one_hot, noise = inputs([0, 1, 2])
        other = tf.random.stateless_uniform(images.shape, [9, 9], -1, 1)
        label, none = build("label"), build("none")
        np.testing.assert_allclose(label([images, one_hot, noise]).numpy(),
                                   label([other, one_hot, noise]).numpy(), atol=1e-6)
        self.assertGreater(float(tf.reduce_max(tf.abs(
            label([images, one_hot, noise]) - label([images, tf.roll(one_hot, 1, 0), noise])))),
            1e-4)
        np.testing.assert_allclose(none([images, one_hot, noise]).numpy(),
                                   none([other, tf.roll(one_hot, 1, 0), noise]).numpy(),
                                   atol=1e-6)

    def test_bad_conditioning_and_image_shape_name_the_value(self):
        with self.assertRaisesRegex(ValueError, "conditioning.*'class'"):
            build_conditional_generator(conditioning="class")
        with self.assertRaisesRegex(ValueError, "divisible by 4"):
            build_conditional_generator((30, 30, 1))


if __name__ == "__main__":
    absltest.main()
