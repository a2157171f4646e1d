"""Exactness of the meta-gradients: finite differences, first order, k = 0, Meta-SGD."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import adapt, maml_losses, meta_gradients

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
        return float(maml_losses(objective, params, task, inner, steps=steps)[player])
    return (loss(1.0) - loss(-1.0)) / (2 * H)


class SecondOrderTest(parameterized.TestCase):

    @parameterized.product(optimizer=["sgd", "rmsprop"], steps=[2, 3])
    def test_meta_gradient_matches_finite_differences(self, optimizer, steps):
        models, objective = toys.toy_gan()
        inner = (inner_lib.sgd(0.1) if optimizer == "sgd"
                 else inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7))
        task = toys.gan_task(steps)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     steps=steps)
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
                                      inner_lib.sgd(0.5), steps=2)
        first, _, _ = meta_gradients(objective, toys.variables(models), task,
                                     inner_lib.sgd(0.5), steps=2, first_order=True)
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
                                     steps=1, first_order=True, step_weights="final")
        adapted = adapt(objective, _params(models), task.inner, inner, steps=1,
                        seed=task.seed)[-1]
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
                                         inner_lib.sgd(0.1), steps=0, first_order=first_order)
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
                                     inner, steps=1)
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
        adapted = adapt(objective, params, task.inner, inner, steps=1, seed=task.seed)[-1]
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
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner, steps=1)
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
            vals.append(float(maml_losses(objective, _params(models), task, inner, steps=1)[p]))
        lr.assign(base)
        numeric = (vals[0] - vals[1]) / (2 * H)
        np.testing.assert_allclose(grads[p][n].numpy()[idx], numeric, rtol=1e-5)


