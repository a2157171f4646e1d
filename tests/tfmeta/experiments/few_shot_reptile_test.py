"""Reptile as its paper runs it: inner Adam with beta1 = 0, training episodes of `train_shots`
images per class dealt out in mini-batches, its own `paper` preset, and non-transductive
scoring."""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests.tfmeta.experiments.few_shot_test import FolderTestCase, checkpoint_values, config
from tfmeta.algorithms import mini_batches, whole_episodes
from tfmeta.classify import PLAYER
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot, settings
from tfmeta.experiments.few_shot import evaluate
from tfmeta.experiments.few_shot.adaptation import adapt, logits
from tfmeta.experiments.few_shot.build import training_sampler
from tfmeta.experiments.few_shot.presets import PAPER, PRESETS, REPTILE_PAPER
from tfmeta.types import Reused, Task


def identified_tasks(count: int, per_task: int) -> Task:
    """Tasks whose example ``i`` of task ``t`` is an image filled with ``t * per_task + i``
    and labelled ``i``."""
    ids = tf.reshape(tf.range(count * per_task, dtype=tf.float32), [count, per_task, 1, 1, 1])
    labels = tf.reshape(tf.tile(tf.range(per_task), [count]), [count, per_task])
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]][:count], tf.int32)
    return Task(inner=Reused((ids, labels)), val=Reused((ids, labels)), seed=seeds)


class MiniBatchesTest(absltest.TestCase):

    def test_every_pass_deals_each_example_once_in_a_seeded_order(self):
        tasks = identified_tasks(2, 12)
        images, labels = mini_batches(tasks, batch=4, steps=5).inner  # a pass of 12, then 8
        self.assertEqual(images.shape, (2, 5, 4, 1, 1, 1))
        self.assertEqual(labels.shape, (2, 5, 4))
        ids = images.numpy().reshape(2, 20)
        for t in range(2):
            self.assertEqual(sorted(ids[t, :12] - 12 * t), list(range(12)))   # one full pass
            self.assertLen(set(ids[t, 12:]), 8)                               # then no repeat
            np.testing.assert_array_equal(labels.numpy().reshape(2, 20)[t], ids[t] - 12 * t)
        self.assertNotEqual(list(ids[0, :12]), list(range(12)))               # shuffled
        self.assertNotEqual(list(ids[0, :12]), list(ids[1, :12] - 12))        # per task seed
        again = mini_batches(tasks, batch=4, steps=5).inner[0].numpy().reshape(2, 20)
        np.testing.assert_array_equal(again, ids)                             # deterministic

    def test_a_batch_above_the_task_is_one_error_line(self):
        with self.assertRaisesRegex(ValueError, "a mini-batch of 13 examples needs 1 to 12"):
            mini_batches(identified_tasks(1, 12), batch=13, steps=1)


