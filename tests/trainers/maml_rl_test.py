"""The MAML-RL CLI: trains, resumes exactly (PPO: its Adam state too), reports, refuses bad flags.

In-process (``TRAINER.main``); flags and help of every field: tests/trainers/shell_test.py.
"""

import json
import os
import tempfile
import unittest

import numpy as np
import tensorflow as tf

from tests.shared import forget_setting
from tests.trainers.shell_test import run
from tfmeta.experiments import rundir
from tfmeta.experiments.maml_rl.build import build, held_out_tasks, training_batches
from tfmeta.experiments.maml_rl.config import FIRST_STEPS, LEGACY, MamlRLConfig
from tfmeta.experiments.maml_rl.export import export_policy
from tfmeta.rl import navigation
from trainers import maml_rl

TINY = ["--meta_batch_size=2", "--rollouts=2", "--horizon=5", "--hidden=4", "--eval_tasks=3",
        "--eval_steps=1", "--eval_every=5", "--checkpoint_every=1", "--outer=ppo",
        "--ppo_epochs=1", "--eval_rollouts=3", "--eval_lr_grid=0.05"]


def assert_step_2_from_ckpt_1_is_ckpt_2(workdir: str, config: MamlRLConfig) -> None:
    """Exact resume: step 2 taken in this process from the run's checkpoint 1 gives the run's
    checkpoint 2, bit for bit (MAML's policy, and the pre-trained baseline's if the run has one)."""
    setup = build(config)
    checkpoints = os.path.join(workdir, "checkpoints")
    setup.checkpoint.restore(os.path.join(checkpoints, "ckpt-1")).expect_partial()
    setup.learner.train_step(training_batches(config)(tf.constant(1, tf.int64)))
    expected = build(config)
    expected.checkpoint.restore(os.path.join(checkpoints, "ckpt-2")).expect_partial()
    pairs = [(setup.maml, expected.maml)]
    if config.pretrain:
        pairs.append((setup.pretrain, expected.pretrain))
    for mine, theirs in pairs:
        for a, b in zip(mine.variables, theirs.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


class MamlRLCliTest(unittest.TestCase):

    def test_trains_resumes_exactly_and_writes_results(self):
        with tempfile.TemporaryDirectory() as workdir:
            status, out, err = run(maml_rl, f"--workdir={workdir}", "--steps=1", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            self.assertIn("maml_rl: navigation2d, 1 meta-updates of 2 tasks x 2 rollouts, 1 inner "
                          "step(s) of 0.1, second-order PPO + pre-trained baseline", err)
            status, out, err = run(maml_rl, f"--workdir={workdir}", "--steps=2", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            self.assertIn("(resuming at step 1 of 2 from ckpt-1)", err)
            with open(os.path.join(workdir, "results.json")) as f:
                results = json.load(f)
            self.assertEqual(results["step"], 2)
            self.assertEqual(set(results["returns"]), {"maml", "pretrain", "random"})
            self.assertEqual(set(results["returns"]["maml"]), {"0", "1"})
            self.assertIn("average return on 3 held-out tasks (mean ± 95% CI; 3 rollouts a "
                          "step; each policy's first step its best on 2 selection tasks) after "
                          "0 / 1 policy-gradient steps:", out)
            # Each policy is scored at the better of the grid's 0.05 and the shared 0.1 on
            # the selection tasks.
            selection = results["first_step_selection"]
            self.assertEqual(selection["tasks"], 2)
            self.assertEqual(set(selection["returns"]), {"maml", "pretrain", "random"})
            for name, tried in selection["returns"].items():
                self.assertEqual(set(tried), {"0.05", "0.1"})
                best = max(tried, key=tried.get)
                self.assertEqual(results["step_sizes"][name], [float(best)])
                self.assertIn(f"(steps of {best})", out)
            self.assertEqual(results["rollouts"], 3)
            # MAML's lead is paired: its mean is the difference of the means.
            for name in ("pretrain", "random"):
                for k in ("0", "1"):
                    self.assertAlmostEqual(results["maml_minus"][name][k]["mean"],
                                           results["returns"]["maml"][k]
                                           - results["returns"][name][k], places=4)
            self.assertIn("MAML lead over pretrain, paired by task: ", out)
            with open(os.path.join(workdir, "maml_rl.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            assert_step_2_from_ckpt_1_is_ckpt_2(workdir, MamlRLConfig(
                steps=2, meta_batch_size=2, rollouts=2, horizon=5, hidden=(4,), outer="ppo",
                ppo_epochs=1))
            # The export of the run adapts and acts (TF-only loading: tests/export/policy_test.py).
            path = os.path.join(workdir, "export", "1")
            metadata = export_policy(workdir, path)
            self.assertEqual((metadata["step"], metadata["normalize_actions"]), (2, True))
            loaded = tf.saved_model.load(path)
            e, t = 2, 5
            out = loaded.signatures["adapt_and_act"](
                observations=tf.zeros([e, t, 2]), actions=tf.ones([e, t, 2]),
                rewards=-tf.ones([e, t]), mask=tf.ones([e, t]),
                new_observations=tf.zeros([3, 2]))["actions"]
            self.assertEqual(out.shape, (3, 2))
            with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                        r"mask must have the \[E, T\] of observations"):
                loaded.signatures["adapt_and_act"](
                    observations=tf.zeros([e, t, 2]), actions=tf.ones([e, t, 2]),
                    rewards=-tf.ones([e, t]), mask=tf.ones([e, t + 1]),
                    new_observations=tf.zeros([3, 2]))

    def test_bad_flags_are_one_line(self):
        for args, line in ((["--env=ant_dir"], "error: flag --env=ant_dir: value should be one "
                                               "of <navigation2d|cheetah_dir|cheetah_vel>"),
                           (["--inner_lr=0"], "error: --inner_lr must be a positive number, "
                                              "got 0.0"),
                           (["--rollouts=1"], "error: --rollouts must be an integer >= 2, got 1"),
                           (["--eval_rollouts=1"],
                            "error: --eval_rollouts must be an integer >= 2, got 1"),
                           (["--eval_lr_decay=0"],
                            "error: --eval_lr_decay must be a positive number, got 0.0"),
                           (["--eval_lr_grid=0.1,abc"], "error: --eval_lr_grid must be "
                                                        "numbers separated by commas, got "
                                                        "'0.1,abc'"),
                           (["--eval_lr_grid=0.1,-1"],
                            "error: --eval_lr_grid must be a positive number, got -1.0"),
                           (["--env=cheetah_dir", "--nonormalize_actions"],
                            "error: --normalize_actions=false applies to navigation2d; "
                            "cheetah_dir's actions are always in [-1, 1]")):
            status, _, err = run(maml_rl, "--workdir=/tmp/tfmeta_maml_rl_never_made", *args)
            self.assertEqual(status, 1, err)
            self.assertNotIn("Traceback", err)
            self.assertEqual(err.strip().splitlines()[-1], line)
        self.assertFalse(os.path.exists("/tmp/tfmeta_maml_rl_never_made"))

    def test_normalize_actions_picks_the_normalized_navigation_for_every_part_of_the_run(self):
        self.assertIs(MamlRLConfig().environment(), navigation.NORMALIZED)
        config = MamlRLConfig(normalize_actions=False)
        self.assertIs(config.environment(), navigation.ENV)
        self.assertIs(build(config).maml.env, navigation.ENV)

    def test_a_run_from_before_normalize_actions_resumes_with_raw_actions(self):
        """A config.json without the field (runs before it existed acted raw) resumes, exports
        and is checked as `normalize_actions`=false, not as today's default."""
        with tempfile.TemporaryDirectory() as workdir:
            status, _, err = run(maml_rl, f"--workdir={workdir}", "--steps=1",
                                 "--nonormalize_actions", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            forget_setting(workdir, "normalize_actions")
            forget_setting(workdir, "eval_lr_grid")   # evaluated at one shared step
            stored = rundir.read_config(MamlRLConfig, workdir, legacy=LEGACY)
            self.assertEqual((stored.normalize_actions, stored.eval_lr_grid), (False, ()))
            status, _, err = run(maml_rl, f"--workdir={workdir}", "--steps=2", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            self.assertIn("(resuming at step 1 of 2 from ckpt-1)", err)
            metadata = export_policy(workdir, os.path.join(workdir, "export", "1"))
            self.assertFalse(metadata["normalize_actions"])
            status, _, err = run(maml_rl, f"--workdir={workdir}", "--steps=3",
                                 "--normalize_actions", *TINY)
            self.assertEqual(status, 1)
            self.assertIn("--normalize_actions=True (the run has False)", err)

    def test_evaluation_steps_follow_the_authors_test_by_default(self):
        config = MamlRLConfig()
        self.assertEqual(config.evaluation_step_sizes(3), (0.1, 0.05, 0.05))
        self.assertEqual(config.evaluation_rollouts(), 40)        # 4000 time steps of 100
        self.assertEqual(MamlRLConfig(horizon=200).evaluation_rollouts(), 20)
        self.assertEqual(MamlRLConfig(horizon=400).evaluation_rollouts(), 20)   # `rollouts`
        config = MamlRLConfig(eval_lr=0.5, eval_lr_decay=1.0, eval_rollouts=7)
        self.assertEqual(config.evaluation_step_sizes(2), (0.5, 0.5))
        self.assertEqual(config.evaluation_rollouts(), 7)
        self.assertEqual(config.evaluation_step_sizes(0), ())

    def test_each_policy_chooses_its_first_step_from_the_grid_and_the_shared_step(self):
        config = MamlRLConfig()
        self.assertEqual(config.first_step_candidates(), FIRST_STEPS)     # 0.1 is among them
        self.assertEqual(config.evaluation_step_sizes(2, first=0.03), (0.03, 0.015))
        self.assertEqual(MamlRLConfig(eval_lr=0.04, eval_lr_grid=(0.3, 0.01))
                         .first_step_candidates(), (0.01, 0.04, 0.3))
        self.assertEqual(MamlRLConfig(eval_lr_grid=()).first_step_candidates(), ())
        # The selection tasks are not the held-out tasks the scores are taken on.
        held_out, seed = held_out_tasks(config, 4)
        chosen_on, other_seed = held_out_tasks(config, 4, selection=True)
        self.assertFalse(np.allclose(held_out.numpy(), chosen_on.numpy()))
        self.assertFalse(np.array_equal(seed.numpy(), other_seed.numpy()))
        np.testing.assert_array_equal(held_out.numpy(), held_out_tasks(config, 4)[0].numpy())


if __name__ == "__main__":
    unittest.main()
