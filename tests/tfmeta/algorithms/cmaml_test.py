"""CMAML: up-to-bottom pruning, L1 fine-tuning, the exact meta-gradient and its MAML reduction."""

import itertools

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta import inner as inner_lib
from tfmeta.algorithms import cmaml, maml_losses, meta_gradients
from tfmeta.classify import classification_objective, cross_entropy
from tfmeta.nets import build_conv4
from tfmeta.types import Reused, Task

F64 = "float64"


def reference_masks(kernels, threshold):
    """Brute force: a middle edge is kept iff |w| > threshold and some path of such edges
    leads from its upper node to a node of N_L (first and last layers kept whole)."""
    kernels = [np.asarray(k) for k in kernels]
    big = [np.abs(k) > threshold for k in kernels]
    count = len(kernels)

    def reaches_top(layer, node):   # node of N_{layer+1} (0-based kernel index ``layer``)
        if layer + 1 >= count - 1:   # N_L
            return True
        return any(big[layer + 1][node, j] and reaches_top(layer + 1, j)
                   for j in range(kernels[layer + 1].shape[1]))

    masks = [np.ones_like(k) for k in kernels]
    for k in range(1, count - 1):
        for i, j in itertools.product(*map(range, kernels[k].shape)):
            masks[k][i, j] = float(big[k][i, j] and reaches_top(k, j))
    return masks


