"""The pre-train + nearest-centroid baseline (`algorithm`=baseline) end to end on the tiny folder
dataset: it learns features that score held-out classes, resumes exactly, scores any N, and its
export answers as Python does; its logistic and fine-tuning heads equal gradient descent by hand,
score the same run without retraining (in Python and `trainers.few_shot_eval`) and serve.

One run of 40 mini-batch updates (Conv-4 of 32 filters, batches of 16 of the 10 meta-train
classes' 80 images) is shared by the tests; the resume test makes two 4-update runs of its own
(with the fine-tuning head, which scores their step-0 curve point, and RFS's form of
pre-training: a ResNet-12 with dropout and DropBlock, cropped batches, SGD with momentum and
weight decay).
"""

import json
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from export import api
from export.classifier_api import classifier_module
from tests.export.fixtures import run_checked, run_cli
from tests.shared import ROOT
from tests.tfmeta.experiments.few_shot_test import FolderTestCase, checkpoint_values, config
from tfmeta.data import EpisodeSampler, ImageBatchSampler
from tfmeta.experiments import few_shot
from tfmeta.experiments.few_shot.learners.components import outer_learning_rate
from tfmeta.experiments.settings import resolve
from tfmeta.metric import MetricNets, query_logits, support_state
from tfmeta.metric.logistic import FINETUNE_LR, FINETUNE_STEPS, LOGISTIC_L2, LOGISTIC_STEPS

TRAINED = dict(algorithm="baseline", batch_size=16, filters=32, steps=40, eval_every=40,
               checkpoint_every=20)


