"""The inner loop's names: `adaptation_trajectory`, `adapted_params_and_carry` and
`inner_steps=`; the old names still work.

`tfmeta.algorithms.adapt` is the deprecated name of `adaptation_trajectory`, `adapt_loop` that
of `adapted_params_and_carry`, and `steps=` that of `inner_steps=` in `adaptation_trajectory`,
`maml_losses`, `meta_gradients`, `reptile_direction` and the two deprecated functions:
each old name gives one DeprecationWarning per call and the same numbers; both names at once
is a TypeError that names both.
"""

import warnings

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import algorithms
from tfmeta import inner as inner_lib
from tfmeta.algorithms import (adaptation_trajectory, adapted_params_and_carry, maml_losses,
                               meta_gradients, reptile_direction)


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
            for p, m in models.items()}


def _flat(nest):
    return np.concatenate([np.ravel(t) for t in tf.nest.flatten(nest)])


def _deprecations(fn):
    """``(fn(), [messages of the DeprecationWarnings it raised])``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


class RenamedTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.toy = toys.toy_gan()   # (models, objective); a function as an attribute would bind
        cls.task = toys.gan_task(2)
        cls.inner = inner_lib.sgd(0.1)

    def _call(self, name, **steps):
        (models, objective), task, inner = self.toy, self.task, self.inner
        calls = {
            "adaptation_trajectory": lambda: adaptation_trajectory(
                objective, _params(models), task.inner, inner, seed=task.seed, **steps),
            "adapt": lambda: algorithms.adapt(
                objective, _params(models), task.inner, inner, seed=task.seed, **steps),
            "adapted_params_and_carry": lambda: adapted_params_and_carry(
                objective, _params(models), task.inner, inner, seed=task.seed, **steps)[0],
            "adapt_loop": lambda: algorithms.adapt_loop(
                objective, _params(models), task.inner, inner, seed=task.seed, **steps)[0],
            "maml_losses": lambda: maml_losses(objective, _params(models), task, inner,
                                               **steps),
            "meta_gradients": lambda: meta_gradients(objective, toys.variables(models),
                                                     task, inner, **steps)[:2],
            "reptile_direction": lambda: reptile_direction(objective, _params(models), task,
                                                           inner, **steps),
        }
        return calls[name]()

    @parameterized.parameters("adaptation_trajectory", "maml_losses", "meta_gradients",
                              "reptile_direction")
    def test_inner_steps_is_the_name_and_steps_warns_once_with_the_same_numbers(self, name):
        new, warned = _deprecations(lambda: self._call(name, inner_steps=2))
        self.assertEqual(warned, [])
        old, warned = _deprecations(lambda: self._call(name, steps=2))
        self.assertLen(warned, 1)
        self.assertIn("`steps`", warned[0])
        self.assertIn("use `inner_steps`", warned[0])
        np.testing.assert_array_equal(_flat(old), _flat(new))

    def test_adapt_is_the_deprecated_name_of_adaptation_trajectory(self):
        new, warned = _deprecations(lambda: self._call("adaptation_trajectory", inner_steps=2))
        self.assertEqual(warned, [])
        self.assertLen(new, 3)   # params before, after step 1, after step 2
        for steps in ({"steps": 2}, {"inner_steps": 2}):
            old, warned = _deprecations(lambda steps=steps: self._call("adapt", **steps))
            self.assertLen(warned, 1, f"adapt(..., {steps}): {warned}")
            self.assertIn("`tfmeta.algorithms.adapt` is deprecated: use `adaptation_trajectory`",
                          warned[0])
            np.testing.assert_array_equal(_flat(old), _flat(new))

    def test_adapt_loop_is_the_deprecated_name_of_adapted_params_and_carry(self):
        new, warned = _deprecations(lambda: self._call("adapted_params_and_carry",
                                                       inner_steps=2))
        self.assertEqual(warned, [])
        trajectory = self._call("adaptation_trajectory", inner_steps=2)
        np.testing.assert_allclose(_flat(new), _flat(trajectory[-1]), rtol=1e-6, atol=1e-7)
        for steps in ({"steps": 2}, {"inner_steps": 2}):
            old, warned = _deprecations(lambda steps=steps: self._call("adapt_loop", **steps))
            self.assertLen(warned, 1, f"adapt_loop(..., {steps}): {warned}")
            self.assertIn("`tfmeta.algorithms.adapt_loop` is deprecated: use "
                          "`adapted_params_and_carry`", warned[0])
            np.testing.assert_array_equal(_flat(old), _flat(new))

    @parameterized.parameters("adaptation_trajectory", "adapt", "adapt_loop", "maml_losses",
                              "meta_gradients", "reptile_direction")
    def test_both_names_is_a_type_error_naming_both(self, name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with self.assertRaisesRegex(TypeError, r"both `inner_steps` and `steps`"):
                self._call(name, inner_steps=2, steps=2)

    @parameterized.parameters("adaptation_trajectory", "maml_losses", "meta_gradients",
                              "reptile_direction")
    def test_no_inner_steps_is_a_type_error_naming_it(self, name):
        with self.assertRaisesRegex(TypeError, r"missing the keyword argument `inner_steps`"):
            self._call(name)

    def test_a_negative_count_names_inner_steps(self):
        with self.assertRaisesRegex(ValueError, "inner_steps must be a non-negative int, got -1"):
            self._call("adaptation_trajectory", inner_steps=-1)


if __name__ == "__main__":
    tf.test.main()


class StepCountHelpersTest(parameterized.TestCase):
    """`step_weights` and `per_step_learning_rates` take `inner_steps`; `steps=` warns."""

    def test_steps_is_the_deprecated_name_of_inner_steps(self):
        from tfmeta.algorithms.adapt import step_weights
        want = step_weights("annealed", 3, 300, anneal_steps=1000).numpy()
        np.testing.assert_array_equal(step_weights("annealed", inner_steps=3, iteration=300)
                                      .numpy(), want)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = step_weights("annealed", iteration=300, steps=3).numpy()
            rates = inner_lib.per_step_learning_rates(4, initial=0.1, steps=2)
        np.testing.assert_array_equal(old, want)
        self.assertEqual(tuple(rates.shape), (2, 4))
        self.assertEqual([str(w.message) for w in caught],
                         ["`steps` of step_weights() is deprecated: use `inner_steps`",
                          "`steps` of per_step_learning_rates() is deprecated: use "
                          "`inner_steps`"])
        self.assertEqual(tuple(inner_lib.per_step_learning_rates(4, 2, 0.1).shape), (2, 4))
        with self.assertRaisesRegex(TypeError, "got both `inner_steps` and `steps`"):
            step_weights("final", 2, steps=2)
        with self.assertRaisesRegex(TypeError, "missing the argument `initial`"):
            inner_lib.per_step_learning_rates(4, 2)
