"""The metric learners' episode math against numpy references written out here.

Embeddings are given directly as float64 tensors (E=2 episodes, N=3 ways, K=2
shots, Q=2 queries per class), so every loss and logit is checked without an
embedding network; the heads are tiny Keras models whose outputs numpy computes.
"""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta.metric import (BATCH_STATISTICS, MetricNets, embed, episode_loss, prototypes,
                           query_logits, siamese_pair_logits, support_state)
from tfmeta.metric.episodes import check_batch_statistics
from tfmeta.nets.metric_heads import FullContextEmbedding, build_siamese_scorer

E, N, K, Q, D = 2, 3, 2, 2, 5
MAP = (2, 2, 3)        # relation: support/query feature maps [h, w, c]

# Support labels in a different, unsorted order in each episode; queries Q per class.
SUPPORT_LABELS = np.array([[2, 0, 1, 1, 0, 2], [0, 1, 2, 0, 1, 2]], np.int32)
QUERY_LABELS = np.array([[1, 0, 2, 2, 0, 1], [0, 0, 1, 1, 2, 2]], np.int32)


def _random(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


def _support(seed=0, shape=(D,)):
    """Support embeddings whose class c sits near a class centre (so logits are informative)."""
    centres = 2.0 * _random((E, N) + shape, seed + 100)
    noise = 0.5 * _random((E, N * K) + shape, seed)
    return np.stack([centres[e, SUPPORT_LABELS[e]] for e in range(E)]) + noise


def _queries(seed=1, shape=(D,)):
    centres = 2.0 * _random((E, N) + shape, 100)          # the support's centres (seed 0)
    noise = 0.8 * _random((E, N * Q) + shape, seed)
    return np.stack([centres[e, QUERY_LABELS[e]] for e in range(E)]) + noise


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _cross_entropy(logits, labels):
    picked = np.take_along_axis(_log_softmax(logits), labels[..., None], -1)
    return -picked.mean()


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _relation_head():
    """A relation 'module' numpy can evaluate: flatten -> Dense(4, tanh) -> Dense(1)."""
    inputs = keras.Input(MAP[:2] + (2 * MAP[2],), dtype="float64")
    h = keras.layers.Flatten(dtype="float64")(inputs)
    h = keras.layers.Dense(4, activation="tanh", dtype="float64", name="hidden")(h)
    out = keras.layers.Dense(1, dtype="float64", name="score")(h)
    return keras.Model(inputs, keras.layers.Reshape((), dtype="float64")(out))


def _relation_reference(head, support, queries):
    w1, b1 = (v.numpy() for v in head.get_layer("hidden").weights)
    w2, b2 = (v.numpy() for v in head.get_layer("score").weights)
    logits = np.zeros((E, N * Q, N))
    for e in range(E):
        for n in range(N):
            class_sum = support[e][SUPPORT_LABELS[e] == n].sum(0)        # Sung et al.: sum of shots
            for q in range(N * Q):
                pair = np.concatenate([class_sum, queries[e, q]], axis=-1).reshape(-1)
                logits[e, q, n] = (np.tanh(pair @ w1 + b1) @ w2 + b2)[0]
    return logits


def _nets(method, seed=0):
    keras.utils.set_random_seed(seed)
    if method == "relation":
        return MetricNets(method, None, _relation_head())
    if method == "siamese":
        return MetricNets(method, None, build_siamese_scorer(D, dtype="float64"))
    if method == "fce":
        head = FullContextEmbedding(D, steps=2, dtype="float64")
        head.build()
        return MetricNets("matching", None, head)
    return MetricNets(method, None)


def _inputs(method, seed=0):
    shape = MAP if method == "relation" else (D,)
    return (tf.constant(_support(seed, shape)), tf.constant(SUPPORT_LABELS),
            tf.constant(_queries(seed + 1, shape)), tf.constant(QUERY_LABELS))


def _logits(nets, support, labels, queries):
    state = support_state(nets, support, labels, N)
    return query_logits(nets, state, queries).numpy()


class LossEqualsNumpyReferenceTest(tf.test.TestCase):

    def test_protonet_loss_is_cross_entropy_of_negative_squared_distance_to_class_means(self):
        s, q = _support(), _queries()
        means = np.stack([[s[e][SUPPORT_LABELS[e] == n].mean(0) for n in range(N)]
                          for e in range(E)])                                  # [E, N, D]
        logits = -((q[:, :, None] - means[:, None]) ** 2).sum(-1)
        nets = _nets("protonet")
        support, labels, queries, query_labels = _inputs("protonet")
        state = support_state(nets, support, labels, N)
        self.assertAllClose(state["prototypes"], means, rtol=1e-12, atol=1e-12)
        loss, got = episode_loss(nets, state, queries, query_labels, N)
        self.assertAllClose(got, logits, rtol=1e-12, atol=1e-12)
        self.assertAllClose(loss, _cross_entropy(logits, QUERY_LABELS), rtol=1e-12)
        self.assertGreater(float(loss), 0.0)

    def test_matching_loss_is_cross_entropy_of_log_cosine_attention_class_mass(self):
        s, q = _support(), _queries()
        sn = s / np.linalg.norm(s, axis=-1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=-1, keepdims=True)
        cosine = np.einsum("eqd,esd->eqs", qn, sn)
        support, labels, queries, query_labels = _inputs("matching")
        losses = []
        for scale in (1.0, 10.0):   # the paper's formula, and the attention sharpened by 10
            attention = np.exp(scale * cosine) / np.exp(scale * cosine).sum(-1, keepdims=True)
            mass = np.stack([[attention[e][:, SUPPORT_LABELS[e] == n].sum(-1)
                              for n in range(N)] for e in range(E)]).transpose(0, 2, 1)
            self.assertAllClose(mass.sum(-1), np.ones((E, N * Q)))              # [E, Q, N]
            nets = _nets("matching")._replace(scale=scale)
            state = support_state(nets, support, labels, N)
            loss, got = episode_loss(nets, state, queries, query_labels, N)
            self.assertAllClose(np.exp(got), mass, rtol=1e-12, atol=1e-12)
            self.assertAllClose(loss, _cross_entropy(np.log(mass), QUERY_LABELS), rtol=1e-12)
            losses.append(float(loss))
        self.assertNotAlmostEqual(losses[0], losses[1], places=3)

    def test_relation_loss_is_mse_of_sigmoid_module_score_of_class_sum_and_query(self):
        nets = _nets("relation")
        support, labels, queries, query_labels = _inputs("relation")
        logits = _relation_reference(nets.head, support.numpy(), queries.numpy())
        state = support_state(nets, support, labels, N)
        loss, got = episode_loss(nets, state, queries, query_labels, N, training=False)
        self.assertEqual(tuple(got.shape), (E, N * Q, N))
        self.assertAllClose(got, logits, rtol=1e-10, atol=1e-12)
        targets = np.eye(N)[QUERY_LABELS]
        self.assertAllClose(loss, ((_sigmoid(logits) - targets) ** 2).mean(), rtol=1e-10)

    def test_siamese_loss_is_balanced_pair_bce_and_class_logit_is_best_support_match(self):
        nets = _nets("siamese")
        w, b = (v.numpy() for v in nets.head.get_layer("score").weights)
        s, q = _support(), _queries()
        pair = (np.abs(q[:, :, None] - s[:, None]) @ w)[..., 0] + b[0]         # [E, Q, S]
        same = (QUERY_LABELS[:, :, None] == SUPPORT_LABELS[:, None]).astype(float)
        bce = np.maximum(pair, 0) - pair * same + np.log1p(np.exp(-np.abs(pair)))
        reference = 0.5 * bce[same == 1].mean() + 0.5 * bce[same == 0].mean()
        class_logits = np.stack([[pair[e][:, SUPPORT_LABELS[e] == n].max(-1) for n in range(N)]
                                 for e in range(E)]).transpose(0, 2, 1)
        support, labels, queries, query_labels = _inputs("siamese")
        state = support_state(nets, support, labels, N)
        self.assertAllClose(siamese_pair_logits(nets, state, queries), pair, rtol=1e-12)
        loss, got = episode_loss(nets, state, queries, query_labels, N)
        self.assertAllClose(got, class_logits, rtol=1e-12, atol=1e-12)
        self.assertAllClose(loss, reference, rtol=1e-12)
        # Balanced: the plain mean over all pairs (two negatives per positive) differs.
        self.assertNotAllClose(loss, bce.mean())


class EmbedTest(tf.test.TestCase):

    def test_embed_keeps_leading_axes_and_embeds_each_image_alone(self):
        keras.utils.set_random_seed(3)
        inputs = keras.Input((3, 3, 2), dtype="float64")
        maps = keras.layers.Conv2D(4, 2, dtype="float64")(inputs)               # [B, 2, 2, 4]
        nets = MetricNets("relation", keras.Model(inputs, maps))
        images = _random((E, 5, 3, 3, 2), 4)
        out = embed(nets, tf.constant(images, tf.float32))                     # cast to float64
        self.assertEqual(out.dtype, tf.float64)
        self.assertEqual(tuple(out.shape), (E, 5, 2, 2, 4))
        for e in range(E):
            for i in range(5):
                self.assertAllClose(out[e, i], nets.embedding(images[e, i][None])[0], rtol=1e-6)


    def test_batch_statistics_refuses_an_embedding_that_drops_units_in_training(self):
        keras.utils.set_random_seed(3)
        inputs = keras.Input((3, 3, 2))
        hidden = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 2)(inputs))
        dropped = keras.layers.Dropout(0.25, name="drop")(hidden)
        images = tf.constant(_random((1, 4, 3, 3, 2), 5), tf.float32)
        plain = MetricNets("protonet", keras.Model(inputs, keras.layers.Flatten()(hidden)))
        self.assertEqual(tuple(embed(plain, images, training=BATCH_STATISTICS).shape),
                         (1, 4, 16))
        check_batch_statistics(plain.embedding, None)
        inner = keras.Model(inputs, dropped)                       # nested: found inside too
        outer_in = keras.Input((3, 3, 2))
        nets = MetricNets("protonet",
                          keras.Model(outer_in, keras.layers.Flatten()(inner(outer_in))))
        message = r"^`drop_rate`=0.25: scoring with batch statistics .* \(drop\) would drop"
        with self.assertRaisesRegex(ValueError, message):
            check_batch_statistics(nets.embedding)
        with self.assertRaisesRegex(ValueError, message):
            embed(nets, images, training=BATCH_STATISTICS)
        self.assertEqual(tuple(embed(nets, images, training=False).shape), (1, 4, 16))