class BaselineTest(FolderTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = os.path.join(cls.tmp.name, "baseline")
        few_shot.run(config(cls.folder, **TRAINED), cls.workdir)
        cls.setup, cls.splits = few_shot.load_run(cls.workdir)

    def test_pretraining_on_every_training_class_scores_held_out_episodes_above_chance(self):
        curve = few_shot.read_curve(self.workdir)
        self.assertEqual([p["step"] for p in curve], [0, 40])
        self.assertNotIn("inner_steps", curve[-1])
        # Chance is 1/3; the same 60 held-out episodes score both points.
        self.assertGreater(curve[-1]["accuracy"], 0.5, curve)
        self.assertGreater(curve[-1]["accuracy"], curve[0]["accuracy"] + 0.1, curve)
        self.assertEqual(self.setup.learner.classifier.units, self.splits.train.num_classes)
        self.assertEqual(int(self.setup.checkpoint.step.numpy()), 40)

    def test_it_scores_any_number_of_ways_and_transductively(self):
        for ways, transductive in ((2, False), (4, False), (3, True)):
            accuracies = few_shot.episode_accuracies(self.setup, self.splits.test, episodes=6,
                                                     inner_steps=0, ways=ways,
                                                     transductive=transductive)
            self.assertEqual(accuracies.shape, (6,))
            self.assertGreater(float(np.mean(accuracies)), 1.0 / ways, (ways, transductive))

    def test_interrupted_and_resumed_run_ends_with_the_same_weights_moving_stats_and_momentum(
            self):
        small = dict(algorithm="baseline", batch_size=8, filters=2, steps=4, eval_every=100,
                     eval_episodes=2, checkpoint_every=2, outer_lr_schedule="step",
                     baseline_head="finetune", finetune_steps=3, augment="crop",
                     baseline_optimizer="sgd", weight_decay=5e-4, outer_lr=0.05,
                     backbone="resnet12", drop_rate=0.3, drop_block_size=2)
        straight = os.path.join(self.tmp.name, "straight")
        resumed = os.path.join(self.tmp.name, "resumed")
        few_shot.run(config(self.folder, **small), straight)
        first = few_shot.run(config(self.folder, **small), resumed,
                             stop=lambda: os.path.exists(os.path.join(resumed, "checkpoints",
                                                                      "ckpt-2.index")))
        self.assertEqual((first.interrupted, first.step), (True, 2))
        self.assertEqual(few_shot.run(config(self.folder, **small), resumed).step, 4)
        point = few_shot.read_curve(straight)[0]   # scored by the fine-tuning head
        self.assertEqual((point["step"], point["episodes"]), (0, 2))
        self.assertTrue(0.0 <= point["accuracy"] <= 1.0, point)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        for part in ("moving_mean", "classifier/", "optimizer/", "calls"):
            self.assertTrue(any(part in name for name in want), (part, sorted(want)))
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    def test_an_sgd_update_with_weight_decay_equals_the_step_by_hand(self):
        # RFS's optimizer: w - lr * (g + decay * w) on the first step (no momentum yet), then
        # the momentum of 0.9 carries the first step's direction into the second.
        lr, decay = 0.05, 0.1
        setup = few_shot.build(config(self.folder, algorithm="baseline", filters=8,
                                      baseline_optimizer="sgd", weight_decay=decay,
                                      outer_lr=lr, outer_lr_schedule="constant"),
                               (28, 28, 1), classes=self.splits.train.num_classes)
        learner = setup.learner
        self.assertIsInstance(learner.optimizer, keras.optimizers.SGD)
        self.assertAlmostEqual(float(learner.optimizer.momentum), 0.9)
        batch = ImageBatchSampler(self.splits.train, batch_size=8, seed=0, augment="crop")
        steps = []
        for step in range(2):
            before = [v.numpy() for v in learner.trainable]
            moving = [v.numpy() for v in learner.moving]
            with tf.GradientTape() as tape:
                loss, _ = learner.loss(batch(step), training=True)
            grads = tape.gradient(loss, learner.trainable)
            for v, m in zip(learner.moving, moving):   # the tape's forward pass moved them
                v.assign(m)
            learner.train_step(batch(step))
            steps.append([(w - v.numpy(), g.numpy() + decay * w)
                          for w, v, g in zip(before, learner.trainable, grads)])
        for moved, want in steps[0]:
            np.testing.assert_allclose(moved, lr * want, rtol=1e-4, atol=1e-6)
        for (moved, want), (first, _) in zip(steps[1], steps[0]):
            np.testing.assert_allclose(moved, 0.9 * first + lr * want, rtol=1e-4, atol=1e-6)

    def test_the_step_schedule_divides_the_rate_by_ten_after_60_and_80_percent_of_the_steps(
            self):
        schedule = outer_learning_rate(config(self.folder, algorithm="baseline", outer_lr=0.05,
                                              outer_lr_schedule="step", steps=100))
        self.assertEqual([round(float(schedule(tf.constant(s, tf.int64))), 7)
                          for s in (0, 60, 61, 80, 81, 100)],
                         [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005])

    def test_nearest_centroid_scoring_equals_a_hand_computation_on_fixed_features(self):
        rng = np.random.default_rng(3)
        support = rng.normal(size=[1, 5, 4]).astype(np.float32)
        labels = np.array([[0, 1, 2, 0, 1]], np.int32)
        queries = rng.normal(size=[1, 3, 4]).astype(np.float32)
        nets = MetricNets("centroid", embedding=None)
        state = support_state(nets, tf.constant(support), tf.constant(labels), 3)
        got = query_logits(nets, state, tf.constant(queries)).numpy()
        unit = support[0] / np.linalg.norm(support[0], axis=-1, keepdims=True)
        centroids = np.stack([unit[labels[0] == c].mean(0) for c in range(3)])
        q = queries[0] / np.linalg.norm(queries[0], axis=-1, keepdims=True)
        want = -((q[:, None] - centroids[None]) ** 2).sum(-1)
        np.testing.assert_allclose(state["centroids"].numpy()[0], centroids, atol=1e-6)
        np.testing.assert_allclose(got[0], want, atol=1e-5)

    def test_the_export_answers_any_n_up_to_max_ways_as_python_scores(self):
        base = os.path.join(self.tmp.name, "exports")
        code, out = run_cli("export.saved_model", f"--workdir={self.workdir}",
                            f"--export_dir={base}", "--name=baseline", "--max_support=24",
                            "--max_query=24", "--max_ways=6")
        self.assertIn(code, (0, None), out)
        path = out.strip().splitlines()[-1]
        metadata = api.read_metadata(path)
        self.assertEqual((metadata["algorithm"], metadata["family"], metadata["max_ways"],
                          metadata["trained_classes"], metadata["baseline_head"]),
                         ("baseline", "metric", 6, self.splits.train.num_classes, "centroid"))
        model = tf.saved_model.load(path)
        for ways, dataset in ((2, self.splits.test), (4, self.splits.test),
                              (6, self.splits.train)):
            e = EpisodeSampler(dataset, ways=ways, shots=2, queries=2, seed=7)(0)
            served = model.signatures["adapt_and_classify"](
                support_images=e.support_images, support_labels=e.support_labels,
                query_images=e.query_images, seed=tf.constant(0))
            state = few_shot.adapt(self.setup, e.support_images, e.support_labels,
                                   inner_steps=0, ways=ways)
            python = few_shot.classify(self.setup, state, e.query_images).numpy()
            self.assertEqual(served["probabilities"].shape, (2 * ways, ways))
            np.testing.assert_allclose(served["probabilities"].numpy(), python, atol=1e-5)

    def test_logistic_head_equals_gradient_descent_by_hand_and_reaches_its_optimum(self):
        rng = np.random.default_rng(4)
        support = rng.normal(size=[1, 6, 4]).astype(np.float64)
        labels = np.array([[0, 1, 2, 0, 1, 2]], np.int32)
        queries = rng.normal(size=[1, 3, 4]).astype(np.float64)
        nets = MetricNets("logistic", embedding=None)
        state = support_state(nets, tf.constant(support), tf.constant(labels), 3)
        got = query_logits(nets, state, tf.constant(queries)).numpy()
        x = support[0] / np.linalg.norm(support[0], axis=-1, keepdims=True)
        y = np.eye(3)[labels[0]]
        w, b, l2 = np.zeros([4, 3]), np.zeros([3]), LOGISTIC_L2
        for _ in range(LOGISTIC_STEPS):
            z = x @ w + b
            p = np.exp(z - z.max(-1, keepdims=True))
            error = (p / p.sum(-1, keepdims=True) - y) / len(x)
            w, b = w - (x.T @ error + l2 * w) / (1 + l2), b - error.sum(0) / (1 + l2)
        q = queries[0] / np.linalg.norm(queries[0], axis=-1, keepdims=True)
        np.testing.assert_allclose(state["weights"].numpy()[0], w, atol=1e-10)
        np.testing.assert_allclose(got[0], q @ w + b, atol=1e-10)
        # 100 steps reach the regularized optimum: the gradient there is ~0.
        z = x @ w + b
        p = np.exp(z - z.max(-1, keepdims=True))
        error = (p / p.sum(-1, keepdims=True) - y) / len(x)
        self.assertLess(np.abs(x.T @ error + l2 * w).max() + np.abs(error.sum(0)).max(), 1e-4)

    def test_the_logistic_head_scores_the_trained_run_and_serves_as_python(self):
        setup, _ = few_shot.load_run(self.workdir, baseline_head="logistic")
        accuracies = few_shot.episode_accuracies(setup, self.splits.test, episodes=6,
                                                 inner_steps=0)
        self.assertGreater(float(np.mean(accuracies)), 1.0 / 3)
        module = classifier_module(setup, max_support=12, max_query=12, max_ways=4)
        e = EpisodeSampler(self.splits.test, ways=4, shots=2, queries=2, seed=8)(0)
        path = os.path.join(self.tmp.name, "logistic_module")
        tf.saved_model.save(module, path)
        loaded = tf.saved_model.load(path)
        served = loaded.adapt_and_classify(
            e.support_images, e.support_labels, e.query_images, tf.constant(0))
        python = few_shot.classify(setup, few_shot.adapt(
            setup, e.support_images, e.support_labels, inner_steps=0, ways=4), e.query_images)
        np.testing.assert_allclose(served["probabilities"].numpy(), python.numpy(), atol=1e-5)

    def test_finetune_head_starts_imprinted_and_equals_gradient_descent_by_hand_lowering_the_loss(
            self):
        rng = np.random.default_rng(5)
        support = rng.normal(size=[1, 6, 4])                                     # float64
        labels = np.array([[0, 1, 2, 0, 1, 2]], np.int32)
        queries = rng.normal(size=[1, 3, 4])
        x = support[0] / np.linalg.norm(support[0], axis=-1, keepdims=True)
        y = np.eye(3)[labels[0]]
        q = queries[0] / np.linalg.norm(queries[0], axis=-1, keepdims=True)
        w = x.T @ y
        w, b, rate = w / np.linalg.norm(w, axis=0), np.zeros(3), 0.7   # imprinted: unit means
        losses = []
        for steps in range(6):
            nets = MetricNets("finetune", embedding=None, finetune_steps=steps,
                              finetune_lr=rate)
            state = support_state(nets, tf.constant(support), tf.constant(labels), 3)
            np.testing.assert_allclose(state["weights"].numpy()[0], w, atol=1e-12)
            np.testing.assert_allclose(state["bias"].numpy()[0], b, atol=1e-12)
            np.testing.assert_allclose(query_logits(nets, state, tf.constant(queries))[0],
                                       q @ w + b, atol=1e-12)
            z = x @ w + b
            p = np.exp(z - z.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            losses.append(-np.mean(np.log((p * y).sum(-1))))
            error = (p - y) / len(x)
            w, b = w - rate * x.T @ error, b - rate * error.sum(0)
        self.assertTrue(all(a > b for a, b in zip(losses, losses[1:])), losses)
        # The defaults (100 steps at 1) go further down.
        state = support_state(MetricNets("finetune", embedding=None), tf.constant(support),
                              tf.constant(labels), 3)
        z = x @ state["weights"].numpy()[0] + state["bias"].numpy()[0]
        p = np.exp(z - z.max(-1, keepdims=True))
        self.assertLess(-np.mean(np.log((p / p.sum(-1, keepdims=True) * y).sum(-1))),
                        min(losses) - 0.1)
        self.assertEqual((FINETUNE_STEPS, FINETUNE_LR), (100, 1.0))

    def test_eval_scores_the_run_with_the_finetune_head_and_its_export_answers_tf_only(self):
        out = os.path.join(self.tmp.name, "finetune_eval.json")
        code, printed = run_cli("trainers.few_shot_eval", f"--runs={self.workdir}",
                                "--episodes=6", f"--out={out}", "--baseline_head=finetune",
                                "--finetune_steps=7", "--finetune_lr=0.5")
        self.assertIn(code, (0, None), printed)
        with open(out) as f:
            row = json.load(f)[0]
        setup, _ = few_shot.load_run(self.workdir, splits=self.splits, baseline_head="finetune",
                                     finetune_steps=7, finetune_lr=0.5)
        python = few_shot.episode_accuracies(setup, self.splits.test, episodes=6, inner_steps=0)
        self.assertEqual((row["baseline_head"], row["finetune_steps"], row["finetune_lr"],
                          row["episodes"]), ("finetune", 7, 0.5, 6))
        self.assertAlmostEqual(row["accuracy"], float(np.mean(python)), places=6)
        self.assertGreater(row["accuracy"], 1.0 / 3)
        self.assertIn(f"| {self.workdir} | baseline (finetune) | folder |", printed)
        # The centroid run exported with the finetune head (export.saved_model --baseline_head
        # and its --finetune_* settings),
        # served by a process that cannot import Keras or tfmeta.
        code, out = run_cli("export.saved_model", f"--workdir={self.workdir}",
                            f"--export_dir={os.path.join(self.tmp.name, 'ft_exports')}",
                            "--name=ft", "--max_support=12", "--max_query=12", "--max_ways=4",
                            "--baseline_head=finetune", "--finetune_steps=7",
                            "--finetune_lr=0.5")
        self.assertIn(code, (0, None), out)
        path = out.strip().splitlines()[-1]
        self.assertEqual({k: api.read_metadata(path)[k] for k in
                          ("baseline_head", "finetune_steps", "finetune_lr")},
                         {"baseline_head": "finetune", "finetune_steps": 7, "finetune_lr": 0.5})
        e = EpisodeSampler(self.splits.test, ways=4, shots=2, queries=2, seed=8)(0)
        requests, answers = (os.path.join(self.tmp.name, f) for f in ("req.npz", "ans.npz"))
        np.savez(requests, **{f"ft:adapt_and_classify:{k}": v for k, v in (
            ("support_images", e.support_images.numpy()),
            ("support_labels", e.support_labels.numpy()),
            ("query_images", e.query_images.numpy()), ("seed", np.int32(0)))})
        proc = run_checked([sys.executable, os.path.join(ROOT, "tests", "export",
                                                         "tf_only_requests.py"),
                            path, requests, answers])
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual((summary["importable"], summary["refused"]), ([], {}))
        python = few_shot.classify(setup, few_shot.adapt(
            setup, e.support_images, e.support_labels, inner_steps=0, ways=4), e.query_images)
        np.testing.assert_allclose(np.load(answers)["ft:probabilities"], python.numpy(),
                                   atol=1e-5)

    def test_eval_and_export_refuse_an_unknown_head_in_one_line_naming_it(self):
        code, _ = run_cli("trainers.few_shot_eval", f"--runs={self.workdir}", "--episodes=1",
                          f"--out={os.path.join(self.tmp.name, 'never.json')}",
                          "--baseline_head=nearest")
        self.assertEqual(code, "error: --baseline_head='nearest' is not one of ['centroid', "
                               "'logistic', 'finetune']")
        code, _ = run_cli("trainers.few_shot_eval", f"--runs={self.workdir}", "--episodes=1",
                          f"--out={os.path.join(self.tmp.name, 'never.json')}",
                          "--finetune_lr=0", "--finetune_steps=3")
        self.assertEqual(code, "error: --finetune_lr must be a positive number, got 0.0")
        code, _ = run_cli("export.saved_model", f"--workdir={self.workdir}",
                          f"--export_dir={os.path.join(self.tmp.name, 'never')}", "--name=x",
                          "--baseline_head=nearest")
        self.assertEqual(code, "error: --baseline_head='nearest' is not one of ['centroid', "
                               "'logistic', 'finetune']")

    def test_augment_applies_to_every_learners_training_episodes(self):
        for algorithm in ("siamese", "reptile", "maml"):
            plain = few_shot.training_sampler(config(self.folder, algorithm=algorithm),
                                              self.splits.train)(3)
            affine = few_shot.training_sampler(config(self.folder, algorithm=algorithm,
                                                      augment="affine"), self.splits.train)(3)
            for part in ("inner", "val"):
                raw_images, raw_labels = getattr(plain, part).batch
                images, labels = getattr(affine, part).batch
                np.testing.assert_array_equal(labels.numpy(), raw_labels.numpy())
                self.assertGreater(np.abs(images.numpy() - raw_images.numpy()).max(), 0.1,
                                   algorithm)

    def test_refusals_baseline_fields_elsewhere_or_out_of_range_no_classes_and_paper_preset(self):
        with self.assertRaisesRegex(ValueError, r"^`batch_size`=8 applies to `algorithm`="
                                                r"baseline, not 'protonet'$"):
            config(self.folder, algorithm="protonet", batch_size=8)
        with self.assertRaisesRegex(ValueError, r"^`finetune_steps`=5 applies to `algorithm`="
                                                r"baseline, not 'protonet'$"):
            config(self.folder, algorithm="protonet", finetune_steps=5)
        with self.assertRaisesRegex(ValueError, r"^`weight_decay`=0.1 applies to "
                                                r"`algorithm`=baseline, not 'protonet'$"):
            config(self.folder, algorithm="protonet", augment="crop", weight_decay=0.1)
        for field, value, want in (("finetune_steps", -1, "an integer >= 0"),
                                   ("finetune_lr", 0.0, "a positive number"),
                                   ("weight_decay", -1e-4, "a finite number >= 0")):
            with self.assertRaisesRegex(ValueError, rf"^`{field}` must be {want}, got "):
                config(self.folder, algorithm="baseline", **{field: value})
        for field, value in (("augment", "mixup"), ("baseline_optimizer", "lamb")):
            with self.assertRaisesRegex(ValueError, rf"^`{field}`='{value}' is not one of "):
                config(self.folder, algorithm="baseline", **{field: value})
        with self.assertRaisesRegex(ValueError, r"`algorithm`=baseline needs the number of "
                                                r"meta-train classes"):
            few_shot.build(config(self.folder, algorithm="baseline"), (28, 28, 1))
        with self.assertRaisesRegex(ValueError, r"^`batch_size`=81 is more than the 80 images "
                                                r"of the meta-train classes$"):
            few_shot.run(config(self.folder, algorithm="baseline", batch_size=81),
                         os.path.join(self.tmp.name, "too_large"))
        with self.assertRaisesRegex(ValueError, r"^`preset`=paper has no settings for "
                                                r"`algorithm`=baseline yet; use `preset`=cpu"):
            resolve(few_shot.FewShotConfig, few_shot.PRESETS, given={"algorithm": "baseline"},
                    preset="paper")
