"""The sinusoid CLI writes results.json and sinusoid.png and documents its flags."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "trainers.sinusoid", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


class SinusoidCliTest(unittest.TestCase):

    def test_cli_writes_results_and_figure(self):
        with tempfile.TemporaryDirectory() as workdir:
            proc = _run(f"--workdir={workdir}", "--steps=200", "--eval_tasks=100", "--shots=5")
            self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
            with open(os.path.join(workdir, "results.json")) as f:
                results = json.load(f)
            for name in ("maml", "pretrain"):
                self.assertEqual(set(results[name]["mse"]), {"0", "1", "10"})
                self.assertGreater(results[name]["mse"]["0"], 0.0)
            self.assertEqual(results["config"]["shots"], 5)
            with open(os.path.join(workdir, "sinusoid.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIn("maml", proc.stdout)

    def test_help_documents_flags_and_bad_flag_fails(self):
        proc = _run("--helpfull")
        for flag in ("--steps", "--shots", "--seed", "--workdir"):
            self.assertIn(flag, proc.stdout)
        proc = _run("--workdir=/tmp/x", "--steps=0")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("steps", proc.stderr)

    def test_bad_settings_and_a_file_as_workdir_fail_in_one_line(self):
        proc = _run("--workdir=/tmp/x", "--inner_lr=-1")
        self.assertEqual(proc.returncode, 1)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("error: --inner_lr must be a positive number, got -1.0", proc.stderr)
        with tempfile.NamedTemporaryFile() as f:
            proc = _run(f"--workdir={f.name}", "--steps=1")
            self.assertEqual(proc.returncode, 1)
            self.assertNotIn("Traceback", proc.stderr)
            self.assertIn(f"error: --workdir={f.name} is a file", proc.stderr)
