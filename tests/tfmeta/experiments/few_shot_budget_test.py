"""Few-shot runs under a wall-clock budget (`max_minutes`), and metric learners scored with
the batch statistics of the episode (transductive)."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests.tfmeta.experiments.few_shot_test import FolderTestCase, config
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot, rundir
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.build import build, load_data
from tfmeta.experiments.few_shot.run import check_workdir
from tfmeta.metric import embed, query_logits, support_state


def budget_seconds(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return float(reader.get_tensor("time_budget/seconds/.ATTRIBUTES/VARIABLE_VALUE"))


class BudgetRunTest(FolderTestCase):

    def test_a_budget_ends_the_run_complete_keeps_its_seconds_and_a_larger_one_resumes(self):
        workdir = os.path.join(self.tmp.name, "budget")
        timed = dict(algorithm="protonet", eval_every=100000, checkpoint_every=100000,
                     outer_lr_schedule="constant")
        few_shot.run(config(self.folder, steps=3, **timed), workdir)   # begun without one
        result = few_shot.run(config(self.folder, steps=100000, max_minutes=0.02, **timed),
                              workdir)
        self.assertFalse(result.interrupted)
        self.assertBetween(result.step, 4, 99999)
        self.assertTrue(result.checkpoint.endswith(f"ckpt-{result.step}"), result.checkpoint)
        self.assertEqual([p["step"] for p in few_shot.read_curve(workdir)],
                         [0, 3, result.step])
        spent = budget_seconds(workdir)
        self.assertGreaterEqual(spent, 1.2)
        from trainers.few_shot import report   # the closing line says why the run ended there
        self.assertStartsWith(report(result, config(self.folder, steps=100000, max_minutes=0.02,
                                                    **timed), workdir),
                              f"done: step {result.step} of 100000 (--max_minutes=0.02 ended it)")
        again = few_shot.run(config(self.folder, steps=100000, max_minutes=0.02, **timed),
                             workdir)
        self.assertEqual((again.step, again.interrupted), (result.step, False))   # spent
        longer = few_shot.run(config(self.folder, steps=100000, max_minutes=(spent + 5) / 60,
                                     **timed), workdir)
        self.assertGreater(longer.step, result.step)
        self.assertGreaterEqual(budget_seconds(workdir), spent + 5)

    def test_budget_and_distribute_are_refused_and_so_is_a_new_budget_under_a_decay(self):
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        with self.assertRaisesRegex(ValueError, r"^`max_minutes` needs one clock"):
            few_shot.run(config(self.folder, max_minutes=1.0), os.path.join(
                self.tmp.name, "refused"), strategy=strategy)
        with self.assertRaisesRegex(ValueError, "`max_minutes` must be"):
            config(self.folder, max_minutes=-1.0)
        for schedule, refused in (("cosine", True), ("constant", False)):
            workdir = os.path.join(self.tmp.name, schedule)
            os.makedirs(workdir)
            rundir.write_config(config(self.folder, max_minutes=5.0,
                                       outer_lr_schedule=schedule), workdir)
            longer = config(self.folder, max_minutes=6.0, outer_lr_schedule=schedule)
            if refused:   # the decay would change its pace mid-run
                with self.assertRaisesRegex(ValueError, r"`max_minutes`=6.0 \(the run has 5.0\)"):
                    check_workdir(longer, workdir)
            else:
                check_workdir(longer, workdir)


class TransductiveMetricTest(FolderTestCase):

    def test_relation_scored_with_the_episodes_batch_statistics_leaves_the_averages(self):
        cfg = config(self.folder, algorithm="relation")
        splits = load_data(cfg)
        setup = build(cfg, splits.train.image_shape)
        spec = learners.get("relation")
        episode = EpisodeSampler(splits.test, ways=3, shots=1, queries=3, seed=5)(0)
        nets = setup.nets
        averages = [v.numpy().copy() for v in nets.variables if not v.trainable]
        got = spec.transductive_logits(setup, episode.support_images, episode.support_labels,
                                       episode.query_images, 3)
        for before, v in zip(averages, [v for v in nets.variables if not v.trainable]):
            np.testing.assert_array_equal(before, v.numpy())        # the averages untouched
        # The reference: the nets in training mode (batch statistics), the averages put back.
        images = tf.concat([episode.support_images, episode.query_images], 0)[None]
        embeddings = embed(nets, images, training=True)
        state = support_state(nets, embeddings[:, :3], episode.support_labels[None], 3, True)
        expected = query_logits(nets, state, embeddings[:, 3:], training=True)[0]
        for before, v in zip(averages, [v for v in nets.variables if not v.trainable]):
            v.assign(before)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
        moving = spec.logits(setup, spec.adapt(setup, episode.support_images,
                                               episode.support_labels, inner_steps=0, ways=3),
                             episode.query_images)
        self.assertGreater(float(tf.reduce_max(tf.abs(moving - got))), 1e-3)   # it matters
        default = few_shot.episode_accuracies(setup, splits.test, episodes=4, inner_steps=0)
        np.testing.assert_array_equal(default, few_shot.episode_accuracies(
            setup, splits.test, episodes=4, inner_steps=0, transductive=False))
        self.assertLen(few_shot.episode_accuracies(setup, splits.test, episodes=4, inner_steps=0,
                                                   transductive=True), 4)
        with self.assertWarnsRegex(DeprecationWarning, "`steps` of episode_accuracies"):
            old = few_shot.episode_accuracies(setup, splits.test, episodes=4, steps=0)
        np.testing.assert_array_equal(default, old)
        with self.assertRaisesRegex(ValueError, r"^'relation' sums the 1-shot support maps"):
            few_shot.episode_accuracies(setup, splits.test, episodes=1, inner_steps=0, shots=2)


if __name__ == "__main__":
    absltest.main()