def tiny_modules(hidden=(4, 4, 4), ways=3, features=4, gate_bias=0.0, seed=0):
    """Float64 tanh modules: inputs [B, 3] -> features -> logits; gate; private MLP."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    x = keras.Input((3,), dtype=F64)
    h = layers.Dense(features, activation="tanh", dtype=F64)(x)
    shared = keras.Model(x, [h, layers.Dense(ways, dtype=F64)(h)])
    f = keras.Input((features,), dtype=F64)
    gate = keras.Model(f, layers.Dense(1, dtype=F64, bias_initializer=keras.initializers.Constant(
        gate_bias))(f))
    p = f
    for width in hidden:
        p = layers.Dense(width, activation="tanh", dtype=F64)(p)
    private = keras.Model(f, layers.Dense(ways, dtype=F64)(p))
    return cmaml.Modules(shared, gate, private)


def episode(seed, ways=3, shots=2, queries=3):
    rng = np.random.default_rng(seed)
    xs = tf.constant(rng.normal(size=(ways * shots, 3)), tf.float64)
    xq = tf.constant(rng.normal(size=(ways * queries, 3)), tf.float64)
    return ((xs, tf.repeat(tf.range(ways), shots)), (xq, tf.repeat(tf.range(ways), queries)))


class PruningTest(parameterized.TestCase):

    @parameterized.parameters(*[(seed, depth) for seed in range(4) for depth in (3, 4, 5)])
    def test_pruning_keeps_exactly_edges_above_threshold_reachable_from_output(self, seed, depth):
        rng = np.random.default_rng(seed)
        widths = rng.integers(2, 5, size=depth + 1)
        kernels = [rng.normal(size=(widths[i], widths[i + 1])) for i in range(depth)]
        got = cmaml.prune_up_to_bottom(kernels, 1.0)
        want = reference_masks(kernels, 1.0)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)

    def test_hand_made_network_prunes_the_edge_into_a_dead_node(self):
        w1 = np.full((2, 2), 0.01)                       # first layer: kept whole
        w2 = np.array([[0.9, 0.0], [0.0, 0.9]])          # N_3 node 1 feeds nothing above
        w3 = np.array([[0.9, 0.9], [0.01, 0.01]])        # node 1 of N_3 -> N_4 edges small
        w4 = np.full((2, 1), 0.01)                       # top layer: kept whole
        m1, m2, m3, m4 = [m.numpy() for m in cmaml.prune_up_to_bottom([w1, w2, w3, w4], 0.5)]
        np.testing.assert_array_equal(m1, np.ones((2, 2)))
        np.testing.assert_array_equal(m4, np.ones((2, 1)))
        np.testing.assert_array_equal(m3, [[1, 1], [0, 0]])
        np.testing.assert_array_equal(m2, [[1, 0], [0, 0]])   # (1, 1) is big but dead above

    def test_two_layer_mlp_is_not_pruned(self):
        masks = cmaml.prune_up_to_bottom([np.zeros((3, 2)), np.zeros((2, 2))], 0.5)
        self.assertTrue(all(np.all(m.numpy() == 1) for m in masks))


class FineTuneTest(parameterized.TestCase):

    def test_l1_finetuning_shrinks_the_kernels_to_exact_zeros(self):
        modules = tiny_modules()
        params = [tf.convert_to_tensor(v) for v in modules.variables()]
        (support, _) = episode(0)
        _, _, private = cmaml.split(modules, params)
        idx = cmaml.kernel_indices(modules.private)
        features, shared_out = modules.shared(support[0])
        o = tf.sigmoid(modules.gate(features))

        def loss(p):
            out = o * shared_out + (1 - o) * modules.private.stateless_call(p, [], features)[0]
            return cross_entropy(out, support[1])

        def l1(p):
            return sum(float(tf.reduce_sum(tf.abs(p[i]))) for i in idx)
        tuned = cmaml.l1_finetune(loss, private, idx, steps=20, learning_rate=0.1, l1=0.2)
        plain = cmaml.l1_finetune(loss, private, idx, steps=20, learning_rate=0.1, l1=0.0)
        self.assertLess(l1(tuned), 0.7 * l1(private))
        self.assertLess(l1(tuned), l1(plain))
        zeros = sum(int(tf.reduce_sum(tf.cast(tuned[i] == 0, tf.int32))) for i in idx)
        self.assertGreater(zeros, 5)
        self.assertEqual(sum(int(tf.reduce_sum(tf.cast(plain[i] == 0, tf.int32))) for i in idx), 0)

    def test_task_masks_are_algorithm_1_on_the_support_set(self):
        modules = tiny_modules()
        params = [tf.convert_to_tensor(v) for v in modules.variables()]
        support, _ = episode(1)
        masks = cmaml.task_masks(modules, params, support, cross_entropy, steps=5,
                                 learning_rate=0.1, l1=0.05, threshold=0.2)
        self.assertEqual(len(masks), 4)
        self.assertTrue(np.all(masks[0].numpy() == 1) and np.all(masks[-1].numpy() == 1))
        fraction = float(cmaml.kept_fraction(masks))
        self.assertGreater(fraction, 0.0)
        self.assertLess(fraction, 1.0)
        self.assertEqual(float(cmaml.mask_jaccard(masks, masks)), 1.0)


class MetaGradientTest(parameterized.TestCase):

    def _task(self, modules, seed, masks=None):
        support, query = episode(seed)
        if masks is None:
            rng = np.random.default_rng(seed + 7)
            masks = [tf.constant(rng.random(m.shape) > 0.3, tf.float64)
                     for m in cmaml.full_masks(modules.private)]
        return Task(inner=Reused(support + (masks,)), val=Reused(query + (masks,)),
                    seed=tf.constant([0, seed], tf.int32)), masks

    def test_second_order_meta_gradient_matches_finite_differences(self):
        modules = tiny_modules()
        objective = cmaml.cmaml_objective(modules, cross_entropy)
        variables = modules.variables()
        task, masks = self._task(modules, 3)
        inner = inner_lib.sgd(0.3)
        grads, _, _ = meta_gradients(objective, {"model": variables}, task, inner, inner_steps=2)
        grads = grads["model"]
        base = [tf.convert_to_tensor(v) for v in variables]

        def meta_loss(params):
            return float(maml_losses(objective, {"model": params}, task, inner,
                                     inner_steps=2)["model"])

        rng = np.random.default_rng(0)
        sizes = [len(m.trainable_variables) for m in modules]
        bounds = np.cumsum([0] + sizes)
        for name, lo, hi in zip(("shared", "gate", "private"), bounds[:-1], bounds[1:]):
            for _ in range(2):
                direction = [tf.constant(rng.normal(size=b.shape) if lo <= i < hi else
                                         np.zeros(b.shape), tf.float64)
                             for i, b in enumerate(base)]
                h = 1e-5
                fd = (meta_loss([b + h * d for b, d in zip(base, direction)])
                      - meta_loss([b - h * d for b, d in zip(base, direction)])) / (2 * h)
                exact = sum(float(tf.reduce_sum(g * d)) for g, d in zip(grads, direction))
                self.assertAlmostEqual(exact, fd, delta=1e-6 * max(1.0, abs(fd)), msg=name)
                self.assertGreater(abs(exact), 1e-4, msg=name)
        idx = cmaml.kernel_indices(modules.private)
        for i, m in zip(idx, masks):   # pruned private edges get exactly zero meta-gradient
            g = grads[bounds[2] + i].numpy()
            self.assertTrue(np.all(g[m.numpy() == 0] == 0))
            self.assertTrue(np.any(g[m.numpy() == 1] != 0))

    def test_full_masks_and_closed_gate_reduce_cmaml_to_maml(self):
        keras.utils.set_random_seed(0)
        conv4 = build_conv4(3, (8, 8, 1), filters=4, activation="softplus", dtype=F64)
        shared = keras.Model(conv4.inputs, [conv4.get_layer("mean").output, conv4.output])
        small = tiny_modules(features=4, gate_bias=40.0)   # sigmoid(40) == 1.0 in float64
        gate_kernel = small.gate.trainable_variables[0]
        gate_kernel.assign(tf.zeros_like(gate_kernel))
        modules = cmaml.Modules(shared, small.gate, small.private)
        rng = np.random.default_rng(0)
        images = tf.constant(rng.normal(size=(12, 8, 8, 1)), tf.float64)
        labels = tf.repeat(tf.range(3), 4)
        masks = cmaml.full_masks(modules.private)
        task = Task(inner=Reused((images[:6], labels[:6], masks)),
                    val=Reused((images[6:], labels[6:], masks)), seed=tf.constant([0, 1]))
        plain = Task(inner=Reused((images[:6], labels[:6])), val=Reused((images[6:], labels[6:])),
                     seed=task.seed)
        inner = inner_lib.sgd(0.4)
        got, got_loss, _ = meta_gradients(cmaml.cmaml_objective(modules, cross_entropy),
                                          {"model": modules.variables()}, task, inner,
                                          inner_steps=2)
        want, want_loss, _ = meta_gradients(classification_objective(conv4),
                                            {"model": conv4.trainable_variables}, plain, inner,
                                            inner_steps=2)
        self.assertEqual(float(got_loss["model"]), float(want_loss["model"]))
        for g, w in zip(got["model"], want["model"]):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-14)
        for g in got["model"][len(want["model"]):]:   # gate and private: no gradient at all
            self.assertTrue(np.all(g.numpy() == 0))

    def test_with_masks_puts_each_tasks_masks_in_its_batches(self):
        modules = tiny_modules()
        params = [tf.convert_to_tensor(v) for v in modules.variables()]
        tasks = [Task(inner=Reused(s), val=Reused(q), seed=tf.constant([0, i]))
                 for i, (s, q) in enumerate(episode(i) for i in range(2))]
        stacked = tf.nest.map_structure(lambda *t: tf.stack(t), *tasks)

        def masks_of(support):
            return cmaml.task_masks(modules, params, support, cross_entropy, steps=3,
                                    learning_rate=0.1, l1=0.05, threshold=0.2)
        out = cmaml.with_masks(stacked, masks_of)
        for i in range(2):
            want = masks_of(episode(i)[0])
            for m, w in zip(out.inner.batch[2], want):
                np.testing.assert_array_equal(m[i].numpy(), w.numpy())
            for m, w in zip(out.val.batch[2], want):
                np.testing.assert_array_equal(m[i].numpy(), w.numpy())


if __name__ == "__main__":
    absltest.main()
