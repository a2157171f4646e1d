"""ResNet-12 (MetaOptNet / RFS): its size, its shapes, exact second order through its
batch-statistics normalization, its moving-average form and DropBlock."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests.tfmeta.classify.conv4_maml_test import PLAYER, WAYS, episodes, mean_meta_loss, task_at
from tfmeta import inner as inner_lib
from tfmeta.algorithms import meta_gradients
from tfmeta.classify import classification_objective
from tfmeta.nets.resnet12 import WIDTHS, DropBlock, build_resnet12

SMALL = (2, 3, 3, 4)


def small_resnet12(dtype="float64", activation="softplus", **kw):
    keras.utils.set_random_seed(0)
    return build_resnet12(WAYS, (8, 8, 1), widths=SMALL, activation=activation, dtype=dtype, **kw)


class ShapeTest(absltest.TestCase):

    def test_the_papers_network_has_12_4_million_weights_and_640_features(self):
        embedding = build_resnet12(image_shape=(84, 84, 3))
        inputs = (3,) + WIDTHS[:3]
        expected = sum(9 * i * w + 2 * 9 * w * w + i * w + 4 * 2 * w     # 3 convs, skip, 4 norms
                       for i, w in zip(inputs, WIDTHS))
        self.assertEqual(embedding.count_params(), expected)
        self.assertBetween(expected, 12.3e6, 12.5e6)     # "12.4M" in the RFS paper
        self.assertEqual(tuple(embedding.output_shape), (None, 640))
        convs = [l for l in embedding.layers if isinstance(l, keras.layers.Conv2D)]
        self.assertLen(convs, 16)                      # 12 convolutions + 4 shortcuts
        self.assertTrue(all(not l.use_bias for l in convs))
        model = build_resnet12(5, (28, 28, 1), widths=SMALL)
        self.assertEqual(model.get_layer("head").units, 5)
        self.assertEqual(model(tf.zeros([2, 28, 28, 1])).shape, (2, 5))   # 28 -> 14 -> 7 -> 3 -> 1

    def test_bad_settings_are_one_line_errors(self):
        for kwargs, message in [
                (dict(ways=1), "ways must be an int >= 2 or None, got 1"),
                (dict(widths=(1, 2, 3)), r"widths must be four ints >= 1, got \(1, 2, 3\)"),
                (dict(norm="layer"), "norm must be one of batch_stat, moving, got 'layer'"),
                (dict(drop_rate=0.1), r"drop_rate=0.1 needs norm='moving'"),
                (dict(image_shape=(84, 84)), r"image_shape must be \(H, W, C\)")]:
            with self.assertRaisesRegex(ValueError, message):
                build_resnet12(**kwargs)


class MetaGradientTest(absltest.TestCase):

    def test_second_order_meta_gradient_matches_finite_differences(self):
        model = small_resnet12()
        variables = model.trainable_variables
        self.assertFalse(model.non_trainable_variables)   # batch statistics: nothing else
        inner = inner_lib.sgd(0.1)
        tasks = episodes(2)
        objective = classification_objective(model)
        with tf.GradientTape() as tape:
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            loss = mean_meta_loss(objective, params, tasks, inner, steps=2)
        grads = tape.gradient(loss, variables)
        rng = np.random.default_rng(0)
        direction = [rng.standard_normal(v.shape) for v in variables]
        analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction))
        h, values = 1e-7, []   # two steps through 16 normalizations: strongly curved
        start = [v.numpy().copy() for v in variables]
        for sign in (1.0, -1.0):
            for v, s, d in zip(variables, start, direction):
                v.assign(s + sign * h * d)
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            values.append(float(mean_meta_loss(objective, params, tasks, inner, steps=2)))
        for v, s in zip(variables, start):
            v.assign(s)
        numeric = (values[0] - values[1]) / (2 * h)
        self.assertGreater(abs(analytic), 1e-3)
        self.assertLess(abs(analytic - numeric) / abs(analytic), 1e-6)
        # ... and the second-order terms through the normalization and shortcuts count
        first = meta_gradients(objective, {PLAYER: variables}, task_at(tasks, 0), inner,
                               inner_steps=1, first_order=True)[0][PLAYER]
        second = meta_gradients(objective, {PLAYER: variables}, task_at(tasks, 0), inner,
                                inner_steps=1)[0][PLAYER]
        self.assertGreater(max(float(tf.reduce_max(tf.abs(a - b)))
                               for a, b in zip(first, second)), 1e-6)


class MovingAndDropBlockTest(absltest.TestCase):

    def test_moving_averages_follow_training_batches_and_serve_inference(self):
        model = build_resnet12(None, (12, 12, 3), widths=SMALL, norm="moving")
        means = [v for v in model.non_trainable_variables if "moving_mean" in v.path]
        self.assertLen(means, 16)
        images = tf.random.stateless_uniform([4, 12, 12, 3], [1, 2], -1, 1)
        before = model(images, training=False).numpy()
        model(images, training=True)
        self.assertGreater(max(float(np.abs(m.numpy()).max()) for m in means), 0.0)
        self.assertGreater(np.abs(model(images, training=False).numpy() - before).max(), 1e-6)

    def test_dropblock_drops_squares_at_about_its_rate_in_training_only(self):
        layer = DropBlock(0.2, block_size=3, seed=4)
        x = tf.ones([8, 20, 20, 4])
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
        y = layer(x, training=True).numpy()
        dropped = float(np.mean(y == 0))
        self.assertBetween(dropped, 0.12, 0.28)
        kept = y[y > 0]
        np.testing.assert_allclose(kept, 1.0 / (1.0 - dropped), rtol=1e-5)   # rescaled
        # a dropped unit's zero region is at least one whole block: its 3x3 neighbourhood
        # holds at least 3x3 zeros (a square containing it)
        zeros = (y == 0)
        b, i, j, c = [int(a[0]) for a in np.nonzero(zeros[:, 1:-1, 1:-1])]
        self.assertGreaterEqual(int(zeros[b, i:i + 3, j:j + 3, c].sum()), 1)
        self.assertGreaterEqual(int(zeros[b, max(i - 1, 0):i + 4, max(j - 1, 0):j + 4, c].sum()),
                                9)
        with self.assertRaisesRegex(ValueError, r"drop_rate must be in \[0, 1\), got 1.5"):
            DropBlock(1.5)
        with_drop = build_resnet12(None, (12, 12, 3), widths=SMALL, norm="moving",
                                   drop_rate=0.1)
        self.assertEqual([(l.name, l.block_size) for l in with_drop.layers
                          if isinstance(l, DropBlock)],
                         [("block0_dropout", 1), ("block1_dropout", 1), ("block2_dropblock", 5),
                          ("block3_dropblock", 5)])

    def test_dropblock_masks_are_a_function_of_its_seed_and_call_count_and_ramp_up(self):
        x = tf.ones([4, 10, 10, 2])
        layer = DropBlock(0.3, block_size=3, seed=7)
        first = layer(x, training=True).numpy()
        self.assertEqual(int(layer.calls.numpy()), 1)
        second = layer(x, training=True).numpy()
        self.assertFalse(np.array_equal(first, second))          # a new mask each call
        layer(x, training=False)
        self.assertEqual(int(layer.calls.numpy()), 2)            # inference draws nothing
        # A layer restored at the same count (a resumed run) draws the very same mask.
        again = DropBlock(0.3, block_size=3, seed=7)
        again.calls.assign(1)
        np.testing.assert_array_equal(again(x, training=True).numpy(), second)
        other = DropBlock(0.3, block_size=3, seed=8)
        self.assertFalse(np.array_equal(other(x, training=True).numpy(), first))
        # The ramp: rate 0 at the first call, half way at ramp_steps / 2, full after.
        ramped = DropBlock(0.3, block_size=1, seed=7, ramp_steps=100)
        np.testing.assert_array_equal(ramped(x, training=True).numpy(), x.numpy())
        big = tf.ones([16, 32, 32, 4])
        for calls, rate in ((50, 0.15), (100, 0.3), (400, 0.3)):
            ramped.calls.assign(calls)
            self.assertBetween(float(np.mean(ramped(big, training=True).numpy() == 0)),
                               rate - 0.02, rate + 0.02)
        # Saved with the model's weights: a checkpoint restores the count.
        model = build_resnet12(None, (12, 12, 3), widths=SMALL, norm="moving", drop_rate=0.1,
                               ramp_steps=10)
        model(tf.ones([2, 12, 12, 3]), training=True)
        counts = [v for v in model.non_trainable_variables if v.path.endswith("calls")]
        self.assertLen(counts, 4)
        self.assertEqual([int(v.numpy()) for v in counts], [1, 1, 1, 1])


if __name__ == "__main__":
    absltest.main()
