"""tfmeta.distribute: a meta-update under MirroredStrategy equals the single-device one.

One child process on 2 logical CPUs checks the engine (``MetaLearner``) and the Keras front
door's ``fit`` (``tfmeta.keras``) against one device: one TensorFlow start for both.
"""

import json
import os
import subprocess
import sys
import unittest

from tests.shared import ROOT
from tfmeta import distribute


class MirroredMetaUpdateTest(unittest.TestCase):
    """Two logical CPU devices (set up in a child process, before TensorFlow starts them):
    the engine's meta-update and tfmeta.keras's fit."""

    @classmethod
    def setUpClass(cls):
        proc = subprocess.run([sys.executable, "-m", "tests.tfmeta.distribute_child", "2"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        cls.rows = {r["algorithm"]: r for r in rows if "algorithm" in r}
        [cls.errors] = [r for r in rows if "indivisible" in r]
        cls.keras_rows = {r["kind"]: r for r in rows if "kind" in r}

    def test_one_meta_update_equals_the_single_device_one_for_every_algorithm(self):
        self.assertEqual(sorted(self.rows), ["maml", "metasgd", "reptile"])
        for algorithm, row in self.rows.items():
            self.assertEqual(row["replicas"], 2)
            self.assertEqual(row["start"], 0.0, algorithm)
            # float64 toy GAN: the split only reorders a sum of 4 tasks
            self.assertLess(row["grads"], 1e-12 * max(row["grad_scale"], 1.0), (algorithm, row))
            self.assertTrue(row["metric_keys"], algorithm)
            self.assertLess(row["metrics"], 1e-12, (algorithm, row))
            self.assertLess(row["train_metrics"], 1e-12, (algorithm, row))
            self.assertLess(row["weights"], 1e-12, (algorithm, row))
            # ... and the update did move the weights (RMSprop 1e-2: about 1e-2 per weight)
            self.assertGreater(row["moved"], 1e-3, (algorithm, row))
            self.assertEqual(row["steps"], [1, 1], algorithm)
            self.assertTrue(row["replica_values_equal"], algorithm)

    def test_a_meta_batch_the_replicas_cannot_split_is_one_clear_error(self):
        self.assertIn("a meta-batch of 3 tasks cannot be split evenly across 2 replicas",
                      self.errors["indivisible"])
        self.assertNotIn("\n", self.errors["indivisible"])

    def test_models_made_outside_the_strategy_scope_are_refused(self):
        self.assertIn("was not created in the scope of the learner's MirroredStrategy",
                      self.errors["outside_scope"])

    def test_keras_fit_under_a_mirrored_strategy_scope_equals_one_device(self):
        # tfmeta.keras (tests/tfmeta/keras_test.py's front door) on the same two devices
        rows = self.keras_rows
        self.assertEqual(sorted(rows), ["maml", "metasgd", "protonet"])
        for kind, row in rows.items():
            self.assertEqual(row["shares"], [2, 2], kind)    # each replica: half the episodes
            self.assertLess(row["weights"], 1e-6, kind)
            self.assertGreater(row["moved"], 1e-2, kind)
            self.assertEqual(row["iterations"], 2, kind)
            for key in ("loss", "accuracy"):
                self.assertAlmostEqual(row["one"][key][0], row["two"][key][0], places=5)


class StrategyHelpersTest(unittest.TestCase):

    def test_no_strategy_is_one_chief_replica_writing_the_run_directory(self):
        self.assertIsNone(distribute.make_strategy("none"))
        self.assertEqual(distribute.replicas(None), 1)
        self.assertTrue(distribute.is_chief(None))
        self.assertEqual(distribute.worker_checkpoint_dir("runs/x", None),
                         os.path.join("runs/x", "checkpoints"))

    def test_bad_kinds_and_missing_tf_config_are_one_clear_error(self):
        with self.assertRaisesRegex(ValueError, r"distribute='gpus'; expected one of none, "
                                    r"mirrored, multi_worker"):
            distribute.make_strategy("gpus")
        saved = os.environ.pop("TF_CONFIG", None)
        try:
            with self.assertRaisesRegex(ValueError, "needs TF_CONFIG"):
                distribute.make_strategy("multi_worker")
            os.environ["TF_CONFIG"] = "{cluster"
            with self.assertRaisesRegex(ValueError, "TF_CONFIG is not JSON"):
                distribute.make_strategy("multi_worker")
        finally:
            os.environ.pop("TF_CONFIG", None)
            if saved is not None:
                os.environ["TF_CONFIG"] = saved


if __name__ == "__main__":
    unittest.main()