class SupportOrderTest(tf.test.TestCase, parameterized.TestCase):

    @staticmethod
    def _permuted(support, labels, seed=7):
        rng = np.random.default_rng(seed)
        perm = np.stack([rng.permutation(N * K) for _ in range(E)])
        return (tf.gather(support, perm, batch_dims=1), tf.gather(labels, perm, batch_dims=1))

    def test_prototypes_are_invariant_to_support_order(self):
        support, labels, _, _ = _inputs("protonet")
        p_support, p_labels = self._permuted(support, labels)
        self.assertNotAllClose(p_support, support)
        self.assertAllClose(prototypes(p_support, p_labels, N), prototypes(support, labels, N),
                            rtol=1e-12, atol=1e-12)

    @parameterized.parameters("protonet", "matching", "relation", "siamese")
    def test_query_logits_are_invariant_to_support_order(self, method):
        nets = _nets(method)
        support, labels, queries, _ = _inputs(method)
        p_support, p_labels = self._permuted(support, labels)
        self.assertAllClose(_logits(nets, p_support, p_labels, queries),
                            _logits(nets, support, labels, queries), rtol=1e-10, atol=1e-12)

    def test_full_context_embeddings_depend_on_support_order_by_design(self):
        nets = _nets("fce")
        support, labels, queries, _ = _inputs("matching")
        p_support, p_labels = self._permuted(support, labels)
        before = _logits(nets, support, labels, queries)
        after = _logits(nets, p_support, p_labels, queries)
        self.assertTrue(np.all(np.isfinite(after)))
        self.assertGreater(np.abs(after - before).max(), 1e-6)


class EpisodesDoNotMixTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters("protonet", "matching", "fce", "relation", "siamese")
    def test_episode_alone_scores_like_inside_a_batch_of_episodes(self, method):
        nets = _nets(method)
        support, labels, queries, query_labels = _inputs(method)
        batch = _logits(nets, support, labels, queries)
        batch_loss, _ = episode_loss(nets, support_state(nets, support, labels, N), queries,
                                     query_labels, N, training=False)
        alone_losses = []
        for e in range(E):
            one = lambda t: t[e:e + 1]
            alone = _logits(nets, one(support), one(labels), one(queries))
            self.assertAllClose(alone, batch[e:e + 1], rtol=1e-10, atol=1e-12)
            loss, _ = episode_loss(nets, support_state(nets, one(support), one(labels), N),
                                   one(queries), one(query_labels), N, training=False)
            alone_losses.append(float(loss))
        self.assertNotAllClose(batch[0], batch[1])
        # The batch's loss is the mean of its episodes' (siamese pools its pairs, and every
        # episode here has as many same-class and different-class pairs as the other).
        self.assertAllClose(batch_loss, np.mean(alone_losses), rtol=1e-10)


if __name__ == "__main__":
    absltest.main()
