"""The meta-gradient through the policy-gradient step, the Fisher product, CG and TRPO's step."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.rl import navigation, policy, trpo
from tfmeta.rl.learner import MetaPolicyLearner


def tiny_learner(first_order=False, dtype="float64", **kwargs):
    model = policy.build_policy(2, 2, hidden=(5,), activation="tanh", init_std=0.5, seed=3,
                                dtype=dtype)
    return MetaPolicyLearner(model, inner_lr=0.5, rollouts=3, horizon=6,
                             first_order=first_order, **kwargs)


def fixed_data(learner, tasks=2):
    """Rollouts of the pre- and post-update policies, then held fixed: a deterministic
    meta-objective of the parameters."""
    goals = navigation.sample_goals(tf.constant([0, 1]), tasks, dtype=tf.float64)
    seed = tf.constant([4, 5])
    batches, _, _ = learner.collect(learner.params(), goals, seed, 1)
    inner = tf.nest.map_structure(lambda t: t[:, None], batches[0])
    return inner, batches[1], seed


class MetaGradientTest(absltest.TestCase):

    def test_second_order_meta_gradient_matches_finite_differences(self):
        learner = tiny_learner()
        inner, outer, seed = fixed_data(learner)
        params = learner.params()
        _, _, grads = learner.meta_loss_and_gradient(params, inner, outer, seed)
        g = trpo.flatten(grads).numpy()
        rng = np.random.default_rng(0)
        flat = trpo.flatten(params)
        for _ in range(3):
            d = rng.normal(size=g.shape)
            d /= np.linalg.norm(d)
            eps = 1e-5
            up = learner.meta_loss(trpo.unflatten(flat + eps * d, params), inner, outer, seed)[0]
            down = learner.meta_loss(trpo.unflatten(flat - eps * d, params), inner, outer, seed)[0]
            self.assertAlmostEqual(float((up - down) / (2 * eps)), float(g @ d), places=7)
        # ... and the second-order term matters here: first order gives another gradient.
        first = tiny_learner(first_order=True)
        _, _, fo = first.meta_loss_and_gradient(params, inner, outer, seed)
        self.assertGreater(np.abs(trpo.flatten(fo).numpy() - g).max(), 1e-4)

    def test_fisher_product_is_the_hessian_of_the_kl_and_conjugate_gradient_solves_it(self):
        learner = tiny_learner()
        inner, outer, seed = fixed_data(learner)
        params = learner.params()
        n = int(trpo.flatten(params).shape[0])
        fisher = np.stack([learner._fvp(params, inner, outer, seed,
                                                  tf.one_hot(i, n, dtype=tf.float64)).numpy()
                           for i in range(n)], axis=1)
        np.testing.assert_allclose(fisher, fisher.T, atol=1e-10)
        self.assertGreater(np.linalg.eigvalsh(fisher).min(), -1e-10)   # PSD at the old policy
        damped = fisher + 1e-3 * np.eye(n)
        b = np.random.default_rng(1).normal(size=n)
        x = trpo.conjugate_gradient(lambda v: tf.linalg.matvec(tf.constant(damped), v),
                                    tf.constant(b), iterations=4 * n, tolerance=1e-24)
        np.testing.assert_allclose(x, np.linalg.solve(damped, b), rtol=1e-5, atol=1e-6)

    def test_trust_region_step_has_the_kl_budget_and_line_search_backtracks(self):
        fisher = tf.constant([[2.0, 0.5], [0.5, 1.0]], tf.float64)
        g = tf.constant([1.0, -2.0], tf.float64)
        step = trpo.trust_region_step(g, lambda v: tf.linalg.matvec(fisher, v), max_kl=0.01,
                                      iterations=10, damping=0.0)
        self.assertAlmostEqual(0.5 * float(tf.tensordot(step, tf.linalg.matvec(fisher, step), 1)),
                               0.01, places=8)
        np.testing.assert_allclose(step / tf.norm(step),
                                   -np.linalg.solve(fisher, g) / np.linalg.norm(
                                       np.linalg.solve(fisher, g)), rtol=1e-8)
        kl_of = lambda x: 0.5 * float(tf.tensordot(x, tf.linalg.matvec(fisher, x), 1))  # noqa: E731
        ok, new, info = trpo.line_search(lambda x: (tf.tensordot(g, x, 1), kl_of(x)),
                                         tf.zeros(2, tf.float64), 2 * step, 0.0, max_kl=0.01)
        self.assertTrue(ok)
        self.assertEqual(info["backtracks"], 4)   # 0.8^4 * 2 = 0.82: KL 0.0067 <= 0.01
        ok, new, _ = trpo.line_search(lambda x: (1.0, 0.0), tf.zeros(2, tf.float64), step, 0.0,
                                      max_kl=0.01)
        self.assertFalse(ok)
        np.testing.assert_array_equal(new, [0.0, 0.0])


class CollectTest(absltest.TestCase):

    def test_evaluation_rollouts_and_step_sizes(self):
        """`rollouts` sets the batch's rollout axis; step j is SGD at `step_sizes[j]` on the
        same rollouts' gradient (the default step is `inner_lr`, 0.5 here)."""
        learner = tiny_learner()
        goals = navigation.sample_goals(tf.constant([0, 1]), 2, dtype=tf.float64)
        seed = tf.constant([4, 5])
        params = learner.params()
        batches, means, history = learner.collect(params, goals, seed, 2, rollouts=5,
                                                  step_sizes=(0.2, 0.05))
        self.assertEqual(batches[0].mask.shape[:2], (2, 5))
        self.assertEqual(means.shape, (3, 2))
        default, _, default_history = learner.collect(params, goals, seed, 1, rollouts=5)
        np.testing.assert_array_equal(default[0].mask.numpy(), batches[0].mask.numpy())
        for task in range(2):
            for p, at_half, at_fifth in zip(params, default_history[1][task],
                                            history[1][task]):
                gradient = (p.numpy() - at_half.numpy()) / 0.5
                np.testing.assert_allclose(at_fifth.numpy(), p.numpy() - 0.2 * gradient,
                                           rtol=1e-9, atol=1e-12)
        second = learner.adapt(history[1][0], tf.nest.map_structure(
            lambda t: t[0][None], batches[1]), seed, first_order=True)
        for p, at_half, after in zip(history[1][0], second, history[2][0]):
            np.testing.assert_allclose(after.numpy(), p.numpy() - 0.1 * (p.numpy() -
                                       at_half.numpy()), rtol=1e-9, atol=1e-12)
        with self.assertRaisesRegex(ValueError, r"^collect needs a step size for each of its 2 "
                                                r"steps, got \[0.2\]$"):
            learner.collect(params, goals, seed, 2, step_sizes=(0.2,))

    def test_step_sizes_as_a_tensor_adapt_alike_and_need_no_new_trace(self):
        learner = tiny_learner()
        goals = navigation.sample_goals(tf.constant([0, 1]), 2, dtype=tf.float64)
        seed, params = tf.constant([4, 5]), learner.params()
        _, floats, by_float = learner.collect(params, goals, seed, 2, rollouts=3,
                                              step_sizes=(0.2, 0.05))
        traces = []
        for sizes in ((0.2, 0.05), (0.3, 0.1)):
            _, means, by_tensor = learner._collect(params, goals, seed, 2, rollouts=3,
                                                   step_sizes=tf.constant(sizes, tf.float64))
            traces.append(learner._collect.experimental_get_tracing_count())
            if sizes == (0.2, 0.05):
                np.testing.assert_allclose(means.numpy(), floats.numpy(), rtol=1e-9)
                for a, b in zip(by_float[2][1], by_tensor[2][1]):
                    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
        self.assertEqual(traces[0], traces[1])


