"""Few-shot classification through the engine: Conv-4 with BatchNorm, exact meta-gradients.

The second-order meta-gradient of the classification objective, through
batch-statistics BatchNorm, is checked against float64 central finite
differences (softplus in place of ReLU: kinks would make differences
meaningless); the looped and vectorized task executions agree; MAML++'s
per-step rates and derivative-order annealing do what they claim.
"""

import functools

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, maml_losses, meta_gradients, meta_variables
from tfmeta.classify import PLAYER, accuracy, classification_objective, cross_entropy
from tfmeta.functional import apply
from tfmeta.nets import build_conv4
from tfmeta.types import Reused, Task

WAYS, SHOTS, QUERIES, SIZE = 3, 2, 2, 8


def small_conv4(seed=0, dtype="float64", activation="softplus", **kw):
    keras.utils.set_random_seed(seed)
    return build_conv4(WAYS, (SIZE, SIZE, 1), filters=4, activation=activation, dtype=dtype,
                       **kw)


def episodes(count, dtype=tf.float64, seed=1):
    """``count`` stacked episodes of random images (labels 0..N-1, grouped by class)."""
    def images(n, s):
        return tf.random.stateless_uniform([count, n, SIZE, SIZE, 1], [seed, s], -1, 1,
                                           dtype=dtype)
    ys = tf.tile(tf.repeat(tf.range(WAYS), SHOTS)[None], [count, 1])
    yq = tf.tile(tf.repeat(tf.range(WAYS), QUERIES)[None], [count, 1])
    return Task(inner=Reused((images(WAYS * SHOTS, 1), ys)),
                val=Reused((images(WAYS * QUERIES, 2), yq)),
                seed=tf.zeros([count, 2], tf.int32))


def task_at(tasks, i):
    return tf.nest.map_structure(lambda t: t[i], tasks)


def mean_meta_loss(objective, params, tasks, inner, steps):
    total = 0.0
    for i in range(int(tasks.seed.shape[0])):
        total += maml_losses(objective, params, task_at(tasks, i), inner, inner_steps=steps,
                             step_weights="final")[PLAYER]
    return total / int(tasks.seed.shape[0])


class BatchNormSemanticsTest(absltest.TestCase):

    def test_objective_normalizes_with_the_batch_statistics(self):
        model = small_conv4(dtype="float32", activation="relu")
        x = tf.random.stateless_uniform([6, SIZE, SIZE, 1], [0, 0], -1, 1)
        params = model.trainable_variables
        alone = apply(model, params, x[:3], training=True)
        with_others = apply(model, params, x, training=True)[:3]
        # Batch statistics: the same images score differently in another batch ...
        self.assertGreater(float(tf.reduce_max(tf.abs(alone - with_others))), 1e-4)
        # ... and a batch scores like the Keras model called in training mode.
        np.testing.assert_allclose(with_others, model(x, training=True)[:3], atol=1e-5)

    def test_no_moving_statistics_and_same_output_in_training_and_inference(self):
        model = small_conv4(dtype="float32", activation="relu")
        self.assertEqual(model.non_trainable_variables, [])
        x = tf.random.stateless_uniform([6, SIZE, SIZE, 1], [0, 1], -1, 1)
        np.testing.assert_array_equal(model(x, training=True), model(x, training=False))

    def test_batch_stat_norm_output_is_normalized_per_channel(self):
        from tfmeta.nets.layers import BatchStatNorm
        x = tf.random.stateless_normal([5, 3, 3, 4], [0, 2]) * 3.0 + 2.0
        y = BatchStatNorm(epsilon=0.0)(x)
        np.testing.assert_allclose(tf.reduce_mean(y, [0, 1, 2]), np.zeros(4), atol=1e-5)
        np.testing.assert_allclose(tf.math.reduce_std(y, [0, 1, 2]), np.ones(4), atol=1e-4)


