"""Inner optimizers match their formulas step by step."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfmeta import inner as inner_lib


def _run(opt, grads_per_step, params):
    state = opt.init(params)
    for g in grads_per_step:
        params, state = opt.update(g, state, params)
    return params


class InnerOptimizersTest(parameterized.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.p0 = [rng.standard_normal((3, 2)), rng.standard_normal((2,))]
        self.gs = [[rng.standard_normal((3, 2)), rng.standard_normal((2,))] for _ in range(3)]
        self.tf_p0 = [tf.constant(p) for p in self.p0]
        self.tf_gs = [[tf.constant(g) for g in gs] for gs in self.gs]

    def test_sgd_matches_formula(self):
        out = _run(inner_lib.sgd(0.1), self.tf_gs, self.tf_p0)
        for i, p in enumerate(self.p0):
            np.testing.assert_allclose(out[i], p - 0.1 * sum(g[i] for g in self.gs), rtol=1e-12)

    def test_rmsprop_matches_formula(self):
        out = _run(inner_lib.rmsprop(0.01, rho=0.9, epsilon=1e-7), self.tf_gs, self.tf_p0)
        for i, p in enumerate(self.p0):
            v = np.zeros_like(p)
            for g in self.gs:
                v = 0.9 * v + 0.1 * g[i] ** 2
                p = p - 0.01 * g[i] / (np.sqrt(v) + 1e-7)
            np.testing.assert_allclose(out[i], p, rtol=1e-12)

    def test_adam_matches_formula(self):
        out = _run(inner_lib.adam(0.01, beta_1=0.5, beta_2=0.99, epsilon=1e-7), self.tf_gs,
                   self.tf_p0)
        for i, p in enumerate(self.p0):
            m = v = np.zeros_like(p)
            for t, g in enumerate(self.gs, start=1):
                m = 0.5 * m + 0.5 * g[i]
                v = 0.99 * v + 0.01 * g[i] ** 2
                p = p - 0.01 * (m / (1 - 0.5 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-7)
            np.testing.assert_allclose(out[i], p, rtol=1e-12)

    def test_meta_sgd_matches_formula(self):
        lrs = [tf.constant(np.full(p.shape, 0.05)) for p in self.p0]
        out = _run(inner_lib.meta_sgd(lrs), self.tf_gs[:1], self.tf_p0)
        for i, p in enumerate(self.p0):
            np.testing.assert_allclose(out[i], p - 0.05 * self.gs[0][i], rtol=1e-12)

    @parameterized.parameters("float32", "float64")
    def test_dtype_is_preserved(self, dtype):
        params = [tf.ones([2], dtype)]
        for name in ("sgd", "rmsprop", "adam"):
            out = _run(inner_lib.get(name, learning_rate=0.1), [[tf.ones([2], dtype)]], params)
            self.assertEqual(out[0].dtype, tf.as_dtype(dtype))

    def test_update_is_pure(self):
        opt = inner_lib.rmsprop(0.1)
        state = opt.init(self.tf_p0)
        a, _ = opt.update(self.tf_gs[0], state, self.tf_p0)
        b, _ = opt.update(self.tf_gs[0], state, self.tf_p0)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

    def test_meta_sgd_shape_mismatch_raises(self):
        opt = inner_lib.meta_sgd([tf.ones([2])])
        with self.assertRaisesRegex(ValueError, "1 learning-rate tensors for 2 parameters"):
            opt.init(self.tf_p0)
        with self.assertRaisesRegex(ValueError, "learning_rates is empty"):
            inner_lib.meta_sgd([])
