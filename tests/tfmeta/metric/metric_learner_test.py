"""``MetricLearner``: it learns a tiny separable episode stream, refuses NaNs, counts steps.

The stream: 4x4 images with two channels; channel 0 carries the class (a
per-episode random +-1 pattern, new classes every episode, small noise),
channel 1 is loud noise. An untrained embedding mixes both channels and sits
near chance; learning to compare the right channel separates the classes.
"""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta.metric import MetricLearner, MetricNets
from tfmeta.nets.conv4 import build_conv4_embedding
from tfmeta.nets.metric_heads import (FullContextEmbedding, build_relation_module,
                                      build_siamese_scorer)
from tfmeta.types import Reused, Task

E, N, K, Q = 4, 3, 2, 3
SHAPE = (4, 4, 2)


def _episodes(seed, episodes=E):
    """A stacked batch of ``episodes`` N-way K-shot episodes (a ``Task`` like the samplers')."""
    rng = np.random.default_rng(seed)
    patterns = rng.choice([-1.0, 1.0], size=(episodes, N) + SHAPE[:2])

    def images(count):
        labels = np.tile(np.repeat(np.arange(N), count), (episodes, 1))
        signal = np.stack([patterns[e, labels[e]] for e in range(episodes)])
        signal = signal + 0.3 * rng.normal(size=signal.shape)
        noise = 3.0 * rng.normal(size=signal.shape)
        return (tf.constant(np.stack([signal, noise], -1), tf.float32),
                tf.constant(labels, tf.int32))

    return Task(inner=Reused(images(K)), val=Reused(images(Q)),
                seed=tf.zeros([episodes, 2], tf.int32))


def _dense_embedding(dim=8):
    inputs = keras.Input(SHAPE, name="images")
    out = keras.layers.Dense(dim)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, out, name="dense_embedding")


def _nets(method):
    keras.utils.set_random_seed(1)
    if method == "relation":
        inputs = keras.Input(SHAPE, name="images")
        maps = keras.Model(inputs, keras.layers.Conv2D(4, 1)(inputs), name="maps")
        return MetricNets(method, maps, build_relation_module((4, 4, 4), filters=8, hidden=8))
    if method == "siamese":
        return MetricNets(method, _dense_embedding(), build_siamese_scorer(8))
    if method == "fce":
        head = FullContextEmbedding(8, steps=2)
        head.build()
        return MetricNets("matching", _dense_embedding(), head)
    return MetricNets(method, _dense_embedding())


class MetricLearnerTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(("protonet", "protonet", 30), ("matching", "matching", 30),
                                    ("matching_fce", "fce", 30), ("relation", "relation", 40),
                                    ("siamese", "siamese", 40))
    def test_few_steps_lower_loss_and_lift_accuracy_above_chance(self, method, steps):
        learner = MetricLearner(_nets(method), N, keras.optimizers.Adam(0.03))
        held_out = _episodes(seed=10_000, episodes=16)
        loss_before, accuracy_before = learner.loss(held_out, training=False)
        for step in range(steps):
            metrics = learner.train_step(_episodes(seed=step))
            self.assertTrue(np.isfinite(float(metrics["meta_loss/model"])))
        loss_after, accuracy_after = learner.loss(held_out, training=False)
        self.assertLess(float(loss_after), 0.8 * float(loss_before))
        self.assertLess(float(accuracy_before), 0.6)              # chance is 1/3
        self.assertGreater(float(accuracy_after), 0.8)
        self.assertEqual(int(learner.step), steps)

    def test_nan_input_raises_and_leaves_every_variable_and_step_unchanged(self):
        keras.utils.set_random_seed(2)
        nets = MetricNets("protonet", build_conv4_embedding(SHAPE, filters=4, pool_blocks=2))
        learner = MetricLearner(nets, N, keras.optimizers.Adam(0.01))
        learner.train_step(_episodes(seed=0))
        before = [v.numpy().copy() for v in nets.trainable_variables]
        moving = [v.numpy().copy() for v in nets.variables if not v.trainable]
        self.assertNotEmpty(moving)
        tasks = _episodes(seed=1)
        support, labels = tasks.inner.batch
        poisoned = tf.tensor_scatter_nd_update(support, [[1, 2, 0, 3, 0]], [np.nan])
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "non-finite"):
            learner.train_step(tasks._replace(inner=Reused((poisoned, labels))))
        for variable, value in zip(nets.trainable_variables, before):
            self.assertAllEqual(variable.numpy(), value, msg=variable.path)
        # batch norm's moving averages, updated by the forward pass, are put back
        for variable, value in zip([v for v in nets.variables if not v.trainable], moving):
            self.assertAllEqual(variable.numpy(), value, msg=variable.path)
        self.assertEqual(int(learner.step), 1)
        self.assertEqual(int(learner.optimizer.iterations), 1)
        learner.train_step(_episodes(seed=2))       # a good batch after the bad one still trains
        self.assertEqual(int(learner.step), 2)
        self.assertNotAllClose(nets.trainable_variables[0], before[0])

    def test_step_counts_updates_and_learning_rate_is_reported(self):
        learner = MetricLearner(_nets("protonet"), N, keras.optimizers.SGD(0.05))
        self.assertEqual(int(learner.step), 0)
        self.assertEqual(learner.step.dtype, tf.int64)
        for expected in (1, 2, 3):
            learner.train_step(_episodes(seed=expected))
            self.assertEqual(int(learner.step), expected)
        self.assertEqual(int(learner.optimizer.iterations), 3)
        self.assertAllClose(learner.learning_rates()["model"], 0.05)


if __name__ == "__main__":
    absltest.main()