class ClassificationMetaGradientTest(parameterized.TestCase):

    @parameterized.named_parameters(("sgd", "sgd"), ("meta_sgd", "meta_sgd"),
                                    ("per_step", "per_step"))
    def test_second_order_meta_gradient_matches_finite_differences(self, kind):
        model = small_conv4()
        variables = model.trainable_variables
        if kind == "sgd":
            inner = inner_lib.sgd(0.4)
        elif kind == "meta_sgd":
            inner = inner_lib.meta_sgd(inner_lib.meta_sgd_learning_rates(variables, 0.3))
        else:
            rates = inner_lib.per_step_learning_rates(len(variables), 2, 0.3, dtype="float64")
            rates.assign(rates + tf.random.stateless_uniform(rates.shape, [3, 3], 0, 0.2,
                                                             dtype=tf.float64))
            inner = inner_lib.per_step(rates)
        tasks = episodes(2)
        objective = classification_objective(model)
        targets = meta_variables({PLAYER: variables}, {PLAYER: inner})[PLAYER]
        with tf.GradientTape() as tape:
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            loss = mean_meta_loss(objective, params, tasks, inner, steps=2)
        grads = tape.gradient(loss, targets)
        rng = np.random.default_rng(0)
        direction = [rng.standard_normal(t.shape) for t in targets]
        analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction))
        h, values = 1e-6, []
        start = [t.numpy().copy() for t in targets]
        for sign in (1.0, -1.0):
            for t, s, d in zip(targets, start, direction):
                t.assign(s + sign * h * d)
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            values.append(float(mean_meta_loss(objective, params, tasks, inner, steps=2)))
        for t, s in zip(targets, start):
            t.assign(s)
        numeric = (values[0] - values[1]) / (2 * h)
        self.assertGreater(abs(analytic), 1e-3)
        self.assertLess(abs(analytic - numeric) / abs(analytic), 1e-6)

    def test_second_order_differs_from_first_order_with_batch_norm(self):
        model = small_conv4()
        objective = classification_objective(model)
        task = task_at(episodes(1), 0)
        g2 = meta_gradients(objective, {PLAYER: model.trainable_variables}, task,
                            inner_lib.sgd(0.4), inner_steps=1)[0][PLAYER]
        g1 = meta_gradients(objective, {PLAYER: model.trainable_variables}, task,
                            inner_lib.sgd(0.4), inner_steps=1, first_order=True)[0][PLAYER]
        diff = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(g1, g2))
        self.assertGreater(diff, 1e-4)


@functools.lru_cache(maxsize=None)
def _learner_grads(tasks_mode, parallel_tasks=1, algorithm="maml"):
    """The learner's mean meta-gradient and metrics on ``episodes(3)`` (a fixed model and
    fixed episodes: computed once per process, as two tests compare with the looped one)."""
    model = small_conv4()
    learner = MetaLearner({PLAYER: model.trainable_variables}, classification_objective(model),
                          inner_lib.sgd(0.4), lambda: keras.optimizers.Adam(1e-3),
                          algorithm=algorithm, inner_steps=2, step_weights="final",
                          tasks_mode=tasks_mode, parallel_tasks=parallel_tasks)
    grads, metrics = tf.function(learner.compute_gradients)(episodes(3))
    return [g.numpy() for g in grads[PLAYER]], {k: float(v) for k, v in metrics.items()}


class TaskExecutionTest(parameterized.TestCase):

    @parameterized.product(algorithm=["maml", "reptile"])   # fomaml: maml's path, first order
    def test_looped_and_vectorized_tasks_give_the_same_meta_gradient(self, algorithm):
        looped, looped_metrics = _learner_grads("loop", algorithm=algorithm)
        for mode, parallel in (("loop", 3), ("vectorized", 1)):
            grads, metrics = _learner_grads(mode, parallel, algorithm=algorithm)
            for a, b in zip(looped, grads):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
            for key, value in looped_metrics.items():
                self.assertAlmostEqual(value, metrics[key], places=10)

    def test_mean_over_tasks_is_the_mean_of_each_tasks_meta_gradient(self):
        model = small_conv4()
        objective = classification_objective(model)
        tasks = episodes(3)
        singles = [meta_gradients(objective, {PLAYER: model.trainable_variables},
                                  task_at(tasks, i), inner_lib.sgd(0.4), inner_steps=2,
                                  step_weights="final")[0][PLAYER] for i in range(3)]
        looped, _ = _learner_grads("loop", algorithm="maml")   # the call (and key) above
        for i, g in enumerate(looped):
            np.testing.assert_allclose(g, np.mean([s[i].numpy() for s in singles], axis=0),
                                       rtol=1e-9, atol=1e-12)


class MamlPlusPlusOptionsTest(absltest.TestCase):

    def test_per_step_rates_use_their_own_row_at_each_step(self):
        rates = inner_lib.per_step_learning_rates(2, 2, 0.1)
        rates.assign([[0.1, 0.2], [0.3, 0.4]])
        opt = inner_lib.per_step(rates)
        params, grads = [tf.ones([2]), tf.ones([3])], [tf.ones([2]), tf.ones([3])]
        state = opt.init(params)
        params, state = opt.update(grads, state, params)
        np.testing.assert_allclose(params[0], [0.9, 0.9])
        np.testing.assert_allclose(params[1], [0.8, 0.8, 0.8])
        params, state = opt.update(grads, state, params)
        np.testing.assert_allclose(params[0], [0.6, 0.6])
        np.testing.assert_allclose(params[1], [0.4, 0.4, 0.4], atol=1e-7)

    def test_derivative_order_annealing_is_first_order_then_second_order(self):
        def first_two_updates(**kw):
            model = small_conv4()
            learner = MetaLearner({PLAYER: model.trainable_variables},
                                  classification_objective(model), inner_lib.sgd(0.4),
                                  lambda: keras.optimizers.SGD(0.1), inner_steps=1, **kw)
            out = []
            for i in range(2):
                before = [v.numpy().copy() for v in model.trainable_variables]
                learner.train_step(episodes(2, seed=i + 5))
                out.append([v.numpy() - b for v, b in zip(model.trainable_variables, before)])
            return out
        annealed = first_two_updates(algorithm="maml", first_order_steps=1)
        first = first_two_updates(algorithm="fomaml")
        second = first_two_updates(algorithm="maml")
        for a, f in zip(annealed[0], first[0]):
            np.testing.assert_allclose(a, f, rtol=1e-9, atol=1e-12)
        # The second update starts from the first-order weights and is second order: it is
        # not the first-order one from there.
        self.assertFalse(all(np.allclose(a, f) for a, f in zip(annealed[1], first[1])))
        self.assertFalse(all(np.allclose(a, s) for a, s in zip(annealed[0], second[0])))

    def test_first_order_steps_refused_for_other_algorithms(self):
        model = small_conv4()
        with self.assertRaisesRegex(ValueError, "first_order_steps"):
            MetaLearner({PLAYER: model.trainable_variables}, classification_objective(model),
                        inner_lib.sgd(0.4), lambda: keras.optimizers.SGD(0.1),
                        algorithm="fomaml", inner_steps=1, first_order_steps=5)


