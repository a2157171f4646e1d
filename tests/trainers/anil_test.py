"""``python -m trainers.few_shot --algorithm=maml --adapt=head`` (ANIL) on Omniglot, as a user runs it.

One tiny real run on the offline Omniglot copy (3-way 1-shot, Conv-4 with 8 filters,
2 meta-updates of 2 episodes, a curve point at 0 and 2), in this process: it trains,
stores `adapt` in config.json, moves the body and the head; the same command resumes
with the stored settings (no training left) and a conflicting `--adapt=all` is one
error line; `trainers.few_shot_eval` scores it; `export.saved_model` exports it, and
its served ``adapt`` moves only the head, as ``few_shot.adapt`` does in Python.
"""

import json
import os
import tempfile
import unittest

import numpy as np
import tensorflow as tf

from tests.export.fixtures import run_cli
from tests.shared import tfds_dir
from tests.trainers.few_shot_test import inprocess, last_checkpoint_step
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot
from tfmeta.savedmodel.common import read_metadata, variable_names

TINY = ["--dataset=omniglot", "--algorithm=maml", "--adapt=head", "--ways=3", "--shots=1",
        "--queries=2", "--meta_batch_size=2", "--steps=2", "--eval_every=2",
        "--eval_episodes=2", "--eval_inner_steps=2", "--filters=8", "--checkpoint_every=2"]


class AnilCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.workdir = os.path.join(cls.tmp.name, "anil")
        args = [f"--workdir={cls.workdir}", f"--data_dir={tfds_dir()}", *TINY]
        cls.trained = inprocess(*args)
        cls.resumed = inprocess(f"--workdir={cls.workdir}")
        cls.conflict = inprocess(f"--workdir={cls.workdir}", "--adapt=all")
        cls.eval_json = os.path.join(cls.tmp.name, "eval.json")
        cls.scored = run_cli("trainers.few_shot_eval", f"--runs={cls.workdir}", "--episodes=3",
                             f"--out={cls.eval_json}")
        cls.exported = run_cli("export.saved_model", f"--workdir={cls.workdir}",
                               f"--export_dir={os.path.join(cls.tmp.name, 'exports')}",
                               "--name=anil", "--max_support=8", "--max_query=8")
        cls.setup, cls.splits = few_shot.load_run(cls.workdir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_training_stores_adapt_head_and_moves_body_and_head(self):
        code, out, err = self.trained
        self.assertEqual(code, 0, err)
        self.assertIn("algorithm=maml", err)
        self.assertIn("adapt=head", err)
        self.assertIn("done: step 2 of 2", out)
        with open(os.path.join(self.workdir, "config.json")) as f:
            self.assertEqual(json.load(f)["adapt"], "head")
        self.assertEqual(last_checkpoint_step(self.workdir), 2)
        trained = self.setup
        fresh = few_shot.build(trained.config, (28, 28, 1))   # the same seed's initialization
        moved = [float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in
                 zip(trained.model.trainable_variables, fresh.model.trainable_variables)]
        self.assertGreater(min(moved[:2]), 0.0)    # the first convolution: meta-learned too
        self.assertGreater(min(moved[-2:]), 0.0)   # the head

    def test_the_same_command_resumes_with_the_stored_adapt_and_a_conflict_is_one_line(self):
        code, out, err = self.resumed
        self.assertEqual(code, 0, err)
        self.assertIn("resuming at step 2 of 2", err)
        self.assertIn("adapt=head", err)
        self.assertIn("done: step 2 of 2", out)
        code, _, err = self.conflict
        self.assertNotEqual(code, 0)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        self.assertIn("--adapt='all' (the run has 'head')", lines[0])

    def test_eval_scores_the_run(self):
        code, out = self.scored
        self.assertIn(code, (0, None), out)
        with open(self.eval_json) as f:
            (row,) = json.load(f)
        self.assertEqual((row["algorithm"], row["adapt"], row["ways"], row["inner_steps"],
                          row["episodes"]), ("maml", "head", 3, 2, 3))
        self.assertTrue(0.0 <= row["accuracy"] <= 1.0, row)
        self.assertIn(f"| {self.workdir} | maml (adapt=head) |", out)   # told apart from MAML

    def test_the_export_adapts_only_the_head_as_python_does(self):
        code, out = self.exported
        self.assertIn(code, (0, None), out)
        path = out.strip().splitlines()[-1]
        metadata = read_metadata(path)
        self.assertEqual((metadata["algorithm"], metadata["adapt"], metadata["adapt_steps"]),
                         ("maml", "head", 2))
        setup = self.setup
        episode = EpisodeSampler(self.splits.test, ways=3, shots=1, queries=2, seed=4)(0)
        served = tf.saved_model.load(path).signatures["adapt"](
            support_images=episode.support_images, support_labels=episode.support_labels,
            seed=tf.constant(0))
        python = few_shot.adapt(setup, episode.support_images, episode.support_labels,
                                inner_steps=2)
        initial = setup.model.trainable_variables
        names = variable_names(initial, setup.model.name)
        self.assertEqual(sorted(served), sorted(names))
        for i, name in enumerate(names):
            got = served[name].numpy()
            np.testing.assert_allclose(got, python[i].numpy(), atol=1e-5, err_msg=name)
            if i >= len(names) - 2:   # the head adapts
                self.assertGreater(float(np.max(np.abs(got - initial[i].numpy()))), 1e-6, name)
            else:                     # the body is the initialization
                np.testing.assert_array_equal(got, initial[i].numpy(), err_msg=name)


if __name__ == "__main__":
    unittest.main()
