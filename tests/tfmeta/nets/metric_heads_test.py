"""The metric learners' nets: Conv-4 embedding shapes and batch norm, relation module, siamese
scorer and full context embeddings (shapes, gradients, serialization)."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta.nets.conv4 import build_conv4_embedding
from tfmeta.nets.metric_heads import (FullContextEmbedding, build_relation_module,
                                      build_siamese_scorer)


def _images(shape, count=3, seed=0):
    return tf.random.stateless_normal((count,) + tuple(shape), seed=[seed, 1])


class Conv4EmbeddingTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        # 28 -> 14 -> 7 -> 3 -> 1 under max-pooling: 1 * 1 * 64 features.
        ("omniglot_max", (28, 28, 1), "max", 4, True, (64,)),
        # 28 -> 14 -> 7 -> 4 -> 2 under stride 2, then the spatial mean.
        ("omniglot_stride", (28, 28, 1), "stride", 4, True, (64,)),
        # Relation networks: two pooled blocks keep 7x7 maps.
        ("relation_maps", (28, 28, 1), "max", 2, False, (7, 7, 64)),
        ("relation_maps_stride", (28, 28, 1), "stride", 2, False, (7, 7, 64)),
        # 84 -> 42 -> 21 -> 10 -> 5: Snell et al.'s 1600-dimensional miniImageNet embedding.
        ("mini_imagenet_max", (84, 84, 3), "max", 4, True, (1600,)),
        ("unpooled_maps", (12, 12, 1), "max", 0, False, (12, 12, 64)),
    )
    def test_embedding_output_shape(self, image_shape, pooling, pool_blocks, flatten, expected):
        model = build_conv4_embedding(image_shape, pooling=pooling, pool_blocks=pool_blocks,
                                      flatten=flatten)
        self.assertEqual(tuple(model.output_shape[1:]), expected)
        out = model(_images(image_shape, count=2), training=False)
        self.assertEqual(tuple(out.shape), (2,) + expected)

    def test_embedding_at_test_is_independent_of_the_rest_of_the_batch(self):
        model = build_conv4_embedding((12, 12, 1), filters=8)
        images = _images((12, 12, 1), count=4)
        batch = model(images, training=False)
        alone = model(images[:1], training=False)
        self.assertAllClose(alone, batch[:1], rtol=1e-5, atol=1e-6)
        # In training, batch norm uses the batch's statistics: one image alone differs.
        self.assertNotAllClose(model(images[:1], training=True), model(images, training=True)[:1])

    def test_training_call_updates_batch_norm_moving_averages_test_call_does_not(self):
        model = build_conv4_embedding((12, 12, 1), filters=8)
        moving = [v for v in model.non_trainable_variables if "moving_mean" in v.path]
        self.assertLen(moving, 4)
        before = [v.numpy().copy() for v in moving]
        model(_images((12, 12, 1)), training=False)
        for v, b in zip(moving, before):
            self.assertAllEqual(v, b)
        model(_images((12, 12, 1)), training=True)
        for v, b in zip(moving, before):
            self.assertNotAllClose(v, b)

    def test_bad_arguments_are_refused_with_the_value(self):
        with self.assertRaisesRegex(ValueError, "pool_blocks.*5"):
            build_conv4_embedding(pool_blocks=5)
        with self.assertRaisesRegex(ValueError, "pooling.*'avg'"):
            build_conv4_embedding(pooling="avg")
        with self.assertRaisesRegex(ValueError, "image_shape"):
            build_conv4_embedding(image_shape=(28, 28))


class RelationModuleTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("omniglot_7x7x64", (7, 7, 64), 64),
        ("small_4x4x4", (4, 4, 4), 8),
        ("unpoolable_1x1x8", (1, 1, 8), 8),
    )
    def test_relation_module_maps_concatenated_pairs_to_one_logit_each(self, shape, filters):
        module = build_relation_module(shape, filters=filters)
        pairs = _images(shape[:2] + (2 * shape[2],), count=5)
        for training in (True, False):
            out = module(pairs, training=training)
            self.assertEqual(tuple(out.shape), (5,))
            self.assertTrue(np.all(np.isfinite(out.numpy())))

    def test_relation_module_gradient_reaches_every_trainable_variable(self):
        module = build_relation_module((4, 4, 4), filters=8)
        pairs = _images((4, 4, 8), count=6)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sigmoid(module(pairs, training=True)))
        grads = tape.gradient(loss, module.trainable_variables)
        self.assertLen(grads, len(module.trainable_variables))
        for g, v in zip(grads, module.trainable_variables):
            self.assertIsNotNone(g, msg=v.path)


class SiameseScorerTest(tf.test.TestCase):

    def test_siamese_scorer_is_weighted_l1_distance_plus_bias(self):
        scorer = build_siamese_scorer(6, dtype="float64")
        differences = tf.abs(tf.random.stateless_normal((4, 6), seed=[3, 4], dtype=tf.float64))
        w, b = (v.numpy() for v in scorer.weights)
        out = scorer(differences)
        self.assertEqual(tuple(out.shape), (4,))
        self.assertAllClose(out, differences.numpy() @ w[:, 0] + b[0], rtol=1e-12)


class FullContextEmbeddingTest(tf.test.TestCase):

    def _fce(self, dim=6, steps=3):
        keras.utils.set_random_seed(0)
        fce = FullContextEmbedding(dim, steps=steps)
        fce.build()
        return fce

    def test_support_and_query_keep_their_shapes(self):
        fce = self._fce()
        g = tf.random.stateless_normal((2, 5, 6), seed=[0, 1])
        f = tf.random.stateless_normal((2, 7, 6), seed=[0, 2])
        self.assertEqual(tuple(fce.support(g).shape), (2, 5, 6))
        self.assertEqual(tuple(fce.query(f, g).shape), (2, 7, 6))
        context, queries = fce((g, f))
        self.assertAllClose(context, fce.support(g))
        self.assertAllClose(queries, fce.query(f, fce.support(g)))

    def test_gradients_reach_both_lstms(self):
        fce = self._fce()
        g = tf.random.stateless_normal((2, 5, 6), seed=[1, 1])
        f = tf.random.stateless_normal((2, 4, 6), seed=[1, 2])
        with tf.GradientTape() as tape:
            _, queries = fce((g, f), training=True)
            loss = tf.reduce_sum(tf.square(queries))
        variables = fce.trainable_variables
        support_vars = fce.support_lstm.trainable_variables
        query_vars = fce.query_cell.trainable_variables
        self.assertLen(support_vars, 6)     # forward and backward: kernel, recurrent, bias
        self.assertLen(query_vars, 3)
        self.assertLen(variables, len(support_vars) + len(query_vars))
        grads = dict(zip([v.path for v in variables], tape.gradient(loss, variables)))
        for v in support_vars + query_vars:
            self.assertIsNotNone(grads[v.path], msg=v.path)
            self.assertGreater(float(tf.norm(grads[v.path])), 0.0, msg=v.path)

    def test_query_embedding_depends_on_each_support_item(self):
        fce = self._fce()
        g = tf.random.stateless_normal((1, 4, 6), seed=[2, 1])
        f = tf.random.stateless_normal((1, 3, 6), seed=[2, 2])
        base = fce.query(f, fce.support(g))
        for i in range(4):
            moved = tf.tensor_scatter_nd_add(g, [[0, i]], [tf.ones([6])])
            self.assertNotAllClose(fce.query(f, fce.support(moved)), base)

    def test_config_round_trip_keeps_dim_and_steps(self):
        fce = FullContextEmbedding(6, steps=4, name="fce")
        clone = FullContextEmbedding.from_config(fce.get_config())
        self.assertEqual((clone.dim, clone.steps, clone.name), (6, 4, "fce"))


if __name__ == "__main__":
    absltest.main()