class PerStepBatchNormTest(absltest.TestCase):
    """MAML++'s per-step batch norm weights and biases (rows picked by the inner step)."""

    def test_adaptation_changes_each_row_only_after_its_use(self):
        # Row j serves inner step j (and the query scores after j steps): the inner step that
        # updates row j comes after its only use, so the adapted rows never change a loss and
        # the per-step weights are meta-learned only, as in MAML++.
        from tfmeta.algorithms import adaptation_trajectory
        from tfmeta.classify import logits_of
        model = small_conv4(per_step_rows=3)
        objective = classification_objective(model)
        task = task_at(episodes(1), 0)
        start = [tf.convert_to_tensor(v) for v in model.trainable_variables]
        adapted = adaptation_trajectory(objective, {PLAYER: start}, task.inner, inner_lib.sgd(0.4),
                                        inner_steps=2, seed=task.seed)[-1][PLAYER]
        tables = [i for i, v in enumerate(model.trainable_variables) if v.path.startswith("bn")]
        self.assertLen(tables, 8)
        moved = max(float(tf.reduce_max(tf.abs(adapted[i] - start[i]))) for i in tables)
        self.assertGreater(moved, 1e-4)   # the rows were updated ...
        reset = [start[i] if i in tables else p for i, p in enumerate(adapted)]
        query = task.val.batch[0]
        np.testing.assert_allclose(logits_of(model, adapted, query, 2),
                                   logits_of(model, reset, query, 2), atol=1e-12)
        # ... and the scores after 2 steps read row 2, untouched by the two inner steps.
        for i in tables:
            np.testing.assert_array_equal(adapted[i][2], start[i][2])

    def test_meta_gradient_reaches_every_row_and_matches_finite_differences(self):
        model = small_conv4(per_step_rows=3)
        bn = model.get_layer("bn1")
        bn.gamma.assign(bn.gamma + tf.random.stateless_uniform(bn.gamma.shape, [4, 4], -0.3, 0.3,
                                                                dtype=tf.float64))
        objective = classification_objective(model)
        self.assertTrue(objective.takes_step)
        tasks, inner = episodes(2), inner_lib.sgd(0.4)
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            loss = mean_meta_loss(objective, params, tasks, inner, steps=2)
        grads = tape.gradient(loss, variables)
        gamma_grad = grads[[v.path for v in variables].index("bn1/gamma")].numpy()
        for row in range(3):   # inner steps 0 and 1, and the query after 2 steps
            self.assertGreater(np.abs(gamma_grad[row]).max(), 1e-6, row)
        rng = np.random.default_rng(1)
        direction = [rng.standard_normal(v.shape) for v in variables]
        analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction))
        start, values, h = [v.numpy().copy() for v in variables], [], 1e-6
        for sign in (1.0, -1.0):
            for v, s0, d in zip(variables, start, direction):
                v.assign(s0 + sign * h * d)
            params = {PLAYER: [tf.convert_to_tensor(v) for v in variables]}
            values.append(float(mean_meta_loss(objective, params, tasks, inner, steps=2)))
        for v, s0 in zip(variables, start):
            v.assign(s0)
        numeric = (values[0] - values[1]) / (2 * h)
        self.assertLess(abs(analytic - numeric) / abs(analytic), 1e-6)


class MetricsTest(absltest.TestCase):

    def test_accuracy_and_cross_entropy(self):
        logits = tf.constant([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
        labels = tf.constant([0, 1, 1])
        self.assertAlmostEqual(float(accuracy(logits, labels)), 2 / 3, places=6)
        expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0)),
                            np.log1p(np.exp(3.0))])
        self.assertAlmostEqual(float(cross_entropy(logits, labels)), expected, places=5)


if __name__ == "__main__":
    absltest.main()
