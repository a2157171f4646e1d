"""--algorithm=hsml in the few-shot experiment: it trains, resumes exactly, and adapts from a
start tailored to each support set.

Tiny real runs (3-way 1-shot, Conv-4 with 16 filters) on the synthetic folder
dataset of few_shot_test.
"""

import os

import numpy as np
import tensorflow as tf

from tests.tfmeta.experiments.few_shot_test import FolderTestCase, checkpoint_values, config
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot

SMALL = dict(algorithm="hsml", steps=4, eval_every=100, eval_episodes=2, checkpoint_every=2,
             outer_lr_schedule="constant")


class HSMLFewShotTest(FolderTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.straight = os.path.join(cls.tmp.name, "straight")
        few_shot.run(config(cls.folder, **SMALL), cls.straight)

    def test_interrupted_and_resumed_run_ends_with_the_same_weights_and_modulation(self):
        straight = self.straight
        resumed = os.path.join(self.tmp.name, "resumed")
        first = few_shot.run(config(self.folder, **SMALL), resumed,
                             stop=lambda: os.path.exists(os.path.join(resumed, "checkpoints",
                                                                      "ckpt-2.index")))
        self.assertTrue(first.interrupted)
        self.assertEqual(few_shot.run(config(self.folder, **SMALL), resumed).step, 4)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        gates = [n for n in want if n.startswith("hsml/gate_w_") and "OPTIMIZER" not in n]
        self.assertLen(gates, 18)        # one per Conv-4 parameter tensor
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    def test_adaptation_starts_from_the_initialization_gated_for_the_support_set(self):
        setup, splits = few_shot.load_run(self.straight)
        sampler = EpisodeSampler(splits.test, ways=3, shots=1, queries=3, seed=0)
        starts = []
        for index in (0, 1):
            e = sampler(index)
            starts.append(few_shot.adapt(setup, e.support_images, e.support_labels, inner_steps=0))
        init = few_shot.initial_params(setup)
        for start, tensor in zip(starts[0], init):
            ratio = (start / tf.where(tensor == 0, tf.ones_like(tensor), tensor)).numpy()
            self.assertTrue(np.all((ratio > 0) & (ratio < 1)))   # sigmoid gates
        apart = max(float(np.max(np.abs((a - b).numpy()))) for a, b in zip(*starts))
        self.assertGreater(apart, 1e-6)   # another support set, another start
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=3, inner_steps=1)
        self.assertEqual(accuracies.shape, (3,))


if __name__ == "__main__":
    tf.test.main()
