"""`InnerLoop`: a MetaLearner's inner-loop settings as one value, or as keyword arguments.

Both forms build the same learner (the same meta-gradients, bit for bit); a keyword
that sets a field of a given spec to another value is a TypeError naming both.
"""

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import InnerLoop, MetaLearner


def _stack(tasks):
    return tf.nest.map_structure(lambda *t: tf.stack(t), *tasks)


class InnerLoopTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.toy = toys.toy_gan()   # (models, objective)
        cls.tasks = _stack([toys.gan_task(2, seed=s) for s in (1, 2)])

    def _learner(self, algorithm="maml", **options):
        models, objective = self.toy
        return MetaLearner(toys.variables(models), objective, inner_lib.rmsprop(0.01),
                           outer=lambda: keras.optimizers.SGD(0.1), algorithm=algorithm,
                           **options)

    @parameterized.named_parameters(
        ("maml_final", "maml", dict(inner_steps=2, step_weights="final")),
        ("maml_annealed_unrolled", "maml", dict(inner_steps=2, step_weights="annealed",
                                                anneal_steps=5, unroll=True)),
        ("reptile_carried", "reptile", dict(inner_steps=2, carry_inner_state=True)),
    )
    def test_spec_and_keywords_give_identical_meta_gradients(self, algorithm, options):
        by_keywords = self._learner(algorithm, **options)
        by_spec = self._learner(algorithm, inner_loop=InnerLoop(**options))
        self.assertEqual(by_keywords.inner_loop, by_spec.inner_loop)
        self.assertEqual(by_spec.inner_steps, options["inner_steps"])
        want, want_metrics = by_keywords._compute(self.tasks)
        got, got_metrics = by_spec._compute(self.tasks)
        for p in want:
            for a, b in zip(got[p], want[p], strict=True):
                np.testing.assert_array_equal(a.numpy(), b.numpy())
        for key in want_metrics:
            np.testing.assert_array_equal(got_metrics[key].numpy(), want_metrics[key].numpy())

    def test_keywords_build_the_spec_with_its_defaults(self):
        self.assertEqual(self._learner().inner_loop, InnerLoop())
        self.assertEqual(self._learner(inner_steps=3, first_order_steps=4).inner_loop,
                         InnerLoop(inner_steps=3, first_order_steps=4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.assertEqual(self._learner(steps=4).inner_loop, InnerLoop(inner_steps=4))

    def test_first_order_players_are_stored_sorted_and_checked_against_the_players(self):
        self.assertEqual(InnerLoop(first_order_players="discriminator").first_order_players,
                         ("discriminator",))
        spec = InnerLoop(first_order_players=["generator", "discriminator"])
        self.assertEqual(spec.first_order_players, ("discriminator", "generator"))
        self.assertIs(self._learner(inner_loop=spec, first_order_players=(
            "generator", "discriminator")).inner_loop, spec)   # the same set: accepted
        with self.assertRaisesRegex(ValueError, r"first_order names \['critic'\], which are "
                                                r"not players; expected some of"):
            self._learner(first_order_players=("critic",))
        with self.assertRaisesRegex(ValueError, "first_order_players applies to "
                                                "algorithm='maml', not 'fomaml'"):
            self._learner("fomaml", first_order_players=("generator",))

    def test_a_keyword_equal_to_the_spec_is_accepted(self):
        spec = InnerLoop(inner_steps=2, step_weights="final")
        self.assertIs(self._learner(inner_loop=spec, inner_steps=2).inner_loop, spec)

    def test_a_conflicting_keyword_is_a_type_error_naming_both(self):
        spec = InnerLoop(inner_steps=2, step_weights="final")
        with self.assertRaisesRegex(TypeError, r"`inner_loop` and `inner_steps`=3"):
            self._learner(inner_loop=spec, inner_steps=3)
        with self.assertRaisesRegex(TypeError, r"`inner_loop` and `remat`=True, "
                                               r"`step_weights`='uniform'"):
            self._learner(inner_loop=spec, step_weights="uniform", remat=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with self.assertRaisesRegex(TypeError, r"`inner_loop` and `inner_steps`=5"):
                self._learner(inner_loop=spec, steps=5)
        with self.assertRaisesRegex(TypeError, r"`inner_loop` must be an InnerLoop"):
            self._learner(inner_loop={"inner_steps": 2})

    def test_bad_fields_raise_naming_them(self):
        with self.assertRaisesRegex(ValueError, "inner_steps must be a non-negative int, got -1"):
            InnerLoop(inner_steps=-1)
        with self.assertRaisesRegex(ValueError, "unknown step_weights 'last'"):
            InnerLoop(step_weights="last")
        with self.assertRaisesRegex(ValueError, "first_order_steps"):
            InnerLoop(first_order_steps=-2)
        with self.assertRaises(dataclasses.FrozenInstanceError):
            InnerLoop().inner_steps = 3


if __name__ == "__main__":
    tf.test.main()
