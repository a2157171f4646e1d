"""A batch reused at every step (``Reused``) gives exactly what the batch copied k times gives."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, maml_losses, meta_gradients, reptile_direction
from tfmeta.types import Reused, Task

STEPS = 2
MODES = {"unroll": dict(unroll=True, remat=False), "loop": dict(unroll=False, remat=False),
         "loop_remat": dict(unroll=False, remat=True),
         "unroll_remat": dict(unroll=True, remat=True)}


def _flat(grads):
    return [g.numpy() for p in sorted(grads) for g in grads[p]]


def _gan_tasks(steps=STEPS):
    one = toys.gan_task(1)
    return toys.reused_and_copied(one.inner[0], one.val[0], [1, 7], steps)


def _assert_close(test, got, want, rtol=1e-12, atol=1e-15, msg=""):
    test.assertLen(got, len(want))
    test.assertGreater(max(float(np.abs(w).max()) for w in want), 0.0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def _inner():
    return inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7)


class ReusedEqualsCopiedTest(parameterized.TestCase):

    # maml in the unrolled graph and in the rematerialized symbolic loop (the mode whose
    # carried state changed for Reused); the plain loop and unrolled remat are covered by
    # the BatchNorm test below and by maml_test's every-mode equality.
    @parameterized.parameters(("maml", "unroll"), ("maml", "loop_remat"), ("fomaml", "loop_remat"))
    def test_meta_gradient_with_reused_batch_equals_batch_copied_k_times(self, algorithm, mode):
        models, objective = toys.toy_gan()
        variables = toys.variables(models)
        reused, copied = _gan_tasks()
        out = []
        for task in (reused, copied):
            fn = lambda task=task: meta_gradients(  # noqa: E731
                objective, variables, task, _inner(), inner_steps=STEPS,
                first_order=algorithm == "fomaml", **MODES[mode])[:2]
            # unrolled without remat: the same ops eagerly; the other modes act in graphs
            grads, meta = fn() if mode == "unroll" else tf.function(fn)()
            out.append((_flat(grads), {p: float(v) for p, v in meta.items()}))
        _assert_close(self, out[0][0], out[1][0], msg=f"{algorithm} {mode}")
        for p in out[1][1]:
            self.assertAlmostEqual(out[0][1][p], out[1][1][p], places=12)

    def test_reused_val_alone_equals_copied_in_the_remat_loop(self, which="val"):
        # One side reused, the other per step: both forms mix in one task.
        models, objective = toys.toy_gan()
        variables = toys.variables(models)
        reused, copied = _gan_tasks()
        mixed = copied._replace(**{which: getattr(reused, which)})
        grads = [_flat(tf.function(lambda t=t: meta_gradients(
            objective, variables, t, _inner(), inner_steps=STEPS, **MODES["loop_remat"])[0])())
            for t in (mixed, copied)]
        _assert_close(self, grads[0], grads[1])

    def test_reptile_direction_with_reused_batch_equals_batch_copied_k_times(self, compiled=True):
        models, objective = toys.toy_gan()
        params = {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
                  for p, m in models.items()}
        out = []
        for task in _gan_tasks():
            fn = lambda task=task: reptile_direction(  # noqa: E731
                objective, params, task, inner_lib.adam(0.01, beta_1=0.5), inner_steps=STEPS)
            out.append(_flat(tf.function(fn)() if compiled else fn()))
        _assert_close(self, out[0], out[1])

    @parameterized.parameters(("maml", True), ("reptile", False))
    def test_learner_on_stacked_reused_tasks_equals_copied(self, algorithm, remat):
        # Stacked meta-batch: the learner's task loop selects each Reused batch with task_at.
        models, objective = toys.toy_gan()
        pairs = [toys.reused_and_copied(t.inner[0], t.val[0], [s, 7], STEPS)
                 for s, t in ((s, toys.gan_task(1, seed=s)) for s in (1, 2))]
        stacked = [tf.nest.map_structure(lambda *t: tf.stack(t), *[p[i] for p in pairs])
                   for i in (0, 1)]
        self.assertIsInstance(stacked[0].inner, Reused)
        learner = MetaLearner(toys.variables(models), objective, _inner(),
                              outer=lambda: keras.optimizers.SGD(0.1), algorithm=algorithm,
                              inner_steps=STEPS, remat=remat)
        grads = [_flat(learner._compute(t)[0]) for t in stacked]
        _assert_close(self, grads[0], grads[1], msg=algorithm)


class ReusedExactnessTest(parameterized.TestCase):

    def test_second_order_meta_gradient_with_reused_batch_matches_finite_differences(self):
        models, objective = toys.toy_gan()
        reused, _ = _gan_tasks()
        inner = _inner()
        grads = tf.function(lambda: meta_gradients(
            objective, toys.variables(models), reused, inner, inner_steps=STEPS,
            unroll=False)[0])()
        h = 1e-7
        rng = np.random.default_rng(0)
        for player in ("generator", "discriminator"):
            direction = [tf.constant(rng.standard_normal(v.shape), tf.float64)
                         for v in models[player].trainable_variables]

            def loss(sign):
                params = {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
                          for p, m in models.items()}
                params[player] = [v + sign * h * d for v, d in zip(params[player], direction)]
                return float(maml_losses(objective, params, reused, inner,
                                         inner_steps=STEPS)[player])

            numeric = (loss(1.0) - loss(-1.0)) / (2 * h)
            analytic = float(sum(tf.reduce_sum(g * d) for g, d in zip(grads[player], direction)))
            self.assertLess(abs(analytic - numeric) / max(abs(numeric), 1e-12), 1e-5,
                            f"{player}: analytic {analytic} vs FD {numeric}")

    @parameterized.parameters("unroll", "loop")
    def test_batchnorm_net_gives_same_meta_gradient_reused_or_copied(self, mode):
        # BatchNorm normalizes with the statistics of each batch: the reused support set
        # must be normalized exactly as each of its copies. Not "loop_remat": a net with
        # non-trainable variables (read in every recomputed step) cannot run in the
        # rematerialized symbolic loop, reused or copied alike (TensorFlow's while-loop
        # gradient rejects the variable read); rematerialize's docstring says so.
        models, objective = toys.toy_classifier(batch_norm=True)
        self.assertTrue(models["model"].non_trainable_variables)
        reused, copied = toys.reused_and_copied(
            toys.classification_batch(per_class=2, seed=1),
            toys.classification_batch(per_class=3, seed=2), [3, 4], STEPS)
        grads = [_flat(tf.function(lambda t=t: meta_gradients(
            objective, toys.variables(models), t, _inner(), inner_steps=STEPS, **MODES[mode])[0])())
            for t in (reused, copied)]
        _assert_close(self, grads[0], grads[1])

    def test_reused_batch_is_the_same_at_every_step_and_per_step_batches_differ(self):
        from tfmeta.types import batch_at
        x = tf.reshape(tf.range(6.0), [2, 3])
        for j in (0, 1, tf.constant(1)):
            self.assertIs(batch_at(Reused(x), j), x)
        np.testing.assert_array_equal(batch_at(x, tf.constant(1)).numpy(), [3.0, 4.0, 5.0])
        task = Task(inner=Reused((x, x)), val=x, seed=tf.constant([0, 1]))
        self.assertIsInstance(tf.nest.map_structure(tf.identity, task).inner, Reused)
