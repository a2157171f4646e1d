"""``python -m trainers.few_shot --backbone=resnet12`` on Omniglot: MAML (batch statistics,
second order) and Prototypical networks (moving averages, with RFS's dropout and DropBlock)
train, score and export.

Tiny real runs in this process (3-way 1-shot, ResNet-12 of widths 2-5-10-20, 2
meta-updates): the checkpoint holds the four residual blocks, the served ``adapt`` equals
``few_shot.adapt`` in Python, and a learner that builds Conv-4 only refuses the backbone
in one line.
"""

import json
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
from tfmeta.savedmodel.common import read_metadata, variable_names

TINY = ["--dataset=omniglot", "--backbone=resnet12", "--filters=2", "--ways=3", "--shots=1",
        "--queries=2", "--meta_batch_size=2", "--steps=2", "--eval_every=2",
        "--eval_episodes=2", "--eval_inner_steps=1", "--inner_steps=1", "--checkpoint_every=2"]


class ResNet12CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.maml = os.path.join(cls.tmp.name, "maml")
        cls.proto = os.path.join(cls.tmp.name, "proto")
        data = f"--data_dir={tfds_dir()}"
        cls.trained = inprocess(f"--workdir={cls.maml}", data, *TINY, "--algorithm=maml")
        cls.proto_trained = inprocess(f"--workdir={cls.proto}", data, *TINY,
                                      "--algorithm=protonet", "--drop_rate=0.1",
                                      "--drop_block_size=2")
        cls.refused = inprocess(f"--workdir={os.path.join(cls.tmp.name, 'relation')}", data,
                                *TINY, "--algorithm=relation")
        cls.exported = run_cli("export.saved_model", f"--workdir={cls.maml}",
                               f"--export_dir={os.path.join(cls.tmp.name, 'exports')}",
                               "--name=resnet12", "--max_support=8", "--max_query=8")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_maml_and_protonet_train_resnet12_and_store_it(self):
        for workdir, (code, out, err) in ((self.maml, self.trained),
                                          (self.proto, self.proto_trained)):
            self.assertEqual(code, 0, err)
            self.assertIn("done: step 2 of 2", out)
            with open(os.path.join(workdir, "config.json")) as f:
                self.assertEqual(json.load(f)["backbone"], "resnet12")
            setup, _ = few_shot.load_run(workdir)
            names = {layer.name for layer in setup.model.layers}
            self.assertTrue({"block3_conv2", "block3_skip", "mean"} <= names, sorted(names))
            self.assertEqual(setup.model.get_layer("block3_conv2").filters, 20)
        self.assertEqual(few_shot.load_run(self.maml)[0].model.get_layer("head").units, 3)

    def test_dropout_and_dropblock_count_their_calls_in_the_checkpoint_and_stay_out_of_tests(
            self):
        setup, splits = few_shot.load_run(self.proto)
        drops = {layer.name: layer for layer in setup.model.layers if "drop" in layer.name}
        self.assertEqual(sorted(drops), ["block0_dropout", "block1_dropout", "block2_dropblock",
                                         "block3_dropblock"])
        self.assertEqual(drops["block3_dropblock"].block_size, 2)
        # Two updates of one embedding call each (the support and query images together).
        counts = {name: int(layer.calls.numpy()) for name, layer in drops.items()}
        self.assertEqual(set(counts.values()), {2}, counts)
        with self.assertRaisesRegex(ValueError, r"^`drop_rate`=0.1: scoring with batch "
                                                r"statistics runs the embedding as in training"):
            few_shot.episode_accuracies(setup, splits.test, episodes=1, inner_steps=0,
                                        transductive=True)
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=2, inner_steps=0)
        self.assertEqual(accuracies.shape, (2,))
        self.assertEqual({int(layer.calls.numpy()) for layer in drops.values()}, {2})
        with self.assertRaisesRegex(ValueError, r"^`drop_rate`=0.1 applies to `backbone`="
                                                r"resnet12 of the metric learners"):
            few_shot.FewShotConfig(algorithm="maml", backbone="resnet12", drop_rate=0.1)

    def test_a_learner_that_builds_conv4_only_refuses_it_in_one_line(self):
        code, _, err = self.refused
        self.assertNotEqual(code, 0)
        self.assertEqual(err.strip().splitlines(),
                         ["error: --algorithm=relation builds conv4 only, not "
                          "--backbone=resnet12"])

    def test_the_export_adapts_as_python_does(self):
        code, out = self.exported
        self.assertIn(code, (0, None), out)
        path = out.strip().splitlines()[-1]
        self.assertEqual(read_metadata(path)["algorithm"], "maml")
        setup, splits = few_shot.load_run(self.maml)
        episode = EpisodeSampler(splits.test, ways=3, shots=1, queries=2, seed=4)(0)
        served = tf.saved_model.load(path).signatures["adapt"](
            support_images=episode.support_images, support_labels=episode.support_labels,
            seed=tf.constant(0))
        python = few_shot.adapt(setup, episode.support_images, episode.support_labels,
                                inner_steps=1)
        names = variable_names(setup.model.trainable_variables, setup.model.name)
        self.assertEqual(sorted(served), sorted(names))
        moved = 0.0
        for i, name in enumerate(names):
            np.testing.assert_allclose(served[name].numpy(), python[i].numpy(), atol=1e-5,
                                       err_msg=name)
            moved = max(moved, float(np.abs(python[i].numpy()
                                            - setup.model.trainable_variables[i].numpy()).max()))
        self.assertGreater(moved, 0.0)


if __name__ == "__main__":
    unittest.main()
