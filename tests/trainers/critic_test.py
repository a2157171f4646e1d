"""The critic CLI trains on real MNIST, writes critic.keras + critic.json, refuses bad settings.

In-process (``TRAINER.main``); flags and help of every field: tests/trainers/shell_test.py.
"""

import json
import os
import tempfile
import unittest

from tests.shared import ROOT, tfds_dir
from tests.trainers.shell_test import run
from trainers import critic


class CriticCliTest(unittest.TestCase):

    def test_cli_writes_critic_json_with_required_keys_model_and_regularization(self):
        with tempfile.TemporaryDirectory() as workdir:
            status, out, err = run(critic, f"--workdir={workdir}", f"--data_dir={tfds_dir()}",
                                   "--nodownload", "--epochs=1", "--max_train_images=256",
                                   "--batch_size=64", "--width=4", "--holdout_fraction=0.01",
                                   "--augment=affine", "--augment_shift=1.5",
                                   "--weight_decay=0.01")
            self.assertEqual(status, 0, err[-2000:])
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
            self.assertIn("held-out accuracy", out)
            self.assertEqual(sorted(os.listdir(workdir)), ["critic.json", "critic.keras"])

    def test_help_shows_no_machine_specific_default_path(self):
        help_text = " ".join(critic.TRAINER.help().split())
        data_dir_help = help_text[help_text.index("--data_dir"):]
        data_dir_help = data_dir_help[:data_dir_help.index("--dataset")]
        self.assertIn("../shared/tensorflow_datasets next to the project", data_dir_help)
        self.assertNotIn(str(ROOT.parent), help_text)
        self.assertNotIn("(default: /", help_text)

    def test_bad_settings_and_a_file_as_workdir_fail_in_one_line(self):
        cases = (("--learning_rate=0", "error: --learning_rate must be a positive number, "
                                       "got 0.0"),
                 ("--holdout_fraction=1.5", "error: --holdout_fraction must be"),
                 ("--augment=flip", "error: --augment='flip' is not one of ['none', 'affine']"),
                 ("--weight_decay=-0.5", "error: --weight_decay must be a finite number >= 0, "
                                         "got -0.5"))
        for flag, message in cases:
            with self.subTest(flag=flag):
                status, _, err = run(critic, "--workdir=/tmp/tfmeta_critic_never_made", flag)
                self.assertEqual(status, 1, flag)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith(message), err)
        self.assertFalse(os.path.exists("/tmp/tfmeta_critic_never_made"))
        with tempfile.NamedTemporaryFile() as f:
            status, _, err = run(critic, f"--workdir={f.name}", f"--data_dir={tfds_dir()}",
                                 "--nodownload")
            self.assertEqual(status, 1)
            self.assertIn(f"error: --workdir={f.name} is a file", err)


if __name__ == "__main__":
    unittest.main()
