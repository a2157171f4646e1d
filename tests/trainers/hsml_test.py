"""The HSML CLI: trains, reports per family, draws its figures, resumes, and refuses bad flags.

In-process (``TRAINER.main``); flags and help of every field: tests/trainers/shell_test.py.
"""

import json
import os
import tempfile
import unittest

from tests.trainers.shell_test import run
from trainers import hsml
TINY = ["--meta_batch_size=4", "--inner_steps=2", "--hidden=8", "--task_hidden=6",
        "--encoder_hidden=5", "--clusters=3,2", "--eval_tasks=40", "--curve_tasks=8",
        "--eval_steps=3", "--eval_every=2", "--checkpoint_every=2", "--inner_lr=0.01"]


class Proc:
    def __init__(self, *args):
        self.returncode, self.stdout, self.stderr = run(hsml, *args)


_run = Proc


class HSMLCliTest(unittest.TestCase):

    def test_trains_reports_draws_and_resumes(self):
        with tempfile.TemporaryDirectory() as workdir:
            proc = _run(f"--workdir={workdir}", "--steps=2", *TINY)
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            self.assertIn("hsml: hsml, K=5, 2 meta-updates of 4 tasks", proc.stderr)
            self.assertIn("(new run)", proc.stderr)
            # The first run takes the default XLA-compiled meta-update; the resumed one, which
            # may change `jit_compile`, the plain graph (no second XLA compilation).
            proc = _run(f"--workdir={workdir}", "--steps=4", *TINY, "--jit_compile=false")
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            self.assertIn("(resuming at step 2 of 4 from ckpt-2)", proc.stderr)
            with open(os.path.join(workdir, "results.json")) as f:
                results = json.load(f)
            self.assertEqual(results["step"], 4)
            self.assertEqual(set(results["per_family"]),
                             {"sinusoid", "line", "quadratic", "cubic"})
            for line in ("hsml held-out MSE over 40 tasks (mean ± 95% CI) after 0 / 2 / 3",
                         "  cubic ", "clusters ", "dominant in "):
                self.assertIn(line, proc.stdout)
            for name in ("curve.png", "assignments.png"):
                with open(os.path.join(workdir, name), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(os.path.join(workdir, "curve.json")) as f:
                self.assertEqual([p["step"] for p in json.load(f)["points"]], [0, 2, 4])

    def test_bad_flags_are_one_line(self):
        for args, line in ((["--clusters=4,x"], "error: --clusters must be integers separated "
                                                "by commas, got '4,x'"),
                           (["--sigma=0"], "error: --sigma must be a positive number, got 0.0"),
                           (["--steps=0"], "error: --steps must be an integer >= 1, got 0")):
            proc = _run("--workdir=/tmp/tfmeta_hsml_never_made", *args)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertNotIn("Traceback", proc.stderr)
            self.assertEqual(proc.stderr.strip().splitlines()[-1], line)
        self.assertFalse(os.path.exists("/tmp/tfmeta_hsml_never_made"))


if __name__ == "__main__":
    unittest.main()
