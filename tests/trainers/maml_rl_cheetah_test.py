"""The MAML-RL CLI on the half-cheetah: trains, writes its results, resumes exactly, exports.

In-process (``TRAINER.main``), the tiniest settings (5-step rollouts, 2 tasks x 2
rollouts, PPO, no pre-trained baseline); the navigation run: maml_rl_test.py.
"""

import json
import os
import tempfile
import unittest

import numpy as np
import tensorflow as tf

from tests.trainers.maml_rl_test import assert_step_2_from_ckpt_1_is_ckpt_2
from tests.trainers.shell_test import run
from tfmeta.experiments.maml_rl.config import MamlRLConfig
from tfmeta.experiments.maml_rl.export import export_policy
from trainers import maml_rl

SETTINGS = dict(env="cheetah_vel", meta_batch_size=2, rollouts=2, horizon=5, hidden=(4,),
                eval_tasks=2, eval_steps=1, eval_every=5, checkpoint_every=1, outer="ppo",
                ppo_epochs=1, pretrain=False, eval_rollouts=2, eval_lr_grid=())
TINY = [f"--{k}={','.join(map(str, v)) if isinstance(v, tuple) else str(v).lower()}"
        for k, v in SETTINGS.items()]


class MamlRLCheetahCliTest(unittest.TestCase):

    def test_trains_writes_results_resumes_exactly_and_exports(self):
        with tempfile.TemporaryDirectory() as workdir:
            status, out, err = run(maml_rl, f"--workdir={workdir}", "--steps=1", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            self.assertIn("maml_rl: cheetah_vel, 1 meta-updates of 2 tasks x 2 rollouts", err)
            status, out, err = run(maml_rl, f"--workdir={workdir}", "--steps=2", *TINY)
            self.assertEqual(status, 0, err[-3000:])
            self.assertIn("(resuming at step 1 of 2 from ckpt-1)", err)
            with open(os.path.join(workdir, "results.json")) as f:
                results = json.load(f)
            self.assertEqual((results["env"], results["step"]), ("cheetah_vel", 2))
            self.assertEqual(set(results["returns"]), {"maml", "random"})
            self.assertTrue(np.isfinite(results["returns"]["maml"]["1"]))
            self.assertIn("average return on 2 held-out tasks (mean ± 95% CI; 2 rollouts a "
                          "step; one shared first step)", out)
            self.assertEqual(results["step_sizes"], {"maml": [0.1], "random": [0.1]})
            self.assertNotIn("first_step_selection", results)
            self.assertNotIn("paper MAML", out)   # Figure 6 has no table to quote
            with open(os.path.join(workdir, "maml_rl.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            # Exact resume (the MuJoCo rollouts are a function of the step's seed).
            assert_step_2_from_ckpt_1_is_ckpt_2(workdir, MamlRLConfig(steps=2, **SETTINGS))
            # The export takes the half-cheetah's 17-d observations and acts in 6-d.
            path = os.path.join(workdir, "export", "1")
            metadata = export_policy(workdir, path)
            self.assertEqual((metadata["observation_dim"], metadata["action_dim"]), (17, 6))
            loaded = tf.saved_model.load(path)
            out = loaded.signatures["adapt_and_act"](
                observations=tf.zeros([2, 5, 17]), actions=tf.ones([2, 5, 6]),
                rewards=-tf.ones([2, 5]), mask=tf.ones([2, 5]),
                new_observations=tf.zeros([3, 17]))["actions"]
            self.assertEqual(out.shape, (3, 6))
            with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                        r"new_observations must have shape \[n, 17\]"):
                loaded.signatures["act"](new_observations=tf.zeros([3, 2]))


if __name__ == "__main__":
    unittest.main()
