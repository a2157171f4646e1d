"""ANIL (Raghu et al. 2020): the inner loop adapts only the head (``adapt_only``).

A tiny float64 classifier (a tanh layer, then the linear head) on a 3-way task: the
second-order meta-gradient equals central finite differences of the meta-loss; first order
equals the gradient of the query loss at (shared body, adapted head); selecting every tensor
is MAML; the body passes through the inner steps unchanged while only the head's inner
gradient is taken; the symbolic loop equals the unrolled one; Meta-SGD keeps rates for the
head alone; bad selections are one clear error.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import (InnerLoop, MetaLearner, adaptation_trajectory,
                               adapted_params_and_carry, maml_losses, meta_gradients)
from tfmeta.algorithms.adapt import step_seed
from tfmeta.functional import head_indices
from tfmeta.types import Reused, Task

H = 1e-6


def _setup(ways=3, seed=0):
    models, objective = toys.toy_classifier(ways=ways, seed=seed)
    task = Task(inner=Reused(toys.classification_batch(ways, 2, seed=1)),
                val=Reused(toys.classification_batch(ways, 3, seed=2)),
                seed=tf.constant([1, 7], tf.int32))
    head = {"model": head_indices(models["model"])}
    return models, objective, task, head


def _params(models, offsets=None):
    vs = [tf.convert_to_tensor(v) for v in models["model"].trainable_variables]
    if offsets is not None:
        vs = [v + o for v, o in zip(vs, offsets)]
    return {"model": vs}


def _max_diff(a, b):
    return max(float(tf.reduce_max(tf.abs(x - y))) for x, y in zip(a, b))


class AnilTest(parameterized.TestCase):

    def test_head_indices_of_the_toy_classifier_are_its_last_dense_layer(self):
        models, _, _, head = _setup()
        variables = models["model"].trainable_variables
        self.assertEqual(head, {"model": (2, 3)})
        self.assertEqual([variables[i].shape for i in head["model"]], [(6, 3), (3,)])

    @parameterized.product(optimizer=["sgd", "rmsprop"], steps=[1, 2])
    def test_anil_meta_gradient_matches_finite_differences(self, optimizer, steps):
        models, objective, task, head = _setup()
        inner = (inner_lib.sgd(0.3) if optimizer == "sgd"
                 else inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7))
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=steps, adapt_only=head, step_weights="uniform")

        def loss(offsets):
            return float(maml_losses(objective, _params(models, offsets), task, inner,
                                     inner_steps=steps, adapt_only=head,
                                     step_weights="uniform")["model"])

        rng = np.random.default_rng(0)
        variables = models["model"].trainable_variables
        for _ in range(3):
            direction = [tf.constant(rng.standard_normal(v.shape), tf.float64) for v in variables]
            analytic = float(sum(tf.reduce_sum(g * d) for g, d in zip(grads["model"], direction)))
            numeric = (loss([H * d for d in direction])
                       - loss([-H * d for d in direction])) / (2 * H)
            self.assertLess(abs(analytic - numeric) / max(abs(numeric), 1e-12), 1e-6,
                            f"analytic {analytic} vs FD {numeric}")
        # Second order: the body's meta-gradient also flows through the head's inner gradient.
        first, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=steps, adapt_only=head, first_order=True,
                                     step_weights="uniform")
        self.assertGreater(_max_diff(grads["model"][:2], first["model"][:2]), 1e-6)

    def test_first_order_anil_is_the_query_gradient_at_the_shared_body_and_adapted_head(self):
        models, objective, task, head = _setup()
        inner = inner_lib.sgd(0.3)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=2, first_order=True, adapt_only=head,
                                     step_weights="final")
        # The formula by hand: two SGD steps on the head alone, then the query gradient.
        params = _params(models)["model"]
        body, w = params[:2], params[2:]
        for j in range(2):
            with tf.GradientTape() as tape:
                tape.watch(w)
                inner_loss = objective({"model": body + w}, task.inner.batch,
                                       step_seed(task.seed, 0, j))["model"]
            w = [wi - 0.3 * gi for wi, gi in zip(w, tape.gradient(inner_loss, w))]
        adapted = [tf.constant(t.numpy()) for t in body + w]
        with tf.GradientTape() as tape:
            tape.watch(adapted)
            query = objective({"model": adapted}, task.val.batch, step_seed(task.seed, 1, 1))
        expected = tape.gradient(query["model"], adapted)
        for a, b in zip(grads["model"], expected):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-13)

    @parameterized.parameters(False, True)
    def test_anil_with_every_tensor_selected_is_maml(self, first_order):
        models, objective, task, _ = _setup()
        everything = {"model": list(range(len(models["model"].trainable_variables)))}
        kwargs = dict(inner_steps=2, first_order=first_order, step_weights="uniform")
        maml, maml_meta, _ = meta_gradients(objective, toys.variables(models), task,
                                            inner_lib.sgd(0.3), **kwargs)
        anil, anil_meta, _ = meta_gradients(objective, toys.variables(models), task,
                                            inner_lib.sgd(0.3), adapt_only=everything, **kwargs)
        self.assertEqual(float(maml_meta["model"]), float(anil_meta["model"]))
        for a, b in zip(maml["model"], anil["model"]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14, atol=1e-16)

    def test_the_inner_loop_leaves_the_body_unchanged_and_moves_the_head(self):
        models, objective, task, head = _setup()
        params = _params(models)
        trajectory = adaptation_trajectory(objective, params, task.inner, inner_lib.sgd(0.3),
                                           inner_steps=3, seed=task.seed, adapt_only=head)
        for step in trajectory[1:]:
            for i in (0, 1):   # the body: the very tensors it started as
                self.assertIs(step["model"][i], params["model"][i])
        self.assertGreater(_max_diff(trajectory[-1]["model"][2:], params["model"][2:]), 1e-3)
        # The inner optimizer sees the head alone: its state is of the head's two tensors.
        seen = []
        sgd = inner_lib.sgd(0.3)
        spy = inner_lib.InnerOptimizer(sgd.init, lambda g, s, p: (seen.append(len(p)),
                                                                   sgd.update(g, s, p))[1])
        adaptation_trajectory(objective, params, task.inner, spy, inner_steps=1,
                              seed=task.seed, adapt_only=head)
        self.assertEqual(seen, [2])

    def test_the_inner_gradient_is_taken_of_the_head_alone(self):
        # A body the loss cannot reach by the head's path would make a full inner gradient
        # fail ("does not depend on its parameters"); ANIL never asks for it.
        models, objective, task, head = _setup()
        params = _params(models)
        params["model"].append(tf.constant([1.0], tf.float64))   # an extra, unused tensor
        wrapped = lambda p, b, s: objective({"model": p["model"][:-1]}, b, s)  # noqa: E731
        with self.assertRaisesRegex(ValueError, "does not depend on its parameters"):
            adaptation_trajectory(wrapped, params, task.inner, inner_lib.sgd(0.3),
                                  inner_steps=1, seed=task.seed)
        adaptation_trajectory(wrapped, params, task.inner, inner_lib.sgd(0.3), inner_steps=1,
                              seed=task.seed, adapt_only=head)

    def test_the_symbolic_loop_equals_the_unrolled_steps(self):
        models, objective, task, head = _setup()
        inner = inner_lib.rmsprop(0.01)
        unrolled = adaptation_trajectory(objective, _params(models), task.inner, inner,
                                         inner_steps=3, seed=task.seed, adapt_only=head)[-1]
        looped, _ = tf.function(lambda: adapted_params_and_carry(
            objective, _params(models), task.inner, inner, inner_steps=3, seed=task.seed,
            adapt_only=head))()
        np.testing.assert_allclose(_max_diff(unrolled["model"], looped["model"]), 0.0,
                                   atol=1e-14)
        kwargs = dict(inner_steps=2, adapt_only=head, step_weights="uniform")
        a, _, _ = meta_gradients(objective, toys.variables(models), task, inner, unroll=True,
                                 **kwargs)
        b, _, _ = tf.function(lambda: meta_gradients(
            objective, toys.variables(models), task, inner, unroll=False, remat=True,
            **kwargs))()
        self.assertLess(_max_diff(a["model"], b["model"]), 1e-12)

    def test_meta_sgd_learns_rates_for_the_head_only(self):
        models, objective, task, head = _setup()
        variables = models["model"].trainable_variables
        rates = inner_lib.meta_sgd_learning_rates([variables[i] for i in head["model"]], 0.3)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task,
                                     inner_lib.meta_sgd(rates), inner_steps=1, adapt_only=head)
        self.assertLen(grads["model"], len(variables) + 2)
        self.assertGreater(sum(float(tf.reduce_sum(tf.abs(g))) for g in grads["model"][-2:]), 0)
        # Rates for every tensor do not match the head's two.
        full = inner_lib.meta_sgd_learning_rates(variables, 0.3)
        with self.assertRaisesRegex(ValueError, "4 learning-rate tensors for 2 parameters"):
            meta_gradients(objective, toys.variables(models), task, inner_lib.meta_sgd(full),
                           inner_steps=1, adapt_only=head)

    def test_meta_learner_trains_anil_and_moves_body_and_head(self):
        import keras
        models, objective, task, head = _setup()
        tasks = tf.nest.map_structure(lambda t: tf.stack([t, t]), task)
        learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.3),
                              lambda: keras.optimizers.SGD(0.1), inner_steps=1,
                              inner_loop=None, adapt_only=head)
        self.assertEqual(learner.inner_loop, InnerLoop(inner_steps=1, adapt_only=head))
        before = [v.numpy() for v in models["model"].trainable_variables]
        learner.train_step(tasks)
        moved = [np.abs(v.numpy() - b).max() for v, b in
                 zip(models["model"].trainable_variables, before)]
        self.assertTrue(all(m > 0 for m in moved), moved)

    def test_bad_selections_are_one_clear_error(self):
        import keras
        models, objective, task, _ = _setup()
        params = _params(models)
        for bad, message in (({"critic": (0,)}, r"names players \['critic'\] that are not "
                                                r"among \['model'\]"),
                             ({"model": (4,)}, r"adapt_only\['model'\] must be distinct "
                                               r"indices in 0..3 .* got \(4,\)"),
                             ({"model": ()}, r"at least one, got \(\)"),
                             ({"model": (1, 1)}, r"got \(1, 1\)")):
            with self.assertRaisesRegex(ValueError, message):
                adaptation_trajectory(objective, params, task.inner, inner_lib.sgd(0.3),
                                      inner_steps=1, seed=task.seed, adapt_only=bad)
        with self.assertRaisesRegex(ValueError, "adapt_only .ANIL. applies to algorithm='maml' "
                                                "or 'fomaml', not 'reptile'"):
            MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.3),
                        lambda: keras.optimizers.SGD(0.1), algorithm="reptile",
                        inner_steps=1, adapt_only={"model": (2, 3)})
        with self.assertRaisesRegex(ValueError, r"adapt_only\['model'\] must be distinct"):
            MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.3),
                        lambda: keras.optimizers.SGD(0.1), inner_steps=1,
                        adapt_only={"model": (9,)})
