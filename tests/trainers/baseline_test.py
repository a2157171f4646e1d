"""``python -m trainers.few_shot --algorithm=baseline`` on Omniglot: pre-trains ResNet-12 (moving
averages) and a classifier over every training class, scores held-out episodes, and exports
``adapt_and_classify`` answering requests of other N as Python does.

A tiny real run in this process (ResNet-12 of widths 2-5-10-20, 2 mini-batches of 8 images),
exported by the CLI; ``--batch_size`` on another learner is refused in one line.
"""

import os
import tempfile
import unittest

import numpy as np
import tensorflow as tf

from tests.export.fixtures import run_cli
from tests.shared import tfds_dir
from tests.trainers.few_shot_test import inprocess
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot
from tfmeta.savedmodel.common import read_metadata

TINY = ["--dataset=omniglot", "--backbone=resnet12", "--filters=2", "--ways=3", "--shots=1",
        "--queries=2", "--batch_size=8", "--steps=2", "--eval_every=2", "--eval_episodes=2",
        "--checkpoint_every=2"]


class BaselineCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.workdir = os.path.join(cls.tmp.name, "baseline")
        data = f"--data_dir={tfds_dir()}"
        cls.trained = inprocess(f"--workdir={cls.workdir}", data, *TINY, "--algorithm=baseline")
        cls.refused = inprocess(f"--workdir={os.path.join(cls.tmp.name, 'proto')}", data,
                                "--algorithm=protonet", "--batch_size=8", "--steps=1")
        cls.exported = run_cli("export.saved_model", f"--workdir={cls.workdir}",
                               f"--export_dir={os.path.join(cls.tmp.name, 'exports')}",
                               "--name=baseline", "--max_support=10", "--max_query=10",
                               "--max_ways=5")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_it_trains_a_classifier_over_every_training_class_on_mini_batches(self):
        code, out, err = self.trained
        self.assertEqual(code, 0, err)
        self.assertIn("mini-batches of 8 images of every training class", err)
        self.assertIn("episodes scored by head=centroid\n", err)
        self.assertIn("done: step 2 of 2", out)
        setup, splits = few_shot.load_run(self.workdir)
        self.assertEqual(setup.learner.classifier.units, splits.train.num_classes)
        self.assertEqual(setup.model.get_layer("block3_conv2").filters, 20)

    def test_batch_size_on_another_learner_is_refused_in_one_line(self):
        code, _, err = self.refused
        self.assertNotEqual(code, 0)
        self.assertEqual(err.strip().splitlines(),
                         ["error: --batch_size=8 applies to --algorithm=baseline, not "
                          "'protonet'"])

    def test_the_export_answers_other_ways_as_python_scores(self):
        code, out = self.exported
        self.assertIn(code, (0, None), out)
        path = out.strip().splitlines()[-1]
        self.assertEqual((read_metadata(path)["algorithm"], read_metadata(path)["max_ways"]),
                         ("baseline", 5))
        setup, splits = few_shot.load_run(self.workdir)
        model = tf.saved_model.load(path)
        for ways in (2, 5):
            e = EpisodeSampler(splits.test, ways=ways, shots=1, queries=2, seed=4)(0)
            served = model.signatures["adapt_and_classify"](
                support_images=e.support_images, support_labels=e.support_labels,
                query_images=e.query_images, seed=tf.constant(0))
            python = few_shot.classify(setup, few_shot.adapt(
                setup, e.support_images, e.support_labels, inner_steps=0, ways=ways),
                e.query_images)
            np.testing.assert_allclose(served["probabilities"].numpy(), python.numpy(),
                                       atol=1e-5)


if __name__ == "__main__":
    unittest.main()
