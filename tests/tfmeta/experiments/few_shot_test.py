"""The few-shot experiment end to end on a tiny folder dataset: it learns, and resumes exactly.

Classes share most of one 7x7 pattern (upsampled to 28x28) and differ in the
rest, under pixel noise, so that one support image per class and one inner
step from a random initialization classify poorly; a meta-trained
initialization must do clearly better on held-out classes.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.experiments import few_shot


def write_class_folders(folder: str, classes: int = 14, per_class: int = 8) -> str:
    from PIL import Image
    rng = np.random.default_rng(23)
    base = rng.uniform(0, 255, [7, 7])
    for c in range(classes):
        pattern = 0.7 * base + 0.3 * rng.uniform(0, 255, [7, 7])
        os.makedirs(os.path.join(folder, f"class{c:02d}"), exist_ok=True)
        for i in range(per_class):
            image = np.kron(pattern, np.ones([4, 4])) + rng.normal(0, 50, [28, 28])
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                os.path.join(folder, f"class{c:02d}", f"{i}.png"))
    return folder


def config(folder, **overrides):
    values = dict(dataset="folder", folder=folder, ways=3, shots=1, queries=3,
                  meta_batch_size=4, filters=16, steps=60, eval_every=60, eval_episodes=60,
                  checkpoint_every=30, summary_every=10, outer_lr=3e-3, eval_inner_steps=1)
    values.update(overrides)
    return few_shot.FewShotConfig(**values)


def checkpoint_values(workdir):
    path = os.path.join(workdir, "checkpoints")
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(path)
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


class FewShotExperimentTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.folder = write_class_folders(os.path.join(cls.tmp.name, "classes"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_a_tiny_maml_run_learns_on_held_out_classes(self):
        workdir = os.path.join(self.tmp.name, "learns")
        few_shot.run(config(self.folder), workdir)
        curve = few_shot.read_curve(workdir)
        self.assertEqual([p["step"] for p in curve], [0, 60])
        start, end = curve[0]["accuracy"], curve[-1]["accuracy"]
        # Chance is 1/3; the same 60 held-out episodes score both points.
        self.assertGreater(end, start + 0.1, curve)
        self.assertGreater(end, 0.6, curve)

    def test_interrupted_and_resumed_run_ends_with_the_same_weights(self):
        straight = os.path.join(self.tmp.name, "straight")
        resumed = os.path.join(self.tmp.name, "resumed")
        small = dict(steps=4, eval_every=100, eval_episodes=2, checkpoint_every=2,
                     per_step_lr=True, outer_lr_schedule="constant")
        few_shot.run(config(self.folder, **small), straight)
        first = few_shot.run(config(self.folder, **small), resumed,
                             stop=lambda: few_shot.read_config(resumed) is not None
                             and os.path.exists(os.path.join(resumed, "checkpoints",
                                                             "ckpt-2.index")))
        self.assertTrue(first.interrupted)
        self.assertEqual(first.step, 2)
        second = few_shot.run(config(self.folder, **small), resumed)
        self.assertEqual(second.step, 4)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        self.assertTrue(any("inner_learning_rates" in name for name in want), sorted(want))
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    def test_interrupted_and_resumed_metric_runs_end_with_the_same_weights_and_moving_stats(self):
        for algorithm, extra in (("relation", {}),):   # a head, and moving averages
            straight = os.path.join(self.tmp.name, f"{algorithm}_straight")
            resumed = os.path.join(self.tmp.name, f"{algorithm}_resumed")
            small = dict(algorithm=algorithm, steps=4, eval_every=100, eval_episodes=2,
                         checkpoint_every=2, meta_batch_size=2, **extra)
            few_shot.run(config(self.folder, **small), straight)
            first = few_shot.run(config(self.folder, **small), resumed,
                                 stop=lambda: os.path.exists(os.path.join(
                                     resumed, "checkpoints", "ckpt-2.index")))
            self.assertEqual((first.interrupted, first.step), (True, 2))
            self.assertEqual(few_shot.run(config(self.folder, **small), resumed).step, 4)
            want, got = checkpoint_values(straight), checkpoint_values(resumed)
            self.assertEqual(sorted(want), sorted(got))
            self.assertTrue(any("moving_mean" in name for name in want), sorted(want))
            self.assertTrue(any(name.startswith("head/") for name in want), sorted(want))
            for name in want:
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    def test_a_tiny_prototypical_run_learns_and_scores_any_number_of_ways(self):
        workdir = os.path.join(self.tmp.name, "protonet")
        few_shot.run(config(self.folder, algorithm="protonet", train_ways=5, steps=60,
                            outer_lr=1e-2), workdir)
        curve = few_shot.read_curve(workdir)
        self.assertGreater(curve[-1]["accuracy"], curve[0]["accuracy"] + 0.1, curve)
        self.assertNotIn("inner_steps", curve[-1])
        setup, splits = few_shot.load_run(workdir)
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=10, steps=0,
                                                 ways=4)
        self.assertEqual(accuracies.shape, (10,))
        self.assertGreater(float(np.mean(accuracies)), 0.25)   # chance at 4 ways


if __name__ == "__main__":
    absltest.main()
