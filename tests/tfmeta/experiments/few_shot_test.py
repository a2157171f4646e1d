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


def write_class_folders(folder: str, classes: int = 14, per_class: int = 8, *,
                        shared: float = 0.7, noise: float = 50.0, seed: int = 23) -> str:
    """``classes`` folders of ``per_class`` 28x28 PNGs: each class's 7x7 pattern (4x4-pixel
    blocks) is ``shared`` of one common pattern plus its own rest, under pixel noise of
    deviation ``noise``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, [7, 7])
    for c in range(classes):
        pattern = shared * base + round(1 - shared, 12) * rng.uniform(0, 255, [7, 7])
        os.makedirs(os.path.join(folder, f"class{c:02d}"), exist_ok=True)
        for i in range(per_class):
            image = np.kron(pattern, np.ones([4, 4])) + rng.normal(0, noise, [28, 28])
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


class FolderTestCase(absltest.TestCase):
    """A temporary directory with the synthetic class folders, for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.folder = write_class_folders(os.path.join(cls.tmp.name, "classes"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()


class FewShotExperimentTest(FolderTestCase):

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

    def test_a_resumed_run_may_move_its_derivative_order_switch(self):
        # Stopped at 2 under first_order_steps=4 and resumed with the switch at 2: the same
        # weights as a run made with the switch at 2 (first order to 2, second order after);
        # kept at 4 (first order throughout) they differ.
        small = dict(steps=4, eval_every=100, eval_episodes=2, checkpoint_every=2,
                     outer_lr_schedule="constant", inner_steps=2)
        ends = {}
        for name, switch in (("straight", 2), ("first_order", 4)):
            ends[name] = os.path.join(self.tmp.name, f"switch_{name}")
            few_shot.run(config(self.folder, first_order_steps=switch, **small), ends[name])
        moved = os.path.join(self.tmp.name, "switch_moved")
        first = few_shot.run(config(self.folder, first_order_steps=4, **small), moved,
                             stop=lambda: os.path.exists(os.path.join(moved, "checkpoints",
                                                                      "ckpt-2.index")))
        self.assertEqual((first.interrupted, first.step), (True, 2))
        self.assertEqual(few_shot.run(config(self.folder, first_order_steps=2, **small),
                                      moved).step, 4)
        self.assertEqual(few_shot.read_config(moved).first_order_steps, 2)
        want, got = checkpoint_values(ends["straight"]), checkpoint_values(moved)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        other = checkpoint_values(ends["first_order"])
        self.assertGreater(max(float(np.abs(other[n] - want[n]).max()) for n in want
                               if want[n].dtype.kind == "f"), 1e-6)

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
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=10, inner_steps=0,
                                                 ways=4)
        self.assertEqual(accuracies.shape, (10,))
        self.assertGreater(float(np.mean(accuracies)), 0.25)   # chance at 4 ways



MEGAN = dict(algorithm="megan", ways=3, queries=3, meta_batch_size=2, filters=8,
             generator_filters=4, noise_dim=4, inner_steps=2, fakes_from=1, eval_inner_steps=2)
# One inner step with fakes from it: the smallest MeGAN whose classifier adapts on the generator's
# fakes (a second-order update traces in half the time of two steps). That the meta-gradient
# also flows through earlier steps is checked against finite differences in
# tests/tfmeta/megan/objective_test.py.
ONE_STEP = dict(inner_steps=1, fakes_from=0, eval_inner_steps=1)


def variable_values(setup):
    """``{player: [numpy arrays]}`` of both players' trainable variables now."""
    return {"model": [v.numpy() for v in setup.model.trainable_variables],
            "generator": [v.numpy() for v in setup.generator.trainable_variables]}


class MeganExperimentTest(absltest.TestCase):
    """MeGAN (--algorithm=megan) in the few-shot experiment: config, build, meta-update, resume."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.folder = write_class_folders(os.path.join(cls.tmp.name, "classes"))
        cls.splits = few_shot.load_data(config(cls.folder, **MEGAN))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_megan_config_choices_are_the_librarys(self):
        from tfmeta.experiments.few_shot import config as config_lib
        from tfmeta.megan import OUTER_LOSSES
        from tfmeta.nets.megan import CONDITIONINGS
        self.assertEqual(config_lib.CONDITIONINGS, CONDITIONINGS)
        self.assertEqual(config_lib.OUTER_LOSSES, OUTER_LOSSES)

    def build(self, **overrides):
        megan = config(self.folder, **dict(MEGAN, **overrides))
        return few_shot.build(megan, self.splits.train.image_shape), megan

    def assert_one_line_error(self, *fragments, **values):
        with self.assertRaises(ValueError) as raised:
            config(self.folder, **values)
        message = str(raised.exception)
        self.assertEqual(len(message.splitlines()), 1, message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_megan_config_refuses_inner_steps_not_above_fakes_from(self):
        self.assert_one_line_error("`inner_steps`=2", "`fakes_from`=2",
                                   **dict(MEGAN, fakes_from=2))
        self.assert_one_line_error("`inner_steps`=2", "`fakes_from`=5",
                                   **dict(MEGAN, fakes_from=5))
        config(self.folder, **dict(MEGAN, fakes_from=0))   # fakes at every step is fine

    def test_megan_config_refuses_first_order_with_the_real_outer_loss(self):
        self.assert_one_line_error("`first_order`", "`outer_loss`=real", "hybrid",
                                   **dict(MEGAN, first_order=True, outer_loss="real"))
        for outer_loss in ("hybrid", "fakes"):
            self.assertTrue(config(self.folder, **dict(MEGAN, first_order=True,
                                                       outer_loss=outer_loss)).first_order)

    def test_megan_only_fields_on_other_algorithms_are_refused_naming_field_and_algorithm(self):
        self.assert_one_line_error("`first_order`", "`algorithm`=megan", "'maml'",
                                   "`algorithm`=fomaml", algorithm="maml", first_order=True)
        self.assert_one_line_error("`conditioning`", "`algorithm`=megan", "'protonet'",
                                   algorithm="protonet", conditioning="label")
        self.assert_one_line_error("`fakes_from`", "`noise_dim`", "'reptile'",
                                   algorithm="reptile", fakes_from=0, noise_dim=8)
        self.assertFalse(config(self.folder).megan)   # a default config sets no megan field

    def test_megan_setup_has_a_generator_and_an_n_plus_one_classifier_with_n_class_logits(self):
        setup, megan = self.build()
        self.assertTrue(megan.megan)
        self.assertIsNotNone(setup.generator)
        self.assertEqual(setup.model.output_shape[-1], 4)   # 3 ways + "fake"
        self.assertEqual(sorted(setup.inner), ["generator", "model"])
        episode = few_shot.training_sampler(megan, self.splits.train)(tf.constant(0, tf.int64))
        queries = episode.val.batch[0][0]
        params = few_shot.initial_params(setup)
        self.assertEqual(few_shot.logits(setup, params, queries).shape, (9, 3))
        probabilities = few_shot.classify(setup, params, queries).numpy()
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)

    def test_megan_generated_is_inner_steps_of_support_shaped_images_that_depend_on_seed(self):
        setup, megan = self.build()
        support, labels = few_shot.training_sampler(megan, self.splits.train)(
            tf.constant(0, tf.int64)).inner.batch
        support, labels = support[0], labels[0]
        images = few_shot.generated(setup, support, labels, inner_steps=3,
                                    seed=tf.constant([1, 2])).numpy()
        self.assertEqual(images.shape, (3, 3, 28, 28, 1))
        self.assertTrue(np.all(np.isfinite(images)))
        self.assertGreaterEqual(images.min(), -1.0)
        self.assertLessEqual(images.max(), 1.0)
        again = few_shot.generated(setup, support, labels, inner_steps=3, seed=tf.constant([1, 2]))
        np.testing.assert_array_equal(again.numpy(), images)
        other = few_shot.generated(setup, support, labels, inner_steps=3, seed=tf.constant([3, 4]))
        self.assertGreater(float(np.abs(other.numpy() - images).max()), 1e-4)
        maml = few_shot.build(config(self.folder), self.splits.train.image_shape)
        with self.assertRaisesRegex(ValueError, "only megan"):
            few_shot.generated(maml, support, labels, inner_steps=1)

    def test_adapt_takes_inner_steps_and_steps_warns_once_with_the_same_parameters(self):
        import warnings
        maml = few_shot.build(config(self.folder), self.splits.train.image_shape)
        support, labels = few_shot.training_sampler(config(self.folder), self.splits.train)(
            tf.constant(0, tf.int64)).inner.batch
        support, labels = support[0], labels[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = few_shot.adapt(maml, support, labels, inner_steps=2)
            self.assertEqual([w for w in caught if w.category is DeprecationWarning], [])
            old = few_shot.adapt(maml, support, labels, steps=2)
        [warned] = [str(w.message) for w in caught if w.category is DeprecationWarning]
        self.assertEqual(warned, "`steps` of adapt() is deprecated: use `inner_steps`")
        for a, b in zip(old, new, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        with self.assertRaisesRegex(TypeError, r"both `inner_steps` and `steps`"):
            few_shot.adapt(maml, support, labels, inner_steps=2, steps=2)

    def test_megan_validation_batch_is_queries_then_the_inner_support_set(self):
        megan = config(self.folder, **MEGAN)
        tasks = few_shot.training_sampler(megan, self.splits.train)(tf.constant(3, tf.int64))
        inner, val = tasks.inner.batch, tasks.val.batch
        self.assertEqual(len(inner), 2)
        self.assertEqual(len(val), 4)
        self.assertEqual(val[0].shape, (2, 9, 28, 28, 1))   # 2 episodes of 3 ways x 3 queries
        self.assertEqual(val[1].shape, (2, 9))
        np.testing.assert_array_equal(val[2].numpy(), inner[0].numpy())
        np.testing.assert_array_equal(val[3].numpy(), inner[1].numpy())

    def meta_update(self, **overrides):
        """``(before, after, metrics)`` of one real meta-update of a fresh setup."""
        setup, megan = self.build(**overrides)
        before = variable_values(setup)
        metrics = setup.learner.train_step(
            few_shot.training_sampler(megan, self.splits.train)(tf.constant(0, tf.int64)))
        return before, variable_values(setup), {k: float(v) for k, v in metrics.items()}

    def assert_every_variable_moved(self, before, after):
        for player in ("model", "generator"):
            self.assertNotEmpty(before[player])
            for i, (b, a) in enumerate(zip(before[player], after[player])):
                self.assertFalse(np.array_equal(a, b), f"{player} variable {i} did not change")

    def test_megan_second_order_meta_update_trains_both_players_on_one_real_query_loss(self):
        before, after, metrics = self.meta_update(**ONE_STEP)
        self.assert_every_variable_moved(before, after)
        for key in ("meta_loss/model", "meta_loss/generator", "inner_loss/model",
                    "inner_loss/generator", "grad_norm/generator"):
            self.assertIn(key, metrics)
            self.assertTrue(np.isfinite(metrics[key]), metrics)
        self.assertEqual(metrics["meta_loss/model"], metrics["meta_loss/generator"])
        self.assertGreater(metrics["grad_norm/generator"], 0.0)

    def test_megan_first_order_hybrid_meta_update_trains_both_players_on_their_own_losses(self):
        before, after, metrics = self.meta_update(first_order=True, outer_loss="hybrid",
                                                  **ONE_STEP)
        self.assert_every_variable_moved(before, after)
        self.assertNotEqual(metrics["meta_loss/model"], metrics["meta_loss/generator"])
        self.assertGreater(metrics["grad_norm/generator"], 0.0)

    def test_interrupted_and_resumed_megan_run_restores_generator_and_its_optimizer_exactly(self):
        straight = os.path.join(self.tmp.name, "megan_straight")
        resumed = os.path.join(self.tmp.name, "megan_resumed")
        # First order: the checkpoint is the same as second order's, its updates compile faster.
        small = dict(MEGAN, steps=4, eval_every=100, eval_episodes=2, checkpoint_every=2,
                     first_order=True, outer_loss="hybrid", **ONE_STEP)
        few_shot.run(config(self.folder, **small), straight)
        first = few_shot.run(config(self.folder, **small), resumed,
                             stop=lambda: os.path.exists(os.path.join(resumed, "checkpoints",
                                                                      "ckpt-2.index")))
        self.assertEqual((first.interrupted, first.step), (True, 2))
        self.assertEqual(few_shot.run(config(self.folder, **small), resumed).step, 4)
        want, got = checkpoint_values(straight), checkpoint_values(resumed)
        self.assertEqual(sorted(want), sorted(got))
        # The players' weights are saved once, where the object graph first reaches them:
        # under their outer optimizers, with those optimizers' moments.
        generator = sorted(name for name in want
                           if name.startswith("generator_optimizer/_trainable_variables/"))
        setup, _ = few_shot.load_run(straight)   # a restored run holds the stored generator
        self.assertLen(generator, len(setup.generator.weights))
        self.assertTrue(any(name.startswith("generator_optimizer/_variables/")
                            for name in want), sorted(want))
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        restored = sorted(v.numpy().tobytes() for v in setup.generator.trainable_variables)
        stored = sorted(want[name].tobytes() for name in generator)
        self.assertEqual(restored, stored)
        self.assertTrue(os.path.exists(os.path.join(straight, "samples.png")))


if __name__ == "__main__":
    absltest.main()
