"""docs/keras.md's Omniglot example runs as written, at a tiny size.

The page's Python block is executed in a fresh interpreter in an empty working
directory, on the offline Omniglot (``TFDS_DATA_DIR``), with only its sizes
replaced (each replaced text must be in the page, so the test follows it): it
must train, evaluate, adapt, save and export, and leave what it says it leaves.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

from tests.shared import ROOT, tfds_dir

PAGE = ROOT / "docs" / "keras.md"
SHRINK = {"EPOCHS, STEPS_PER_EPOCH, META_BATCH, TEST_EPISODES = 6, 100, 16, 600":
          "EPOCHS, STEPS_PER_EPOCH, META_BATCH, TEST_EPISODES = 1, 2, 2, 4",
          "test_episodes(test, 100, batch=20)": "test_episodes(test, 2, batch=2)"}


class KerasGuideTest(unittest.TestCase):

    def test_the_omniglot_example_runs_as_written(self):
        code = re.search(r"```python\n(.*?)```", PAGE.read_text(), re.S).group(1)
        for text, tiny in SHRINK.items():
            self.assertIn(text, code)
            code = code.replace(text, tiny)
        with tempfile.TemporaryDirectory() as workdir:
            env = dict(os.environ, TFDS_DATA_DIR=str(tfds_dir()), TF_CPP_MIN_LOG_LEVEL="2")
            proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=600)
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            lines = proc.stdout.splitlines()
            scores = [line for line in lines if line.startswith("{'accuracy'")]
            self.assertEqual(len(scores), 1, proc.stdout[-2000:])
            adapted = [line for line in lines if line.startswith("adapted model, episode 0:")]
            self.assertEqual(len(adapted), 1, proc.stdout[-2000:])
            self.assertTrue(0.0 <= float(adapted[0].split(":")[1]) <= 1.0)
            self.assertIn("conv4", proc.stdout)                  # summary() names the backbone
            export = os.path.join(workdir, "exports", "omniglot", "1")
            self.assertTrue(os.path.isfile(os.path.join(export, "saved_model.pb")))
            with open(os.path.join(export, "assets.extra", "tfmeta_export.json")) as f:
                metadata = json.load(f)
            self.assertEqual((metadata["family"], metadata["ways"], metadata["adapt_steps"],
                              metadata["step"]), ("gradient", 5, 3, 2))
            self.assertTrue(os.path.isfile(os.path.join(workdir, "omniglot_maml.keras")))
            self.assertTrue(os.listdir(os.path.join(workdir, "logs", "omniglot")))
            # BackupAndRestore deletes its backup once fit ends normally
            self.assertFalse(os.path.exists(os.path.join(workdir, "backup", "omniglot")))


if __name__ == "__main__":
    unittest.main()
