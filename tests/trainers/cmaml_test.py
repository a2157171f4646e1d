"""``python -m trainers.cmaml`` as a user runs it: train, results, Ctrl-C, exact resume, bad flags.

Real subprocesses on a tiny folder dataset (16 classes of 6 PNG images, one
bright square per class at its own place, few_shot_test's), started once for the class in two
concurrent processes: a 4-update CMAML run (its output is a user's) and a long run stopped by
Ctrl-C. Meanwhile in this process (``TRAINER.main``): bad settings, a plain MAML run, and a
2-update CMAML run, resumed to 4 updates afterwards, which must equal the first process's run
bit for bit (every checkpointed tensor and every score).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import tensorflow as tf

from tests.shared import ROOT
from tests.trainers.few_shot_test import finish, write_folder_dataset
from tests.trainers.shell_test import run
from trainers import cmaml

TINY = ["--dataset=folder", "--ways=2", "--shots=1", "--queries=2", "--meta_batch_size=2",
        "--filters=4", "--private_hidden=4,4,4", "--pretrain_steps=1", "--eval_episodes=4",
        "--sharing_pairs=3", "--checkpoint_every=2", "--threshold=0.3", "--l1=0.5",
        "--prune_steps=1", "--eval_inner_steps=1"]
# One fine-tuning step of Algorithm 1 and one adaptation step at evaluation: each step is
# unrolled into the traced graphs; no test here looks at how many there are.


def start(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.Popen([sys.executable, "-m", "trainers.cmaml", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def checkpoint_tensors(workdir: str) -> dict:
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and "CHECKPOINTABLE_OBJECT_GRAPH" not in k}


class CmamlCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = cls.tmp.name
        data = write_folder_dataset(os.path.join(root, "data"), classes=16, images=6)
        cls.dirs = {k: os.path.join(root, k) for k in ("full", "split", "stopped", "maml")}
        common = TINY + [f"--folder={data}"]
        procs = {
            "full": start(f"--workdir={cls.dirs['full']}", "--steps=4", *common),
            "stopped": start(f"--workdir={cls.dirs['stopped']}", "--steps=100000", *common),
        }
        # What is not about the process runs in this one, beside the processes.
        cls.out = {"threshold": run(cmaml, f"--workdir={root}/bad", *common, "--threshold=-1"),
                   "hidden": run(cmaml, f"--workdir={root}/bad", *common, "--private_hidden=4,x"),
                   "maml": run(cmaml, f"--workdir={cls.dirs['maml']}", "--steps=2",
                               "--algorithm=maml", *common)}
        first_checkpoint = os.path.join(cls.dirs["stopped"], "checkpoints", "ckpt-0.index")
        deadline = time.monotonic() + 300
        while (not os.path.exists(first_checkpoint) and procs["stopped"].poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.2)
        procs["stopped"].send_signal(signal.SIGINT)
        # The resumption is not about the process: both of its halves run in this one.
        cls.out["split"] = run(cmaml, f"--workdir={cls.dirs['split']}", "--steps=2", *common)
        cls.out.update({k: finish(p) for k, p in procs.items()})
        cls.out["resumed"] = run(cmaml, f"--workdir={cls.dirs['split']}", "--steps=4", *common)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def results(self, name):
        with open(os.path.join(self.dirs[name], "results.json")) as f:
            return json.load(f)

    def test_run_prints_and_writes_accuracy_sparsity_and_sharing(self):
        rc, out, err = self.out["full"]
        self.assertEqual(rc, 0, err[-2000:])
        self.assertIn("cmaml: held-out accuracy", out)
        self.assertIn("private edges kept", out)
        self.assertIn("mask overlap (Jaccard): similar", out)
        self.assertNotIn("I0000", err)
        results = self.results("full")
        self.assertEqual(results["step"], 4)
        self.assertEqual(results["accuracy"]["n"], 4)
        self.assertTrue(0.0 <= results["sparsity"]["kept_prunable"]["mean"] <= 1.0)
        self.assertEqual(set(results["sharing"]), {"similar", "dissimilar", "difference"})

    def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(self):
        self.assertEqual(self.out["split"][0], 0, self.out["split"][2][-2000:])
        self.assertEqual(self.out["resumed"][0], 0, self.out["resumed"][2][-2000:])
        full, resumed = checkpoint_tensors(self.dirs["full"]), checkpoint_tensors(
            self.dirs["split"])
        self.assertEqual(set(full), set(resumed))
        self.assertGreater(len(full), 20)
        for key in full:
            np.testing.assert_array_equal(full[key], resumed[key], err_msg=key)
        a, b = self.results("full"), self.results("split")
        for key in ("step", "accuracy", "sparsity", "sharing"):
            self.assertEqual(a[key], b[key], key)

    def test_ctrl_c_saves_and_exits_130(self):
        rc, _, err = self.out["stopped"]
        self.assertEqual(rc, 130, err[-2000:])
        self.assertIn("rerun the same command to resume", err)
        self.assertNotIn("Traceback", err)
        latest = tf.train.latest_checkpoint(os.path.join(self.dirs["stopped"], "checkpoints"))
        self.assertIsNotNone(latest)

    def test_plain_maml_runs_on_the_same_backbone(self):
        rc, out, err = self.out["maml"]
        self.assertEqual(rc, 0, err[-2000:])
        self.assertIn("maml: held-out accuracy", out)
        self.assertNotIn("sparsity", self.results("maml"))

    def test_bad_settings_fail_in_one_line_naming_the_value(self):
        for name, line in (("threshold", "error: --threshold must be a finite number >= 0, "
                                         "got -1.0"),
                           ("hidden", "error: --private_hidden must be integers separated by commas, "
                                      "got '4,x'")):
            rc, _, err = self.out[name]
            self.assertEqual(rc, 1, err[-2000:])
            self.assertIn(line, err)
            self.assertNotIn("Traceback", err)


if __name__ == "__main__":
    unittest.main()
