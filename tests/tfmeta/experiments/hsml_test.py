"""The HSML regression experiment: exact resume, results per family, and what HSML learns.

Tiny real runs (a 1-8-1 regressor, meta-batches of 4 tasks) without XLA, so
that each builds in seconds; the CLI test runs the default XLA path.
"""

import os
import tempfile

import numpy as np
from absl.testing import absltest

from tests.tfmeta.experiments.few_shot_test import checkpoint_values
from tfmeta.data.functions import FAMILIES, FunctionTasks
from tfmeta.experiments import hsml

SMALL = dict(steps=4, meta_batch_size=4, inner_steps=2, hidden=(8,), task_hidden=6,
             encoder_hidden=5, clusters=(3, 2), eval_tasks=40, curve_tasks=8, eval_steps=3,
             eval_every=2, checkpoint_every=2, inner_lr=0.01, jit_compile=False)


class HSMLExperimentTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        """One uninterrupted HSML run: the resume test's reference, the results' run."""
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.straight = os.path.join(cls.tmp.name, "straight")
        cls.done = hsml.run(hsml.HSMLConfig(**SMALL), cls.straight)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def test_interrupted_and_resumed_run_ends_with_the_same_weights_and_modulation(self):
        straight, done = self.straight, self.done
        resumed = os.path.join(self.tmp.name, "resumed")
        config = hsml.HSMLConfig(**SMALL)
        first = hsml.run(config, resumed, stop=lambda: os.path.exists(
            os.path.join(resumed, "checkpoints", "ckpt-2.index")))
        self.assertTrue(first.interrupted)
        self.assertFalse(os.path.exists(os.path.join(resumed, hsml.RESULTS_FILE)))
        second = hsml.run(config, resumed)
        self.assertEqual(second.step, 4)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        modulation = [n for n in want if n.startswith("hsml/") and "OPTIMIZER" not in n]
        self.assertLen(modulation, 18 + 2 * 4)   # autoencoder, levels, root; 4 gates
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        self.assertEqual(second.results, done.results)
        # a finished run rerun only evaluates again: the same results
        self.assertEqual(hsml.run(config, resumed).results, done.results)
        restored = hsml.load_run(resumed)
        self.assertEqual(int(restored.learner.step.numpy()), 4)
        self.assertEqual([p["step"] for p in hsml.read_curve(resumed)], [0, 2, 4])

    def test_results_hold_mse_per_family_and_assignments_per_family(self):
        results = self.done.results
        self.assertEqual(set(results["mse"]), {"0", "1", "2", "3"})
        self.assertEqual(sum(f["tasks"] for f in results["per_family"].values()), 40)
        families = FunctionTasks(5, seed=10_000).curves(0, 40).family.numpy()
        for f, name in enumerate(FAMILIES):
            self.assertEqual(results["per_family"][name]["tasks"], int(np.sum(families == f)))
            self.assertLen(results["assignments"][name], 3)
            self.assertAlmostEqual(sum(results["assignments"][name]), 1.0, places=5)
            self.assertEqual(sum(results["dominant"][name]), int(np.sum(families == f)))
        self.assertLess(results["mse"]["3"], results["mse"]["0"])   # adaptation helps
        maml = hsml.run(hsml.HSMLConfig(**dict(SMALL, algorithm="maml")),
                        os.path.join(self.tmp.name, "maml")).results
        self.assertNotIn("assignments", maml)
        # the same held-out tasks: equal family counts
        self.assertEqual({n: f["tasks"] for n, f in maml["per_family"].items()},
                         {n: f["tasks"] for n, f in results["per_family"].items()})

    def test_another_config_in_the_workdir_is_one_error_naming_the_field(self):
        with self.assertRaisesRegex(ValueError, r"`shots`=10 \(the run has 5\)"):
            hsml.run(hsml.HSMLConfig(**dict(SMALL, shots=10)), self.straight)

    def test_bad_settings_name_the_field(self):
        for bad, message in ((dict(algorithm="reptile"), r"`algorithm`='reptile' is not one of"),
                             (dict(clusters=(4, 0)), r"`clusters` must be an integer >= 1"),
                             (dict(sigma=0.0), r"`sigma` must be a positive number, got 0.0"),
                             (dict(gate="layer"), r"`gate`='layer' is not one of")):
            with self.assertRaisesRegex(ValueError, message):
                hsml.HSMLConfig(**bad)


if __name__ == "__main__":
    absltest.main()
