"""--algorithm=meta_lstm in the few-shot experiment: the LSTM meta-learner trains, resumes, exports.

Tiny real runs (3-way 1-shot, Conv-4 with 16 filters) on the synthetic folder
dataset of few_shot_test.
"""

import os

import numpy as np
import tensorflow as tf

from tests.tfmeta.experiments.few_shot_test import FolderTestCase, checkpoint_values, config
from tfmeta import inner as inner_lib
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot
from tfmeta.inner_lstm import FORGET_BIAS

SMALL = dict(algorithm="meta_lstm", steps=4, eval_every=100, eval_episodes=2,
             checkpoint_every=2, outer_lr_schedule="constant", inner_lr=0.3)


class MetaLSTMExperimentTest(FolderTestCase):

    @classmethod
    def setUpClass(cls):
        """One uninterrupted run: the resume test's reference, the evaluation test's run."""
        super().setUpClass()
        cls.straight = os.path.join(cls.tmp.name, "straight")
        few_shot.run(config(cls.folder, **SMALL), cls.straight)

    def test_interrupted_and_resumed_run_ends_with_the_same_weights_and_meta_learner(self):
        straight = self.straight
        resumed = os.path.join(self.tmp.name, "resumed")
        first = few_shot.run(config(self.folder, **SMALL), resumed,
                             stop=lambda: os.path.exists(os.path.join(resumed, "checkpoints",
                                                                      "ckpt-2.index")))
        self.assertTrue(first.interrupted)
        second = few_shot.run(config(self.folder, **SMALL), resumed)
        self.assertEqual(second.step, 4)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        lstm = [name for name in want if name.startswith("meta_lstm/") and "OPTIMIZER" not in name]
        self.assertLen(lstm, 7)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        # the gates were meta-trained: the forget bias moved from its initial 5
        [forget_bias] = [want[n] for n in lstm if n.startswith("meta_lstm/6/")]
        self.assertNotEqual(float(forget_bias), FORGET_BIAS)

    def test_inner_lr_outside_the_unit_interval_is_one_error_line(self):
        with self.assertRaisesRegex(ValueError, r"`inner_lr`=1.5 is the input gate's starting "
                                                r"value, a sigmoid: it must be in \(0, 1\)"):
            config(self.folder, algorithm="meta_lstm", inner_lr=1.5)

    def test_evaluation_adapts_with_the_meta_learner_not_with_sgd(self):
        setup, splits = few_shot.load_run(self.straight)
        self.assertEqual(setup.inner.name, "meta_lstm")
        episode = EpisodeSampler(splits.test, ways=3, shots=1, queries=3, seed=0)(0)
        support = (episode.support_images, episode.support_labels)
        start = few_shot.initial_params(setup)
        lstm = few_shot.adapt(setup, *support, inner_steps=2)
        sgd = few_shot.adapt(setup._replace(inner=inner_lib.sgd(0.3)), *support, inner_steps=2)
        moved = max(float(np.max(np.abs((a - b).numpy()))) for a, b in zip(lstm, start))
        apart = max(float(np.max(np.abs((a - b).numpy()))) for a, b in zip(lstm, sgd))
        self.assertGreater(moved, 1e-3)
        self.assertGreater(apart, 1e-5)
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=3, inner_steps=2)
        self.assertEqual(accuracies.shape, (3,))
        self.assertTrue(np.all((accuracies >= 0) & (accuracies <= 1)))

if __name__ == "__main__":
    tf.test.main()
