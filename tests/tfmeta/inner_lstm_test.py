"""The LSTM meta-learner: its gradient-descent special case, preprocessing and exact meta-gradient."""

import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import adaptation_trajectory, maml_losses, meta_gradients
from tfmeta.inner_lstm import meta_lstm, meta_lstm_variables, preprocess

H = 1e-6


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
            for p, m in models.items()}


class MetaLSTMTest(parameterized.TestCase):

    def test_preprocessing_is_log_magnitude_and_sign_or_scaled_value(self):
        got = preprocess(tf.constant([-2.0, 1e-6, 0.0, 3e-5, 5e-5], tf.float64)).numpy()
        np.testing.assert_allclose(got[0], [math.log(2.0) / 10, -1.0])
        np.testing.assert_allclose(got[1], [-1.0, math.exp(10) * 1e-6])
        np.testing.assert_allclose(got[2], [-1.0, 0.0])
        np.testing.assert_allclose(got[3], [-1.0, math.exp(10) * 3e-5])   # below e^-10
        np.testing.assert_allclose(got[4], [math.log(5e-5) / 10, 1.0])    # above e^-10

    def test_forget_gate_one_and_input_gate_alpha_is_an_sgd_step(self):
        models, objective = toys.toy_gan()
        generator = models["generator"].trainable_variables
        weights = meta_lstm_variables(generator, 0.3, hidden=4)
        alpha = 0.3
        for w in weights[3:]:                 # gates: no dependence on their inputs
            w.assign(tf.zeros_like(w))
        weights[4].assign(tf.constant(math.log(alpha / (1 - alpha)), tf.float64))  # i = alpha
        weights[6].assign(tf.constant(40.0, tf.float64))      # f = sigmoid(40) = 1.0 in float64
        task = toys.gan_task(3)
        params = _params(models)
        lstm = {"generator": meta_lstm(weights), "discriminator": inner_lib.sgd(alpha)}
        sgd = {"generator": inner_lib.sgd(alpha), "discriminator": inner_lib.sgd(alpha)}
        got = adaptation_trajectory(objective, params, task.inner, lstm, inner_steps=3,
                                    seed=task.seed)
        want = adaptation_trajectory(objective, params, task.inner, sgd, inner_steps=3,
                                     seed=task.seed)
        moved = 0.0
        for j in range(1, 4):
            for a, b, start in zip(got[j]["generator"], want[j]["generator"],
                                   params["generator"]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)
                moved = max(moved, float(np.max(np.abs(b.numpy() - start.numpy()))))
        self.assertGreater(moved, 1e-3)

    def test_default_initialization_steps_near_the_initial_rate_with_a_small_decay(self):
        p = tf.constant([[1.0, -2.0]], tf.float64)
        g = tf.constant([[0.5, 0.25]], tf.float64)
        opt = meta_lstm(meta_lstm_variables([p], 0.1, seed=3))
        (new,), _ = opt.update([g], opt.init([p]), [p], loss=tf.constant(0.7, tf.float64))
        forget = (new.numpy() + 0.1 * g.numpy()) / p.numpy()        # if i were exactly 0.1
        np.testing.assert_allclose(forget, 1 / (1 + math.exp(-5)), atol=0.03)
        self.assertTrue(np.all(np.abs(new.numpy() - (p - 0.1 * g).numpy()) < 0.06))

    # (meta-variable, flat entry): input bias and weights, forget bias, first-layer kernel, bias
    @parameterized.parameters((4, 0), (3, 2), (6, 0), (0, 22), (2, 10))
    def test_second_order_meta_gradient_matches_finite_differences(self, which, entry):
        models, objective = toys.toy_gan()
        generator = models["generator"].trainable_variables
        weights = meta_lstm_variables(generator, 0.05, hidden=3, seed=1)
        inner = {"generator": meta_lstm(weights), "discriminator": inner_lib.sgd(0.05)}
        task = toys.gan_task(2)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner, inner_steps=2)
        player = "generator"
        n = len(generator)
        variable = weights[which]
        base = np.array(variable.numpy(), copy=True)
        index = np.unravel_index(entry, base.shape) if base.shape else ()
        values = []
        for sign in (1.0, -1.0):
            bumped = base.copy()
            bumped[index] += sign * H
            variable.assign(bumped)
            values.append(float(maml_losses(objective, _params(models), task, inner,
                                            inner_steps=2)[player]))
        variable.assign(base)
        numeric = (values[0] - values[1]) / (2 * H)
        analytic = grads[player][n + which].numpy()[index]
        self.assertGreater(abs(numeric), 1e-4)   # far above the differences' rounding
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5)

    def test_bad_settings_and_a_missing_loss_are_one_clear_line(self):
        p = tf.zeros([2], tf.float32)
        with self.assertRaisesRegex(ValueError, r"initial_rate must be in \(0, 1\)"):
            meta_lstm_variables([p], 1.5)
        with self.assertRaisesRegex(ValueError, "hidden must be an int >= 1"):
            meta_lstm_variables([p], 0.1, hidden=0)
        opt = meta_lstm(meta_lstm_variables([p], 0.1))
        with self.assertRaisesRegex(ValueError, r"update needs the inner loss"):
            opt.update([p], opt.init([p]), [p])


if __name__ == "__main__":
    tf.test.main()
