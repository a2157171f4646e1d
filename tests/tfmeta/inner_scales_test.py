"""Meta-learned per-layer step sizes: the update, float64 finite differences, first order."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import adaptation_trajectory, maml_losses, meta_gradients
from tfmeta.inner_scales import layer_scale_variables, layer_scaled, step_scaled

H = 1e-7


def _scaled(models, base, values=None):
    """Per player: (scaled optimizer, its scale variables), scales set to ``values``."""
    out = {}
    for p, m in models.items():
        scales = layer_scale_variables(len(m.trainable_variables), dtype="float64",
                                       name=f"{p}_scale")
        for i, s in enumerate(scales):
            if values is not None:
                s.assign(values[i % len(values)])
        out[p] = (layer_scaled(base(), scales), scales)
    return out


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
            for p, m in models.items()}


def _check_scale_gradients(test, objective, models, task, scaled, steps, first_order):
    """Each scale's meta-gradient against a float64 central difference of the meta-loss."""
    inner = {p: o for p, (o, _) in scaled.items()}
    grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                 inner_steps=steps, first_order=first_order)
    for p, m in models.items():
        n = len(m.trainable_variables)
        test.assertLen(grads[p], n + len(scaled[p][1]))
        for i, scale in enumerate(scaled[p][1]):
            base = float(scale.numpy())
            values = []
            for sign in (1.0, -1.0):
                scale.assign(base + sign * H)
                values.append(float(maml_losses(objective, _params(models), task, inner,
                                                inner_steps=steps, first_order=first_order)[p]))
            scale.assign(base)
            numeric = (values[0] - values[1]) / (2 * H)
            test.assertGreater(abs(numeric), 1e-6, f"{p} scale {i}: no effect")
            np.testing.assert_allclose(float(grads[p][n + i]), numeric, rtol=1e-5, atol=1e-9,
                                       err_msg=f"{p} scale {i}")


class LayerScaledTest(parameterized.TestCase):

    @parameterized.parameters("sgd", "rmsprop", "adam")
    def test_each_tensors_step_is_the_bases_times_its_scale(self, name):
        params = [tf.constant([1.0, -2.0], tf.float64), tf.constant([[0.5]], tf.float64)]
        grads = [[tf.constant([0.3, -0.1], tf.float64), tf.constant([[2.0]], tf.float64)],
                 [tf.constant([-0.2, 0.4], tf.float64), tf.constant([[1.0]], tf.float64)]]
        base = inner_lib.get(name, learning_rate=0.1)
        scaled = layer_scaled(base, [tf.constant(0.5, tf.float64), tf.constant(3.0, tf.float64)])
        b_s, s_p, s_s = base.init(params), params, scaled.init(params)
        for g in grads:   # two steps: the base's state (moments) advances unscaled
            b_new, b_s = base.update(g, b_s, s_p)
            s_new, s_s = scaled.update(g, s_s, s_p)
            for scale, p, b, s in zip((0.5, 3.0), s_p, b_new, s_new):
                np.testing.assert_allclose(s.numpy(), (p + scale * (b - p)).numpy(), rtol=1e-12)
                self.assertFalse(np.allclose(s.numpy(), b.numpy()))
            s_p = s_new
        self.assertEqual(scaled.name, f"{name}+layer_scales")
        self.assertLen(scaled.variables, 2)

    def test_scales_of_one_adapt_as_the_base(self):
        models, objective = toys.toy_gan()
        task = toys.gan_task(3)
        base = lambda: inner_lib.rmsprop(0.01)   # noqa: E731
        plain = adaptation_trajectory(objective, _params(models), task.inner,
                                      {p: base() for p in models}, inner_steps=3,
                                      seed=task.seed)[-1]
        scaled = adaptation_trajectory(objective, _params(models), task.inner,
                                       {p: o for p, (o, _) in _scaled(models, base).items()},
                                       inner_steps=3, seed=task.seed)[-1]
        for p in plain:
            for a, b in zip(plain[p], scaled[p]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)

    @parameterized.parameters("sgd", "rmsprop")
    def test_scale_meta_gradient_matches_float64_finite_differences(self, name):
        models, objective = toys.toy_gan()
        scaled = _scaled(models, lambda: inner_lib.get(name, learning_rate=0.05),
                         values=(0.7, 1.3))
        _check_scale_gradients(self, objective, models, toys.gan_task(3), scaled, steps=3,
                               first_order=False)

    def test_first_order_meta_gradient_reaches_the_scales(self):
        """First order stops only the inner gradients. After one step the inner gradient is
        taken at the initialization and does not depend on the scales, so the first-order
        meta-gradient of each scale is exact: it matches finite differences."""
        models, objective = toys.toy_gan()
        scaled = _scaled(models, lambda: inner_lib.rmsprop(0.05), values=(0.7, 1.3))
        _check_scale_gradients(self, objective, models, toys.gan_task(1), scaled, steps=1,
                               first_order=True)

    @parameterized.parameters("sgd", "rmsprop", "adam")
    def test_step_scaled_is_the_base_at_that_times_its_rate(self, name):
        params = [tf.constant([1.0, -2.0], tf.float64), tf.constant([[0.5]], tf.float64)]
        grads = [[tf.constant([0.3, -0.1], tf.float64), tf.constant([[2.0]], tf.float64)],
                 [tf.constant([-0.2, 0.4], tf.float64), tf.constant([[1.0]], tf.float64)]]
        scaled = step_scaled(inner_lib.get(name, learning_rate=0.1), 0.25)
        slower = inner_lib.get(name, learning_rate=0.025)
        a_p, a_s, b_p, b_s = params, scaled.init(params), params, slower.init(params)
        for g in grads:
            a_p, a_s = scaled.update(g, a_s, a_p)
            b_p, b_s = slower.update(g, b_s, b_p)
        for a, b, p in zip(a_p, b_p, params):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
            self.assertGreater(float(tf.reduce_max(tf.abs(a - p))), 1e-3)
        self.assertEqual(scaled.name, f"{name}x0.25")

    def test_bad_input_is_one_clear_error(self):
        with self.assertRaisesRegex(ValueError, "`factor` must be a positive number"):
            step_scaled(inner_lib.sgd(0.1), 0.0)
        with self.assertRaisesRegex(ValueError, "scales is empty"):
            layer_scaled(inner_lib.sgd(0.1), [])
        opt = layer_scaled(inner_lib.sgd(0.1), [tf.constant(1.0)])
        with self.assertRaisesRegex(ValueError, "1 scales for 2 parameter tensors"):
            opt.init([tf.ones([1]), tf.ones([2])])
        with self.assertRaisesRegex(ValueError, "`initial` must be a positive number"):
            layer_scale_variables(2, initial=0.0)
        with self.assertRaisesRegex(ValueError, "`count` must be an integer >= 1"):
            layer_scale_variables(0)
