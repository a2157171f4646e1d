"""Exactness of the meta-gradients: finite differences, first order, k = 0, Meta-SGD."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import adaptation_trajectory, maml_losses, meta_gradients
from tfmeta.types import Task

H = 1e-8  # see the issue: RMSprop's early steps make the meta-loss steep near small gradients


def _params(models, offsets=None):
    out = {}
    for p, m in models.items():
        vs = [tf.convert_to_tensor(v) for v in m.trainable_variables]
        if offsets is not None and p in offsets:
            vs = [v + o for v, o in zip(vs, offsets[p])]
        out[p] = vs
    return out


def _directional_fd(objective, models, task, inner, steps, player, direction):
    def loss(sign):
        params = _params(models, {player: [sign * H * d for d in direction]})
        return float(maml_losses(objective, params, task, inner, inner_steps=steps)[player])
    return (loss(1.0) - loss(-1.0)) / (2 * H)


class SecondOrderTest(parameterized.TestCase):

    @parameterized.product(optimizer=["sgd", "rmsprop"], steps=[2, 3])
    def test_meta_gradient_matches_finite_differences(self, optimizer, steps):
        models, objective = toys.toy_gan()
        inner = (inner_lib.sgd(0.1) if optimizer == "sgd"
                 else inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7))
        task = toys.gan_task(steps)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=steps)
        rng = np.random.default_rng(0)
        for player in ("generator", "discriminator"):
            for _ in range(3):
                direction = [tf.constant(rng.standard_normal(v.shape), tf.float64)
                             for v in models[player].trainable_variables]
                analytic = float(sum(tf.reduce_sum(g * d) for g, d in zip(grads[player], direction)))
                numeric = _directional_fd(objective, models, task, inner, steps, player, direction)
                rel = abs(analytic - numeric) / max(abs(numeric), 1e-12)
                self.assertLess(rel, 1e-5, f"{player}: analytic {analytic} vs FD {numeric}")

    def test_second_order_differs_from_first_order(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(2)
        second, _, _ = meta_gradients(objective, toys.variables(models), task,
                                      inner_lib.sgd(0.5), inner_steps=2)
        first, _, _ = meta_gradients(objective, toys.variables(models), task,
                                     inner_lib.sgd(0.5), inner_steps=2, first_order=True)
        diff = max(float(tf.reduce_max(tf.abs(a - b)))
                   for p in second for a, b in zip(second[p], first[p]))
        self.assertGreater(diff, 1e-4)


class FirstOrderTest(parameterized.TestCase):

    @parameterized.parameters("sgd", "rmsprop", "adam")
    def test_first_order_grad_equals_grad_at_adapted_params(self, optimizer):
        models, objective = toys.toy_gan()
        inner = inner_lib.get(optimizer, learning_rate=0.05)
        task = toys.gan_task(1)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=1, first_order=True, step_weights="final")
        adapted = adaptation_trajectory(objective, _params(models), task.inner, inner,
                                        inner_steps=1, seed=task.seed)[-1]
        adapted = {p: [tf.constant(t.numpy()) for t in v] for p, v in adapted.items()}
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(adapted)
            val = objective(adapted, task.val[0], adapt_seed(task.seed))
        for p in adapted:
            expected = tape.gradient(val[p], adapted[p])
            for a, b in zip(grads[p], expected):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)

    def test_zero_steps_reduce_to_plain_gradient(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(0)
        for first_order in (False, True):
            grads, _, _ = meta_gradients(objective, toys.variables(models), task,
                                         inner_lib.sgd(0.1), inner_steps=0, first_order=first_order)
            params = _params(models)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(params)
                val = objective(params, task.val[0], adapt_seed(task.seed))
            for p in params:
                for a, b in zip(grads[p], tape.gradient(val[p], params[p])):
                    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def adapt_seed(seed):
    from tfmeta.algorithms.adapt import step_seed
    return step_seed(seed, 1, 0)


class MetaSGDTest(parameterized.TestCase):

    def test_meta_sgd_learning_rates_receive_gradient(self):
        models, objective = toys.toy_gan()
        lrs = {p: inner_lib.meta_sgd_learning_rates(m.trainable_variables, 0.05)
               for p, m in models.items()}
        inner = {p: inner_lib.meta_sgd(lrs[p]) for p in models}
        grads, _, _ = meta_gradients(objective, toys.variables(models), toys.gan_task(1),
                                     inner, inner_steps=1)
        for p, m in models.items():
            n = len(m.trainable_variables)
            self.assertLen(grads[p], n + len(lrs[p]))
            lr_grads = grads[p][n:]
            self.assertGreater(sum(float(tf.reduce_sum(tf.abs(g))) for g in lr_grads), 0.0)
            for g in lr_grads:
                self.assertTrue(np.all(np.isfinite(g.numpy())))

    def test_meta_sgd_one_step_update_matches_formula(self):
        models, objective = toys.toy_gan()
        lrs = {p: inner_lib.meta_sgd_learning_rates(m.trainable_variables, 0.05)
               for p, m in models.items()}
        for p in lrs:  # make the rates differ per entry
            for i, v in enumerate(lrs[p]):
                v.assign(tf.random.stateless_uniform(v.shape, [i, 9], 0.01, 0.1, tf.float64))
        inner = {p: inner_lib.meta_sgd(lrs[p]) for p in models}
        task = toys.gan_task(1)
        params = _params(models)
        adapted = adaptation_trajectory(objective, params, task.inner, inner, inner_steps=1,
                                        seed=task.seed)[-1]
        from tfmeta.algorithms.adapt import step_seed
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(params)
            losses = objective(params, task.inner[0], step_seed(task.seed, 0, 0))
        for p in params:
            grads = tape.gradient(losses[p], params[p])
            for new, old, g, lr in zip(adapted[p], params[p], grads, lrs[p]):
                np.testing.assert_allclose(new.numpy(), (old - lr * g).numpy(), rtol=1e-12)

    def test_meta_sgd_second_order_matches_finite_differences(self):
        models, objective = toys.toy_gan()
        lrs = {p: inner_lib.meta_sgd_learning_rates(m.trainable_variables, 0.05)
               for p, m in models.items()}
        inner = {p: inner_lib.meta_sgd(lrs[p]) for p in models}
        task = toys.gan_task(1)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner, inner_steps=1)
        p = "generator"
        n = len(models[p].trainable_variables)
        lr = lrs[p][0]
        base = lr.numpy().copy()
        idx = (0, 0)
        vals = []
        for sign in (1.0, -1.0):
            bumped = base.copy()
            bumped[idx] += sign * H
            lr.assign(bumped)
            vals.append(float(maml_losses(objective, _params(models), task, inner,
                                          inner_steps=1)[p]))
        lr.assign(base)
        numeric = (vals[0] - vals[1]) / (2 * H)
        np.testing.assert_allclose(grads[p][n].numpy()[idx], numeric, rtol=1e-5)




def _flat_grads(grads):
    return [g.numpy() for p in sorted(grads) for g in grads[p]]


class LoopAndRematTest(parameterized.TestCase):
    """The symbolic inner loop (default), the unrolled one and ``remat`` give the same numbers."""

    UNROLLED, LOOP = dict(unroll=True, remat=False), dict(unroll=False, remat=False)
    LOOP_REMAT, UNROLLED_REMAT = dict(unroll=False, remat=True), dict(unroll=True, remat=True)
    MODES = [UNROLLED, LOOP, LOOP_REMAT, UNROLLED_REMAT]
    # Every mode is traced separately (second order: seconds each), so the richest inner
    # state (Adam: m, v, t) goes through every mode, and each other optimizer through the
    # modes that carry its state differently (the loop and its recomputation).

    def _compute(self, objective, variables, task, inner, steps, **mode):
        fn = tf.function(lambda: meta_gradients(objective, variables, task, inner,
                                                inner_steps=steps, **mode))
        grads, meta, _ = fn()
        return _flat_grads(grads), {p: float(v) for p, v in meta.items()}

    def _assert_all_equal(self, objective, variables, task, inner, steps, rtol, atol,
                          first_order=False, modes=None):
        reference, _, _ = meta_gradients(objective, variables, task, inner, inner_steps=steps,
                                         first_order=first_order, unroll=True)  # eager
        reference = _flat_grads(reference)
        self.assertGreater(max(float(np.abs(a).max()) for a in reference), 0.0)
        for mode in modes or self.MODES:
            grads, _ = self._compute(objective, variables, task, inner, steps,
                                     first_order=first_order, **mode)
            self.assertLen(grads, len(reference))
            for a, b in zip(reference, grads):
                np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=str(mode))

    @parameterized.parameters(("adam", False, "all"), ("rmsprop", False, "loops"),
                              ("rmsprop", True, "loops"), ("sgd", True, "loops"))
    def test_gradient_same_in_every_mode(self, optimizer, first_order, modes):
        models, objective = toys.toy_gan()
        inner = {"rmsprop": inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7),
                 "adam": inner_lib.adam(0.01, beta_1=0.5),
                 "sgd": inner_lib.sgd(0.1)}[optimizer]
        modes = self.MODES if modes == "all" else [self.LOOP, self.LOOP_REMAT]
        # Two steps: the loop carries the state from one iteration into the next.
        self._assert_all_equal(objective, toys.variables(models), toys.gan_task(2), inner, 2,
                               rtol=1e-10, atol=1e-14, first_order=first_order, modes=modes)

    def test_meta_sgd_learning_rate_gradients_same_in_every_mode(self):
        # The rates are variables read inside every (recomputed) step.
        models, objective = toys.toy_gan()
        inner = {p: inner_lib.meta_sgd(inner_lib.meta_sgd_learning_rates(
            m.trainable_variables, 0.05)) for p, m in models.items()}
        self._assert_all_equal(objective, toys.variables(models), toys.gan_task(2), inner, 2,
                               rtol=1e-10, atol=1e-14)

    def test_annealed_step_weights_same_in_every_mode(self):
        models, objective = toys.toy_gan()
        from tfmeta.algorithms import step_weights
        weights = step_weights("annealed", 3, 300, anneal_steps=1000, dtype=tf.float64)
        variables, task = toys.variables(models), toys.gan_task(3)
        inner = inner_lib.rmsprop(0.01)
        reference = _flat_grads(meta_gradients(objective, variables, task, inner, inner_steps=3,
                                               step_weights=weights, unroll=True)[0])
        loop = _flat_grads(tf.function(lambda: meta_gradients(
            objective, variables, task, inner, inner_steps=3, step_weights=weights)[0])())
        for a, b in zip(reference, loop):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)

    def test_final_by_name_skips_other_steps_with_the_same_numbers(self):
        # "final" by name computes only the last validation loss; the one-hot tensor
        # computes all k and weights k-1 of them by zero: same gradients and meta-losses.
        # Second order (first order differs only in the stop_gradient of the inner steps).
        models, objective = toys.toy_gan()
        variables, task = toys.variables(models), toys.gan_task(2)
        inner = inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7)
        one_hot = tf.constant([0.0, 1.0], tf.float64)
        for mode in (self.LOOP, self.LOOP_REMAT):   # the unrolled graph: counted below
            results = [self._compute(objective, variables, task, inner, 2,
                                     step_weights=w, **mode)
                       for w in ("final", one_hot)]
            (grads_a, meta_a), (grads_b, meta_b) = results
            for p in meta_a:
                self.assertAlmostEqual(meta_a[p], meta_b[p], places=12, msg=str(mode))
            for a, b in zip(grads_a, grads_b):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=str(mode))
        # and fewer validation losses are built: the unrolled graph is smaller (first order:
        # the same validation losses, built without the inner steps' second derivatives)
        sizes = [len(tf.function(lambda w=w: meta_gradients(
            objective, variables, task, inner, inner_steps=2, step_weights=w, unroll=True,
            first_order=True)[1]).get_concrete_function().graph.get_operations())
            for w in ("final", one_hot)]
        self.assertLess(sizes[0], sizes[1])

    def test_dcgan_wgan_gp_gradient_same_in_every_mode(self):
        # The real workload: the gradient penalty's own tape nests inside each step.
        import keras
        from tfmeta.gan import build_discriminator, build_generator, gan_objective
        keras.utils.set_random_seed(0)
        g = build_generator(image_shape=(8, 8, 1), latent_dim=4, width=4, seed=0)
        d = build_discriminator(image_shape=(8, 8, 1), width=4, seed=1)
        objective = gan_objective(g, d, loss="wgan-gp")
        variables = {"generator": g.trainable_variables, "discriminator": d.trainable_variables}
        task = Task(inner=tf.random.stateless_uniform([2, 6, 8, 8, 1], [1, 1], -1.0, 1.0),
                    val=tf.random.stateless_uniform([2, 6, 8, 8, 1], [1, 2], -1.0, 1.0),
                    seed=tf.constant([3, 4], tf.int32))
        self._assert_all_equal(objective, variables, task, inner_lib.rmsprop(1e-3), 2,
                               rtol=1e-4, atol=1e-6, modes=[self.LOOP, self.LOOP_REMAT])

    def test_metrics_same_in_loop_and_unrolled(self):
        models, objective = toys.toy_gan()
        args = (objective, toys.variables(models), toys.gan_task(2), inner_lib.sgd(0.1))
        out = [tf.function(lambda u=u: meta_gradients(*args, inner_steps=2, unroll=u)[1:])()
               for u in (True, False)]
        for (meta_a, metrics_a), (meta_b, metrics_b) in [out]:
            for p in meta_a:
                self.assertAlmostEqual(float(meta_a[p]), float(meta_b[p]), places=12)
            self.assertEqual(sorted(metrics_a), sorted(metrics_b))
            for k in metrics_a:
                self.assertAlmostEqual(float(metrics_a[k]), float(metrics_b[k]), places=12)

    def test_rematerialize_refuses_eager_mode(self):
        from tfmeta.algorithms.adapt import rematerialize
        with self.assertRaisesRegex(ValueError, "inside tf.function"):
            rematerialize(lambda x: x * 2.0, tf.constant(1.0))
