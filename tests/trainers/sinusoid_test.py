"""The sinusoid CLI writes results.json and sinusoid.png and refuses bad settings in one line.

In-process (``TRAINER.main``); flags and help of every field: tests/trainers/shell_test.py.
"""

import json
import os
import tempfile
import unittest

from tests.trainers.shell_test import run
from trainers import sinusoid


class SinusoidCliTest(unittest.TestCase):

    def test_cli_writes_results_and_figure(self):
        with tempfile.TemporaryDirectory() as workdir:
            status, out, err = run(sinusoid, f"--workdir={workdir}", "--steps=200",
                                   "--eval_tasks=100", "--shots=5")
            self.assertEqual(status, 0, err[-2000:])
            with open(os.path.join(workdir, "results.json")) as f:
                results = json.load(f)
            for name in ("maml", "pretrain"):
                self.assertEqual(set(results[name]["mse"]), {"0", "1", "10"})
                self.assertGreater(results[name]["mse"]["0"], 0.0)
            self.assertEqual(results["config"]["shots"], 5)
            with open(os.path.join(workdir, "sinusoid.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIn("maml", out)

    def test_bad_settings_and_a_file_as_workdir_fail_in_one_line(self):
        for flag, line in (("--inner_lr=-1", "error: --inner_lr must be a positive number, "
                                             "got -1.0"),
                           ("--steps=0", "error: --steps must be an integer >= 1, got 0")):
            status, _, err = run(sinusoid, "--workdir=/tmp/tfmeta_sinusoid_never_made", flag)
            self.assertEqual((status, err.strip()), (1, line))
        self.assertFalse(os.path.exists("/tmp/tfmeta_sinusoid_never_made"))
        with tempfile.NamedTemporaryFile() as f:
            status, _, err = run(sinusoid, f"--workdir={f.name}", "--steps=1")
            self.assertEqual(status, 1)
            self.assertIn(f"error: --workdir={f.name} is a file", err)


if __name__ == "__main__":
    unittest.main()