class TrainStepTest(absltest.TestCase):

    def test_a_meta_update_is_a_pure_function_of_the_variables_and_the_batch(self):
        batch = (navigation.sample_goals(tf.constant([0, 0]), 2), tf.constant([0, 9]))
        learner = tiny_learner(dtype="float32")
        start = [v.numpy() for v in learner.variables]
        metrics = learner.train_step(batch)
        once = [v.numpy() for v in learner.variables]
        self.assertEqual(int(learner.step.numpy()), 1)
        self.assertLessEqual(float(metrics["kl"]), 0.01)
        self.assertGreater(max(np.abs(a - b).max() for a, b in zip(once, start)), 0.0)
        for var, value in zip(learner.variables, start):
            var.assign(value)
        learner.train_step(batch)
        for var, value in zip(learner.variables, once):
            np.testing.assert_array_equal(var.numpy(), value)

    def test_ppo_meta_update_moves_the_policy_within_the_clip(self):
        learner = tiny_learner(dtype="float32", outer="ppo", ppo_epochs=2)
        start = [v.numpy() for v in learner.variables]
        metrics = learner.train_step((navigation.sample_goals(tf.constant([0, 0]), 2),
                                      tf.constant([0, 9])))
        self.assertTrue(np.isfinite(float(metrics["loss"])))
        self.assertGreater(max(np.abs(v.numpy() - s).max()
                               for v, s in zip(learner.variables, start)), 0.0)

if __name__ == "__main__":
    absltest.main()