class ReptileConfigTest(FolderTestCase):

    def test_reptile_fields_are_refused_elsewhere_and_checked(self):
        with self.assertRaisesRegex(ValueError, r"^`inner_batch`=4 applies to `algorithm`="
                                                r"reptile, not 'maml'$"):
            config(self.folder, algorithm="maml", inner_batch=4)
        with self.assertRaisesRegex(ValueError, "`inner_optimizer`=adam applies to"):
            config(self.folder, algorithm="protonet", inner_optimizer="adam")
        with self.assertRaisesRegex(ValueError, r"`train_shots`=1 must be above `shots`=1"):
            config(self.folder, algorithm="reptile", train_shots=1)
        with self.assertRaisesRegex(ValueError, r"`inner_batch`=13 is more than the 12 images "
                                                r"of a training episode \(3 ways x 4\)"):
            config(self.folder, algorithm="reptile", inner_batch=13)

    def test_paper_preset_gives_reptile_its_own_settings_and_maml_keeps_its(self):
        def resolved(**given):
            return settings.resolve(few_shot.FewShotConfig, PRESETS, given=given,
                                    preset="paper").config
        reptile = resolved(algorithm="reptile")
        for name, value in REPTILE_PAPER[(5, 1)].items():
            self.assertEqual(getattr(reptile, name), value, name)
        self.assertEqual((reptile.inner_optimizer, reptile.outer_lr, reptile.meta_batch_size,
                          reptile.eval_inner_steps), ("adam_carried", 1.0, 5, 50))
        twenty = resolved(algorithm="reptile", ways=20, shots=5)
        self.assertEqual((twenty.inner_lr, twenty.inner_batch, twenty.inner_steps),
                         (5e-4, 20, 10))
        maml = resolved(algorithm="maml")
        self.assertEqual((maml.outer_lr, maml.meta_batch_size), (PAPER[(5, 1)]["outer_lr"], 32))
        with self.assertRaisesRegex(ValueError, "no Reptile settings for `ways`=3"):
            resolved(algorithm="reptile", ways=3)

    def test_clip_norm_caps_the_outer_step_of_every_family(self):
        setup = few_shot.build(config(self.folder, algorithm="reptile", clip_norm=0.5,
                                      outer_lr=1.0, outer_lr_schedule="constant"), (28, 28, 1))
        weights = setup.model.trainable_variables
        before = [w.numpy() for w in weights]
        direction = [tf.ones_like(w) * 5.0 for w in weights]     # global norm far above 0.5
        next(iter(setup.learner.outer.values())).apply_gradients(zip(direction, weights))
        moved = np.sqrt(sum(np.sum((w.numpy() - b) ** 2) for w, b in zip(weights, before)))
        self.assertAlmostEqual(moved, 0.5, places=4)
        for algorithm in ("maml", "relation"):
            learner = few_shot.build(config(self.folder, algorithm=algorithm, clip_norm=0.5),
                                     (28, 28, 1)).learner
            optimizer = (learner.optimizer if algorithm == "relation"
                         else next(iter(learner.outer.values())))
            self.assertEqual(optimizer.global_clipnorm, 0.5, algorithm)
        with self.assertRaisesRegex(ValueError, "`clip_norm`"):
            config(self.folder, clip_norm=-1.0)


