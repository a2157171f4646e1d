"""The critic CLI trains on real MNIST, writes critic.keras + critic.json, documents its flags."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from tests.shared import ROOT, tfds_dir


def _run(*args):
    return subprocess.run([sys.executable, "-m", "trainers.critic", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


class CriticCliTest(unittest.TestCase):

    def test_cli_writes_critic_json_with_required_keys_model_and_regularization(self):
        with tempfile.TemporaryDirectory() as workdir:
            proc = _run(f"--workdir={workdir}", f"--data_dir={tfds_dir()}", "--nodownload",
                        "--epochs=1", "--max_train_images=256", "--batch_size=64", "--width=4",
                        "--holdout_fraction=0.01", "--augment=affine", "--augment_shift=1.5",
                        "--weight_decay=0.01")
            self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
            with open(os.path.join(workdir, "critic.json")) as f:
                info = json.load(f)
            for key in ("dataset", "num_classes", "heldout_accuracy", "class_ids",
                        "image_shape", "config", "history"):
                self.assertIn(key, info)
            self.assertEqual(info["dataset"], "mnist")
            self.assertEqual(info["num_classes"], 10)
            self.assertEqual(info["class_ids"], list(range(10)))
            self.assertEqual(info["image_shape"], [28, 28, 1])
            self.assertEqual(info["config"]["max_train_images"], 256)
            self.assertEqual(
                {k: info["config"][k] for k in ("augment", "augment_shift", "augment_rotation",
                                                "augment_zoom", "weight_decay",
                                                "label_smoothing")},
                {"augment": "affine", "augment_shift": 1.5, "augment_rotation": 10.0,
                 "augment_zoom": 0.1, "weight_decay": 0.01, "label_smoothing": 0.0})
            self.assertEqual(info["optimizer"], "AdamW")
            self.assertTrue(0.0 <= info["heldout_accuracy"] <= 1.0)
            self.assertGreater(os.path.getsize(os.path.join(workdir, "critic.keras")), 0)
            self.assertIn("held-out accuracy", proc.stdout)
            self.assertEqual(sorted(os.listdir(workdir)), ["critic.json", "critic.keras"])

    def test_help_documents_flags_and_bad_flag_fails(self):
        proc = _run("--helpfull")
        for flag in ("--dataset", "--data_dir", "--[no]download", "--epochs", "--batch_size",
                     "--learning_rate", "--width", "--holdout_fraction", "--seed",
                     "--workdir", "--max_train_images", "--augment", "--augment_shift",
                     "--augment_rotation", "--augment_zoom", "--weight_decay",
                     "--label_smoothing"):
            self.assertIn(flag, proc.stdout)
        proc = _run("--workdir=/tmp/x", "--holdout_fraction=1.5")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("holdout_fraction", proc.stderr)

    def test_help_shows_no_machine_specific_default_path(self):
        proc = _run("--helpfull")
        data_dir_help = proc.stdout[proc.stdout.index("--data_dir"):]
        data_dir_help = data_dir_help[:data_dir_help.index("--[no]download")]
        self.assertIn("../shared/tensorflow_datasets next to the project", data_dir_help)
        self.assertNotIn(str(ROOT.parent), data_dir_help)   # (absl heads the list with the file)
        self.assertNotIn("(default: '/", proc.stdout)

    def test_bad_settings_and_a_file_as_workdir_fail_in_one_line(self):
        proc = _run("--workdir=/tmp/x", "--learning_rate=0")
        self.assertEqual(proc.returncode, 1)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("error: --learning_rate must be a positive number, got 0.0", proc.stderr)
        with tempfile.NamedTemporaryFile() as f:
            proc = _run(f"--workdir={f.name}", f"--data_dir={tfds_dir()}", "--nodownload")
            self.assertEqual(proc.returncode, 1)
            self.assertNotIn("Traceback", proc.stderr)
            self.assertIn(f"error: --workdir={f.name} is a file", proc.stderr)

    def test_bad_regularization_flags_fail_in_one_line_naming_the_flag(self):
        for flag, message in (
                ("--augment=flip", "error: --augment='flip' is not one of ['none', 'affine']"),
                ("--weight_decay=-0.5", "error: --weight_decay must be a finite number >= 0, "
                                        "got -0.5")):   # (each flag's check: config tests)
            proc = _run("--workdir=/tmp/x", flag)
            self.assertEqual(proc.returncode, 1, flag)
            self.assertEqual(proc.stderr.strip().splitlines()[-1], message)
            self.assertNotIn("Traceback", proc.stderr)


if __name__ == "__main__":
    unittest.main()
