"""Reptile, the MetaLearner glue, step weights, and the engine's errors."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import (MetaLearner, adaptation_trajectory, maml_losses, meta_gradients,
                               reptile_direction, step_weights)
from tfmeta.types import Task, task_at


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables] for p, m in models.items()}


def _stack(tasks):
    return tf.nest.map_structure(lambda *t: tf.stack(t), *tasks)


class ReptileTest(parameterized.TestCase):

    def test_reptile_direction_equals_init_minus_adapted(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(3)
        inner = inner_lib.adam(0.01, beta_1=0.5)
        params = _params(models)
        direction = reptile_direction(objective, params, task, inner, inner_steps=3)
        # Independent computation: three plain Adam steps written out here.
        from tfmeta.algorithms.adapt import step_seed
        current = {p: [tf.identity(t) for t in v] for p, v in params.items()}
        m = {p: [tf.zeros_like(t) for t in v] for p, v in params.items()}
        s = {p: [tf.zeros_like(t) for t in v] for p, v in params.items()}
        for j in range(3):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(current)
                losses = objective(current, task.inner[j], step_seed(task.seed, 0, j))
            new = {}
            for p in current:
                g = tape.gradient(losses[p], current[p])
                m[p] = [0.5 * a + 0.5 * b for a, b in zip(m[p], g)]
                s[p] = [0.999 * a + 0.001 * b * b for a, b in zip(s[p], g)]
                new[p] = [x - 0.01 * (mm / (1 - 0.5 ** (j + 1)))
                          / (tf.sqrt(ss / (1 - 0.999 ** (j + 1))) + 1e-7)
                          for x, mm, ss in zip(current[p], m[p], s[p])]
            current = new
        for p in params:
            for d, init, final in zip(direction[p], params[p], current[p]):
                np.testing.assert_allclose(d.numpy(), (init - final).numpy(), rtol=1e-9,
                                           atol=1e-13)
            self.assertGreater(float(tf.linalg.global_norm(direction[p])), 0.0)

    def test_reptile_learner_moves_init_toward_adapted(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(2)
        before = {p: [v.numpy() for v in m.trainable_variables] for p, m in models.items()}
        direction = reptile_direction(objective, _params(models), task,
                                      inner_lib.sgd(0.1), inner_steps=2)
        learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.1),
                              outer=lambda: keras.optimizers.SGD(0.5), algorithm="reptile",
                              inner_steps=2)
        learner.train_step(_stack([task]))
        for p, m in models.items():
            for v, b, d in zip(m.trainable_variables, before[p], direction[p]):
                np.testing.assert_allclose(v.numpy(), b - 0.5 * d.numpy(), rtol=1e-6, atol=1e-12)

    @parameterized.parameters("loop", "vectorized")
    def test_carried_inner_state_starts_each_task_and_becomes_the_tasks_mean(self, mode):
        models, objective = toys.toy_gan()
        tasks = [toys.gan_task(2, seed=s) for s in (1, 2)]
        inner = inner_lib.adam(0.01, beta_1=0.0)
        learner = MetaLearner(toys.variables(models), objective, inner,
                              outer=lambda: keras.optimizers.SGD(0.5), algorithm="reptile",
                              inner_steps=2, carry_inner_state=True, tasks_mode=mode)
        fresh = {p: inner.init(_params(models)[p]) for p in models}
        for update in range(2):
            start = {p: tf.nest.map_structure(tf.identity, learner.inner_state[p])
                     for p in models}
            if update == 0:    # the first update starts from a fresh state
                tf.nest.map_structure(lambda a, b: np.testing.assert_array_equal(a, b),
                                      start, fresh)
            params = _params(models)
            outs = [reptile_direction(objective, params, t, inner, inner_steps=2, states=start,
                                      return_states=True) for t in tasks]
            metrics = learner.train_step(_stack(tasks))
            self.assertFalse([k for k in metrics if k.startswith("inner_state")])
            for p in models:
                want = tf.nest.map_structure(lambda a, b: (a + b) / 2, outs[0][1][p],
                                             outs[1][1][p])
                tf.nest.map_structure(
                    lambda have, w: np.testing.assert_allclose(have.numpy(), w.numpy(),
                                                               rtol=1e-6, atol=1e-12),
                    learner.inner_state[p], want)
                moved = [v.numpy() - b.numpy() for v, b in zip(models[p].trainable_variables,
                                                                params[p])]
                for m, d0, d1 in zip(moved, outs[0][0][p], outs[1][0][p]):
                    np.testing.assert_allclose(m, -0.5 * (d0 + d1).numpy() / 2, rtol=1e-5,
                                               atol=1e-9)
        self.assertEqual(float(learner.inner_state["generator"][0].numpy()), 4.0)  # 2 x 2 steps
        carried = learner.carried_inner("generator")
        tf.nest.map_structure(lambda a, b: np.testing.assert_array_equal(a, b),
                              carried.init(None), learner.inner_state["generator"])
        with self.assertRaisesRegex(ValueError, "carry_inner_state applies to "
                                                "algorithm='reptile', not 'maml'"):
            MetaLearner(toys.variables(models), objective, inner, outer=keras.optimizers.SGD,
                        algorithm="maml", inner_steps=1, carry_inner_state=True)


class MetaLearnerTest(parameterized.TestCase):

    @parameterized.parameters("maml", "fomaml", "reptile")
    def test_meta_gradient_is_mean_over_tasks(self, algorithm):
        models, objective = toys.toy_gan()
        tasks = [toys.gan_task(2, seed=s) for s in (1, 2, 3)]
        inner = inner_lib.rmsprop(0.01)
        learner = MetaLearner(toys.variables(models), objective, inner,
                              outer=lambda: keras.optimizers.RMSprop(1e-3),
                              algorithm=algorithm, inner_steps=2)
        grads, metrics = learner._compute(_stack(tasks))
        expected = {p: [0.0] * len(models[p].trainable_variables) for p in models}
        for t in tasks:
            if algorithm == "reptile":
                g = reptile_direction(objective, _params(models), t, inner, inner_steps=2)
            else:
                g, _, _ = meta_gradients(objective, toys.variables(models), t, inner, inner_steps=2,
                                         first_order=algorithm == "fomaml")
            for p in g:
                expected[p] = [a + b / 3 for a, b in zip(expected[p], g[p])]
        for p in models:
            for a, b in zip(grads[p], expected[p]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-14)
        for key in ("meta_loss/generator", "inner_loss/discriminator", "grad_norm/generator"):
            self.assertTrue(np.isfinite(metrics[key].numpy()), key)

    def test_train_step_lowers_meta_loss_on_fixed_task(self):
        models, objective = toys.toy_regressor()
        tasks = _stack([toys.regression_task(2, seed=s) for s in (1, 2)])
        learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.05),
                              outer=lambda: keras.optimizers.Adam(1e-2), inner_steps=2)
        first = float(learner.train_step(tasks)["meta_loss/model"])
        for _ in range(30):
            last = float(learner.train_step(tasks)["meta_loss/model"])
        self.assertLess(last, 0.7 * first)
        self.assertEqual(int(learner.step.numpy()), 31)

    def test_steps_is_the_deprecated_name_of_inner_steps(self):
        models, objective = toys.toy_regressor()
        variables = toys.variables(models)

        def make(**kw):
            return MetaLearner(variables, objective, inner_lib.sgd(0.05),
                               outer=lambda: keras.optimizers.SGD(0.1), **kw)

        self.assertEqual(make().inner_steps, 10)
        self.assertEqual(make(inner_steps=3).inner_steps, 3)
        with self.assertWarnsRegex(DeprecationWarning, "`steps` is deprecated: use `inner_steps`"):
            self.assertEqual(make(steps=4).inner_steps, 4)
        with self.assertRaisesRegex(TypeError, "got both `inner_steps` and `steps`, its "
                                               "deprecated name; give `inner_steps` only"):
            make(steps=4, inner_steps=4)

    def test_non_finite_loss_raises_and_keeps_variables(self):
        models, objective = toys.toy_regressor()
        task = toys.regression_task(1)
        bad = Task(inner=task.inner, val=(task.val[0], task.val[1] * np.nan), seed=task.seed)
        learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.05),
                              outer=lambda: keras.optimizers.Adam(1e-2), inner_steps=1)
        before = [v.numpy() for v in models["model"].trainable_variables]
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "non-finite"):
            learner.train_step(_stack([bad]))
        for v, b in zip(models["model"].trainable_variables, before):
            np.testing.assert_array_equal(v.numpy(), b)
        self.assertEqual(int(learner.step.numpy()), 0)

    def test_every_variable_of_every_player_gets_a_gradient(self):
        models, objective = toys.toy_gan()
        grads, _, _ = meta_gradients(objective, toys.variables(models), toys.gan_task(2),
                                     inner_lib.rmsprop(1e-3), inner_steps=2)
        for p, m in models.items():
            self.assertLen(grads[p], len(m.trainable_variables))
            for g in grads[p]:
                self.assertIsNotNone(g)
                self.assertGreater(float(tf.reduce_sum(tf.abs(g))), 0.0)


class RMSpropZeroGradientTest(parameterized.TestCase):

    @parameterized.parameters(False, True)
    def test_meta_gradient_finite_when_a_gradient_entry_is_exactly_zero(self, jit_compile):
        # The first input feature is always 0, so the first kernel row's gradient is
        # exactly 0 on every step and its RMSprop second moment is exactly 0. With
        # tf.sqrt in the update, the XLA-compiled meta-gradient of this case is NaN.
        models, objective = toys.toy_regressor()
        task = toys.regression_task(2)
        mask = tf.constant([0.0, 1.0, 1.0], tf.float64)
        task = Task(inner=(task.inner[0] * mask, task.inner[1]),
                    val=(task.val[0] * mask, task.val[1]), seed=task.seed)
        params = _params(models)
        with tf.GradientTape() as tape:
            tape.watch(params)
            losses = objective(params, (task.inner[0][0], task.inner[1][0]), task.seed)
        first_grad = tape.gradient(losses["model"], params["model"])[0]
        self.assertEqual(float(tf.reduce_max(tf.abs(first_grad[0]))), 0.0)
        learner = MetaLearner(toys.variables(models), objective, inner_lib.rmsprop(0.01),
                              outer=lambda: keras.optimizers.SGD(0.1), inner_steps=2,
                              jit_compile=jit_compile)
        grads, _ = learner._compute(_stack([task]))
        for g in grads["model"]:
            self.assertTrue(np.all(np.isfinite(g.numpy())))
        self.assertGreater(float(tf.reduce_sum(tf.abs(grads["model"][0]))), 0.0)

    def test_safe_sqrt_has_zero_gradient_where_sqrt_has_nan(self):
        g = tf.constant(0.0, tf.float64)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(g)
            plain = tf.sqrt(0.1 * g * g)
            safe = inner_lib.safe_sqrt(0.1 * g * g)
        self.assertTrue(np.isnan(tape.gradient(plain, g).numpy()))
        self.assertEqual(float(tape.gradient(safe, g)), 0.0)
        np.testing.assert_allclose(inner_lib.safe_sqrt(tf.constant([0.0, 4.0])).numpy(), [0, 2])


class StepWeightsTest(parameterized.TestCase):

    def test_uniform_final_annealed(self):
        np.testing.assert_allclose(step_weights("uniform", 4).numpy(), [0.25] * 4)
        np.testing.assert_allclose(step_weights("final", 4).numpy(), [0, 0, 0, 1])
        np.testing.assert_allclose(step_weights("annealed", 4, 0, 100).numpy(), [0.25] * 4,
                                   rtol=1e-6)
        late = step_weights("annealed", 4, 100, 100).numpy()
        np.testing.assert_allclose(late[:3], [0.0075] * 3, rtol=1e-5)
        np.testing.assert_allclose(late.sum(), 1.0, rtol=1e-6)
        mid = step_weights("annealed", 4, 50, 100).numpy()
        self.assertTrue(late[-1] > mid[-1] > 0.25)
        np.testing.assert_allclose(step_weights("uniform", 0).numpy(), [1.0])

    def test_final_weights_ignore_earlier_validation_losses(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(3)
        params = _params(models)
        final = maml_losses(objective, params, task, inner_lib.sgd(0.1), inner_steps=3,
                            step_weights="final")
        traj = adaptation_trajectory(objective, params, task.inner, inner_lib.sgd(0.1),
                                     inner_steps=3, seed=task.seed)
        from tfmeta.algorithms.adapt import step_seed
        last = objective(traj[-1], task.val[2], step_seed(task.seed, 1, 2))
        for p in final:
            np.testing.assert_allclose(final[p].numpy(), last[p].numpy(), rtol=1e-12)


class ErrorsTest(parameterized.TestCase):

    def test_negative_steps_raises(self):
        models, objective = toys.toy_gan()
        with self.assertRaisesRegex(ValueError, "steps must be a non-negative int, got -1"):
            adaptation_trajectory(objective, _params(models), toys.gan_task(1).inner,
                                  inner_lib.sgd(0.1), inner_steps=-1, seed=tf.constant([0, 0]))

    def test_unknown_algorithm_and_optimizer_raise(self):
        models, objective = toys.toy_gan()
        with self.assertRaisesRegex(ValueError, "unknown algorithm 'mamll'"):
            MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.1),
                        outer=lambda: keras.optimizers.SGD(0.1), algorithm="mamll")
        with self.assertRaisesRegex(ValueError, "unknown inner optimizer 'rmsprob'"):
            inner_lib.get("rmsprob", learning_rate=0.1)
        with self.assertRaisesRegex(ValueError, "unknown step_weights 'last'"):
            step_weights("last", 3)

    def test_mismatched_structures_raise(self):
        models, _ = toys.toy_gan()
        params = _params(models)["generator"]
        with self.assertRaisesRegex(ValueError, "got 3 gradients for 4 parameters"):
            inner_lib.sgd(0.1).update(params[:3], (), params)
        with self.assertRaisesRegex(ValueError, r"gradient 1 has shape \(3,\)"):
            inner_lib.rmsprop(0.1).update([params[0], tf.zeros([3], tf.float64)] + params[2:],
                                          inner_lib.rmsprop(0.1).init(params), params)
        with self.assertRaisesRegex(ValueError, "params has 3 tensors"):
            functional.apply(models["generator"], params[:3], tf.zeros([1, 2], tf.float64))
        with self.assertRaisesRegex(ValueError, "players are"):
            inner_lib.per_player({"generator": inner_lib.sgd(0.1)}, ["generator", "discriminator"])

    def test_objective_ignoring_a_players_parameters_raises(self):
        models, objective = toys.toy_gan()

        def lazy(params, batch, seed):
            losses = objective(params, batch, seed)
            return {"generator": losses["generator"],
                    "discriminator": tf.reduce_mean(batch) * 0.0 + 1.0}

        with self.assertRaisesRegex(ValueError, "player 'discriminator' does not depend"):
            adaptation_trajectory(lazy, _params(models), toys.gan_task(1).inner,
                                  inner_lib.sgd(0.1), inner_steps=1, seed=tf.constant([0, 0]))
        with self.assertRaisesRegex(ValueError, "meta-loss of player 'discriminator'"):
            meta_gradients(lazy, toys.variables(models), toys.gan_task(0), inner_lib.sgd(0.1),
                           inner_steps=0)

    def test_bad_optimizer_arguments_raise(self):
        with self.assertRaisesRegex(ValueError, "learning_rate must be a positive number, got -1"):
            inner_lib.sgd(-1)
        with self.assertRaisesRegex(ValueError, "rho must be in"):
            inner_lib.rmsprop(0.1, rho=1.5)

    def test_task_at_selects_one_task(self):
        tasks = _stack([toys.gan_task(1, seed=s) for s in (4, 5)])
        one = task_at(tasks, 1)
        np.testing.assert_array_equal(one.seed.numpy(), [5, 7])