class ReptileRunTest(FolderTestCase):
    """Tiny runs in the paper's form with the reference's carried Adam, shared by the tests:
    4 updates straight, and 2 then resumed to 4."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config = config(cls.folder, algorithm="reptile", inner_optimizer="adam_carried",
                            inner_lr=1e-3, train_shots=4, inner_batch=3, inner_steps=3,
                            outer_lr=1.0, outer_lr_schedule="constant", meta_batch_size=2,
                            steps=4, eval_every=100, eval_episodes=2, eval_inner_steps=2,
                            checkpoint_every=2)
        cls.workdir = os.path.join(cls.tmp.name, "reptile")
        few_shot.run(cls.config, cls.workdir)
        cls.split = os.path.join(cls.tmp.name, "split")
        few_shot.run(dataclasses.replace(cls.config, steps=2), cls.split)
        few_shot.run(cls.config, cls.split)
        cls.setup, cls.splits = few_shot.load_run(cls.workdir)

    def test_a_resumed_run_ends_with_the_same_weights_and_carried_state(self):
        straight, split = checkpoint_values(self.workdir), checkpoint_values(self.split)
        self.assertEqual(sorted(straight), sorted(split))
        self.assertTrue([k for k in straight if k.startswith("inner_state")])
        for name in straight:
            np.testing.assert_array_equal(straight[name], split[name], err_msg=name)
        count = self.setup.learner.inner_state[PLAYER][0]
        self.assertEqual(float(count.numpy()), 4 * 3)   # updates x inner steps, mean of tasks

    def test_test_time_adaptation_starts_from_the_carried_state(self):
        episode = EpisodeSampler(self.splits.test, ways=3, shots=1,
                                 queries=3, seed=5)(tf.constant(0, tf.int64))
        start = [tf.convert_to_tensor(v) for v in self.setup.model.trainable_variables]
        adapted = adapt(self.setup, episode.support_images, episode.support_labels, inner_steps=1,
                        seed=episode.seed)
        with tf.GradientTape() as tape:
            tape.watch(start)
            loss = self.setup.objective({PLAYER: start}, (episode.support_images,
                                                          episode.support_labels),
                                        episode.seed)[PLAYER]
        grads = tape.gradient(loss, start)
        count, _, second = self.setup.learner.inner_state[PLAYER]
        t = float(count.numpy()) + 1
        for p, g, v, a in zip(start, grads, second, adapted):
            v = 0.999 * v.numpy() + 0.001 * g.numpy() ** 2
            want = p.numpy() - 1e-3 * g.numpy() / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            np.testing.assert_allclose(a.numpy(), want, rtol=1e-5, atol=1e-7)

    def test_training_tasks_are_train_shots_per_class_in_mini_batches(self):
        tasks = training_sampler(self.config, self.splits.train)(tf.constant(0, tf.int64))
        images, labels = tasks.inner
        self.assertEqual(images.shape, (2, 3, 3, 28, 28, 1))   # tasks, inner steps, batch
        # 3 ways x 4 images, dealt 3 at a time: 9 distinct images of one task's 12.
        whole = whole_episodes(EpisodeSampler(
            self.splits.train, ways=3, shots=1, queries=3, seed=self.config.seed,
            episodes=2).meta_batch(tf.constant(0, tf.int64)))
        pool = whole.inner.batch[0][0].numpy().reshape(12, -1)
        dealt = images[0].numpy().reshape(9, -1)
        self.assertTrue(all(np.any(np.all(pool == d, axis=1)) for d in dealt))
        self.assertLen({d.tobytes() for d in dealt}, 9)
        self.assertTrue(set(labels.numpy().ravel()) <= {0, 1, 2})

    def test_inner_adam_has_no_momentum_first_step_is_lr_times_sign(self):
        self.assertEqual(self.setup.inner.name, "adam_carried")
        inner = self.setup.learner.inner[PLAYER]     # the same Adam from a fresh state
        self.assertEqual(inner.name, "adam")
        params = [tf.constant([1.0, 2.0, 3.0])]
        grads = [tf.constant([0.5, -4.0, 1e-3])]
        new, _ = inner.update(grads, inner.init(params), params)
        np.testing.assert_allclose(new[0].numpy(), [1.0 - 1e-3, 2.0 + 1e-3, 3.0 - 1e-3],
                                   rtol=0, atol=5e-7)
        # The second step: beta1 = 0, so the step follows the new gradient alone.
        state = inner.init(params)
        once, state = inner.update([tf.constant([1.0, 1.0, 1.0])], state, params)
        twice, _ = inner.update([tf.constant([-1.0, 1.0, 0.0])], state, once)
        np.testing.assert_allclose((twice[0] - once[0]).numpy(), [1e-3, -1e-3, 0.0],
                                   rtol=0, atol=5e-7)

    def test_non_transductive_scores_each_query_with_the_support_alone(self):
        episode = EpisodeSampler(self.splits.test, ways=3, shots=1, queries=3,
                                          seed=5)(tf.constant(0, tf.int64))
        params = adapt(self.setup, episode.support_images, episode.support_labels, inner_steps=2,
                       seed=episode.seed)
        queries = episode.query_images
        want = np.stack([np.argmax(logits(self.setup, params, tf.concat(
            [episode.support_images, queries[i:i + 1]], 0))[-1]) for i in range(9)])
        accuracies = evaluate.episode_accuracies(self.setup, self.splits.test, episodes=1,
                                                 inner_steps=2, seed=5, transductive=False)
        self.assertAlmostEqual(accuracies[0],
                               np.mean(want == episode.query_labels.numpy()), places=6)
        # Transductive scoring sees the other queries' statistics: its logits differ.
        together = logits(self.setup, params, queries).numpy()
        alone = np.stack([logits(self.setup, params, tf.concat(
            [episode.support_images, queries[i:i + 1]], 0))[-1] for i in range(9)])
        self.assertGreater(np.abs(together - alone).max(), 1e-3)


if __name__ == "__main__":
    absltest.main()
