"""MAML-GAN on real MNIST: every algorithm trains, resumes exactly, and rejects bad settings."""

import dataclasses
import json
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests.shared import forget_setting, tfds_dir
from tfmeta import inner as lib_inner
from tfmeta.algorithms import maml_losses
from tfmeta.data import MetaBatchSampler
from tfmeta.data.support import step_batches, support_set
from tfmeta.experiments import maml_gan as lib
from tfmeta.gan import generate
from tfmeta.training import Diverged

TINY = dict(dataset="mnist", download=False, inner_steps=2, meta_batch_size=2, batch_size=8,
            generator_width=8, discriminator_width=8, latent_dim=16, checkpoint_every=2,
            sample_every=1000, summary_every=1, grid_samples=2, grid_steps=(1,), inner_lr=1e-3,
            outer_lr=1e-3)
# grid_steps=(1,): a sample grid adapts 3 classes x 2 initializations eagerly for
# max(grid_steps) steps; the tests that check its columns set their own.


def tiny_config(**overrides) -> lib.MamlGanConfig:
    return lib.MamlGanConfig(data_dir=str(tfds_dir()), **dict(TINY, **overrides))


def _weights(setup):
    return [v.numpy().copy() for m in (setup.generator, setup.discriminator)
            for v in m.trainable_variables]


def _gap(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def _own_meta_losses(setup, start, tasks):
    """Each player's meta-loss at its current parameters, the opponent held at ``start``."""
    current = lib.params_of(setup)
    out = {}
    for player in ("generator", "discriminator"):
        params = dict(start, **{player: current[player]})
        total = 0.0
        for i in range(int(tasks.seed.shape[0])):
            task = tf.nest.map_structure(lambda t: t[i], tasks)
            total += float(maml_losses(setup.objective, params, task, setup.inner,
                                       inner_steps=setup.config.inner_steps)[player])
        out[player] = total
    return out


class MamlGanTrainingTest(parameterized.TestCase):

    @parameterized.parameters("maml", "fomaml", "metasgd", "reptile")
    def test_meta_training_changes_init_and_lowers_meta_loss_on_fixed_batch(self, algorithm):
        # One inner step (each is unrolled into the traced meta-update of a DCGAN pair), but
        # two for Reptile, which with one step is plain joint training (no meta-gradient traced)
        config = tiny_config(algorithm=algorithm, inner_steps=2 if algorithm == "reptile" else 1,
                             reptile_step_size=0.5)
        splits = lib.load_data(config)
        setup = lib.build(config, splits.train.image_shape)
        sampler = MetaBatchSampler(splits.train, tasks=2, inner_steps=config.inner_steps,
                                   batch_size=8, seed=0)
        tasks = sampler(0)
        start = lib.params_of(setup)
        before_weights = _weights(setup)
        before = _own_meta_losses(setup, start, tasks)
        for _ in range(4):
            metrics = setup.learner.train_step(tasks)
        for key in ("meta_loss/generator", "meta_loss/discriminator", "grad_norm/generator"):
            self.assertTrue(np.isfinite(float(metrics[key])), key)
        after = _own_meta_losses(setup, start, tasks)
        changed = [not np.array_equal(a, b) for a, b in zip(before_weights, _weights(setup))]
        # The critic's output bias cancels in the WGAN losses (mean(fake) - mean(real)) and
        # the gradient penalty ignores it, so its gradient is exactly zero: it must not move.
        self.assertTrue(all(changed[:-1]), f"unchanged variables: {changed}")
        self.assertFalse(changed[-1])
        for player in ("generator", "discriminator"):
            self.assertLess(after[player], before[player], f"{player}: {before} -> {after}")

    def test_interrupted_and_resumed_run_equals_uninterrupted_run(self):
        # Second order, one inner step: the meta-step of three runs traces in half the time.
        config = tiny_config(algorithm="maml", steps=4, inner_steps=1)
        splits = lib.load_data(config)
        with tempfile.TemporaryDirectory() as straight, tempfile.TemporaryDirectory() as resumed:
            lib.run(config, straight, splits=splits)
            reference, _ = lib.load_run(straight)

            def kill_at_3(step, metrics):
                if step == 3:
                    raise KeyboardInterrupt("simulated kill after step 3")

            with self.assertRaises(KeyboardInterrupt):
                lib.run(config, resumed, progress=kill_at_3, splits=splits)
            latest = tf.train.latest_checkpoint(os.path.join(resumed, "checkpoints"))
            self.assertTrue(latest.endswith("ckpt-2"), latest)
            steps_seen = []
            lib.run(config, resumed, progress=lambda s, m: steps_seen.append(s), splits=splits)
            self.assertEqual(steps_seen, [3, 4])
            result, _ = lib.load_run(resumed)
            self.assertEqual(int(result.checkpoint.step.numpy()), 4)
            for a, b in zip(_weights(reference), _weights(result)):
                np.testing.assert_array_equal(a, b)
            opt_a = reference.learner.outer["generator"].variables
            opt_b = result.learner.outer["generator"].variables
            for a, b in zip(opt_a, opt_b):
                np.testing.assert_array_equal(a.numpy(), b.numpy())

    def test_run_writes_its_files_decays_a_cosine_outer_lr_and_keeps_the_newest_checkpoints(self):
        """One fomaml run of 6 steps: it writes config, checkpoints, summaries and sample grid;
        the cosine outer learning rate decays to zero over the run and fixes its length; and
        keep_checkpoints bounds the checkpoints kept."""
        config = tiny_config(algorithm="fomaml", steps=6, sample_every=3,
                             outer_lr_schedule="cosine", keep_checkpoints=2)
        with tempfile.TemporaryDirectory() as workdir:
            lib.run(config, workdir)
            with open(os.path.join(workdir, "config.json")) as f:
                self.assertEqual(json.load(f), config.to_json())
            # The grid of every sample_every updates, not only the last one's.
            self.assertTrue(os.path.exists(os.path.join(workdir, "samples", "step_000003.png")))
            image = tf.io.decode_png(tf.io.read_file(
                os.path.join(workdir, "samples", "latest.png"))).numpy()
            # 3 held-out digits x (meta-init, random init) rows of real + sample blocks.
            self.assertGreater(image.shape[0], 6 * 28)
            events = tf.io.gfile.glob(os.path.join(workdir, "tensorboard", "events.*"))
            self.assertLen(events, 1)
            tags, logged = set(), {}
            for record in tf.compat.v1.train.summary_iterator(events[0]):
                for v in record.summary.value:
                    tags.add(v.tag)
                    if v.tag == "outer_lr/generator":
                        logged[record.step] = float(tf.make_ndarray(v.tensor))
            for tag in ("meta_loss/discriminator", "meta_loss/generator", "inner_loss/generator",
                        "grad_norm/discriminator", "meta_updates_per_sec", "samples/figure5"):
                self.assertIn(tag, tags)
            # lr(t) = outer_lr * (1 + cos(pi * t / steps)) / 2 after t meta-updates.
            expected = {t: 1e-3 * (1 + np.cos(np.pi * t / 6)) / 2 for t in range(1, 7)}
            self.assertEqual(sorted(logged), list(range(1, 7)))
            for t in expected:
                self.assertAlmostEqual(logged[t], expected[t], places=9)
            setup, _ = lib.load_run(workdir)
            self.assertEqual(int(setup.learner.outer["generator"].iterations.numpy()), 6)
            with self.assertRaisesRegex(ValueError, r"`steps`=8 \(the run has 6\)"):
                lib.check_workdir(dataclasses.replace(config, steps=8), workdir)
            kept = sorted(tf.io.gfile.glob(os.path.join(workdir, "checkpoints", "*.index")))
            self.assertEqual([os.path.basename(k) for k in kept],
                             ["ckpt-4.index", "ckpt-6.index"])
        with self.assertRaisesRegex(ValueError, "`outer_lr_schedule`='linear' is not one of"):
            tiny_config(outer_lr_schedule="linear")
        with self.assertRaisesRegex(ValueError, "`keep_checkpoints` must be an integer >= 1"):
            tiny_config(keep_checkpoints=0)

    def test_scratch_run_holds_the_random_initialization(self):
        config = tiny_config(algorithm="scratch", steps=10)
        with tempfile.TemporaryDirectory() as workdir:
            lib.run(config, workdir)
            setup, _ = lib.load_run(workdir)
            fresh = lib.build(config, (28, 28, 1))
            for a, b in zip(_weights(setup), _weights(fresh)):
                np.testing.assert_array_equal(a, b)
            self.assertTrue(os.path.exists(os.path.join(workdir, "samples", "latest.png")))

    def test_a_run_of_zero_steps_draws_the_initializations_grid(self):
        config = tiny_config(algorithm="fomaml", steps=0, grid_steps=(1,))
        with tempfile.TemporaryDirectory() as workdir:
            result = lib.run(config, workdir)
            self.assertEqual((result.step, result.interrupted), (0, False))
            self.assertTrue(result.checkpoint.endswith("ckpt-0"), result.checkpoint)
            for name in ("latest.png", "step_000000.png"):
                self.assertTrue(os.path.exists(os.path.join(workdir, "samples", name)), name)


class SampleGridTest(parameterized.TestCase):

    def test_grid_steps_choose_the_columns_and_can_change_on_resume(self):
        config = tiny_config(algorithm="scratch", grid_steps=(1, 3))
        with tempfile.TemporaryDirectory() as workdir:
            lib.run(config, workdir)
            with open(os.path.join(workdir, "config.json")) as f:
                self.assertEqual(json.load(f)["grid_steps"], [1, 3])
            self.assertEqual(lib.read_config(workdir), config)   # the JSON list reads back
            lib.check_workdir(dataclasses.replace(config, grid_steps=(2, 40)), workdir)
            image = tf.io.decode_png(tf.io.read_file(
                os.path.join(workdir, "samples", "latest.png"))).numpy()
        # Columns support, prior, 1 step, 3 steps; each 2 samples of 28 px at scale 2, gap 6,
        # after a 150 px label margin.
        self.assertEqual(image.shape[1], 150 + 4 * (2 * 28 * 2 + 6))

    def test_each_class_adapts_on_its_support_set_as_evaluate_does(self):
        config = tiny_config(algorithm="fomaml")
        splits = lib.load_data(config)
        test = splits.test
        setup = lib.build(config, test.image_shape)
        random_setup = lib.build(dataclasses.replace(config, algorithm="scratch"),
                                 test.image_shape, seed=1)
        blocks, rows, columns = lib.sample_grid(setup, random_setup, test, [2], samples=3,
                                                seed=5, steps=(1, 3))
        self.assertEqual(columns, ["support", "prior", "1 step", "3 steps"])
        self.assertEqual(rows, ["9: meta-init", "9: random init"])
        # 32 shots (evaluate's --support), every step on batch_size = 8 of them.
        shots = support_set(test, 2, 0, 32, 5)
        np.testing.assert_array_equal(blocks[0][0], shots[:3].numpy())
        batches = step_batches(shots, 3, 8, tf.constant([5, 2], tf.int32))
        z = tf.random.stateless_normal([3, config.latent_dim], [5, 99])
        for row, s in ((0, setup), (1, random_setup)):
            traj = lib.adaptation_trajectory(s, lib.params_of(s), batches, [5, 2], 3)
            for column, k in ((1, 0), (2, 1), (3, 3)):
                want = generate(s.generator, traj[k]["generator"], z).numpy()
                np.testing.assert_allclose(blocks[row][column], want, atol=1e-6)
        self.assertGreater(np.abs(blocks[0][3] - blocks[0][1]).max(), 1e-3)   # it adapted


    def test_the_grid_adapts_at_the_rate_the_run_adapts_with(self):
        """Both rows of a run's grid adapt as trainers.evaluate does: at `adapt_lr_scale`
        times the inner rates (the drawn PNG equals the grid of those setups, not x1's)."""
        config = tiny_config(algorithm="fomaml", steps=0, grid_steps=(3,), inner_lr=2e-2,
                             layer_scales=True, adapt_lr_scale=0.5)
        test = lib.load_data(config).test
        setup = lib.build(config, test.image_shape)
        random_setup = lib.build(dataclasses.replace(config, algorithm="scratch"),
                                 test.image_shape, seed=config.seed + 1)

        def image(meta, rand):
            blocks, rows, cols = lib.sample_grid(meta, rand, test, lib.grid_classes(test),
                                                 samples=2, seed=config.seed, steps=(3,))
            return lib.grid_image(blocks, rows, cols)

        with tempfile.TemporaryDirectory() as workdir:
            lib.run(config, workdir)
            drawn = tf.io.decode_png(tf.io.read_file(
                os.path.join(workdir, "samples", "latest.png"))).numpy()
        np.testing.assert_array_equal(drawn, image(lib.adapting(setup),
                                                   lib.adapting(random_setup)))
        self.assertGreater(np.abs(drawn.astype(int) - image(setup, random_setup)).max(), 8)

    @parameterized.parameters(("fomaml", True, None), ("reptile", False, None),
                              ("reptile", False, 0.5), ("fomaml", False, 2.0))
    def test_adapting_a_setup_equals_building_it_at_the_scaled_rates(self, algorithm, scales,
                                                                     d_scale):
        # d_scale: the discriminator's own scale (None: adapt_lr_scale's); with adapt_lr_scale
        # 1 the generator keeps the run's own optimizer.
        config = tiny_config(algorithm=algorithm, layer_scales=scales, inner_lr=2e-2,
                             discriminator_inner_lr=5e-3, discriminator_adapt_lr_scale=d_scale,
                             adapt_lr_scale=1.0 if d_scale == 2.0 else 0.25)
        splits = lib.load_data(config)
        setup = lib.build(config, splits.train.image_shape)
        rebuilt = lib.build(config.adapting(), splits.train.image_shape)
        plain = lib.build(tiny_config(algorithm=algorithm), splits.train.image_shape)
        self.assertIs(lib.adapting(plain), plain)   # x1: the run's own optimizers
        images = splits.test.class_batches(1, 0, 4, 8)
        start = lib.params_of(setup)
        got = lib.adaptation_trajectory(lib.adapting(setup), start, images, [3, 4], 4)[-1]
        want = lib.adaptation_trajectory(rebuilt, start, images, [3, 4], 4)[-1]
        own = lib.adaptation_trajectory(setup, start, images, [3, 4], 4)[-1]
        self.assertEqual(lib.adapting(setup).config, config.adapting())
        for player in ("generator", "discriminator"):
            for a, b, c in zip(got[player], want[player], own[player]):   # float32 rounding
                np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-5)
            if config.adapt_scales()[player] == 1:   # the generator alone, adapting as trained
                self.assertIs(lib.adapting(setup).inner[player], setup.inner[player])
                continue
            self.assertGreater(max(float(tf.reduce_max(tf.abs(a - c)))
                                   for a, c in zip(got[player], own[player])), 1e-4)


class AdaptedParamsTest(parameterized.TestCase):

    @parameterized.parameters("fomaml", "metasgd", "reptile")
    def test_loop_equals_the_trajectorys_end_with_a_graph_flat_in_steps(self, algorithm):
        config = tiny_config(algorithm=algorithm)
        splits = lib.load_data(config)
        setup = lib.build(config, splits.train.image_shape)
        images = splits.test.class_batches(1, 0, 12, 8)
        start = lib.params_of(setup)

        @tf.function
        def adapted(images, steps):
            return lib.adapted_params(setup, start, images, [3, 4], steps)

        got = adapted(images[:5], 5)
        want = lib.adaptation_trajectory(setup, start, images[:5], [3, 4], 5)[-1]
        for player in ("generator", "discriminator"):
            for a, b, s in zip(got[player], want[player], start[player]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, rtol=1e-5)
            moved = max(float(tf.reduce_max(tf.abs(a - s))) for a, s in zip(got[player],
                                                                             start[player]))
            self.assertGreater(moved, 1e-4)
        nodes = [len(adapted.get_concrete_function(images[:k], k).graph.as_graph_def().node)
                 for k in (2, 12)]
        self.assertEqual(nodes[0], nodes[1])


class InnerLearningRateTest(parameterized.TestCase):

    def test_discriminator_inner_lr_scales_only_the_discriminator_step(self):
        # One SGD step from the same parameters on the same images: the generator moves
        # alike, the discriminator 3x as far with --discriminator_inner_lr = 3 * --inner_lr.
        images = tf.random.stateless_uniform([1, 8, 28, 28, 1], [5, 6], -1.0, 1.0)
        moves = []
        for d_lr in (None, 3e-3):
            config = tiny_config(algorithm="fomaml", inner_optimizer="sgd", inner_lr=1e-3,
                                 discriminator_inner_lr=d_lr)
            self.assertEqual(config.inner_lrs(), {"generator": 1e-3,
                                                  "discriminator": d_lr or 1e-3})
            setup = lib.build(config, (28, 28, 1))
            start = lib.params_of(setup)
            traj = lib.adaptation_trajectory(setup, start, images, [1, 2], 1)
            moves.append({p: np.concatenate([(b - a).numpy().ravel() for a, b in
                                             zip(start[p], traj[1][p])]) for p in start})
        self.assertGreater(np.abs(moves[0]["discriminator"]).max(), 1e-4)   # >> atol below
        np.testing.assert_allclose(moves[1]["generator"], moves[0]["generator"], rtol=1e-6)
        np.testing.assert_allclose(moves[1]["discriminator"], 3.0 * moves[0]["discriminator"],
                                   rtol=1e-4, atol=1e-7)   # float32 rounding of b - a

    def test_reptile_takes_figrs_plain_sgd_inner_steps_with_inner_optimizer_sgd(self):
        # FIGR's code adapts both players with optim.SGD: twice the rate, twice the move; the
        # presets' Adam (beta1 0.5) moves every weight by about the rate whatever its gradient.
        images = tf.random.stateless_uniform([1, 8, 28, 28, 1], [5, 6], -1.0, 1.0)
        moves = []
        for optimizer, lr in (("sgd", 1e-3), ("sgd", 2e-3), ("adam", 1e-3)):
            setup = lib.build(tiny_config(algorithm="reptile", inner_optimizer=optimizer,
                                          inner_lr=lr), (28, 28, 1))
            start = lib.params_of(setup)
            traj = lib.adaptation_trajectory(setup, start, images, [1, 2], 1)
            moves.append({p: np.concatenate([(b - a).numpy().ravel() for a, b in
                                             zip(start[p], traj[1][p])]) for p in start})
        for player in ("generator", "discriminator"):
            np.testing.assert_allclose(moves[1][player], 2.0 * moves[0][player], rtol=1e-4,
                                       atol=1e-7)   # float32 rounding of b - a
            sizes = np.abs(moves[0][player])
            self.assertGreater(sizes.max() / np.median(sizes[sizes > 0]), 5.0)   # as g varies
            adam = np.abs(moves[2][player])
            self.assertLess(np.percentile(adam[adam > 0], 90), 1.5e-3)          # about +-lr

    @parameterized.parameters(
        ("rmsprop", None, lambda lr: lib_inner.rmsprop(lr, epsilon=1e-3)),
        ("adam", None, lambda lr: lib_inner.adam(lr, beta_1=0.5, epsilon=1e-3)),
        ("adam", 0.9, lambda lr: lib_inner.adam(lr, beta_1=0.9, epsilon=1e-3)),
        ("sgd", None, lambda lr: lib_inner.sgd(lr)))
    def test_reptile_adapts_with_the_inner_optimizer_it_names(self, name, beta_1, want):
        # Three steps: Adam's beta_1 shows from its second step (its first is sign-like).
        images = tf.random.stateless_uniform([3, 8, 28, 28, 1], [5, 6], -1.0, 1.0)
        setup = lib.build(tiny_config(algorithm="reptile", inner_optimizer=name, inner_lr=2e-3,
                                      inner_epsilon=1e-3, inner_beta_1=beta_1), (28, 28, 1))
        start = lib.params_of(setup)
        got = lib.adaptation_trajectory(setup, start, images, [1, 2], 3)[-1]
        ref = lib.adaptation_trajectory(setup, start, images, [1, 2], 3,
                                        inner={p: want(2e-3) for p in start})[-1]
        other = lib.adaptation_trajectory(
            setup, start, images, [1, 2], 3,
            inner={p: lib_inner.adam(2e-3, beta_1=1.4 - (beta_1 or 0.5), epsilon=1e-3)
                   for p in start})[-1]
        for p in start:
            for a, b in zip(got[p], ref[p]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
            self.assertGreater(max(float(tf.reduce_max(tf.abs(a - c)))
                                   for a, c in zip(got[p], other[p])), 1e-5)

    def test_a_reptile_run_from_before_inner_beta_1_reads_as_the_adam_it_adapted_with(self):
        with tempfile.TemporaryDirectory() as workdir:
            for stored, want in ((dict(algorithm="reptile", inner_optimizer="rmsprop"), "adam"),
                                 (dict(algorithm="reptile", inner_optimizer="sgd"), "sgd"),
                                 (dict(algorithm="fomaml", inner_optimizer="rmsprop"), "rmsprop")):
                old = {k: v for k, v in tiny_config(**stored).to_json().items()
                       if k != "inner_beta_1"}
                with open(os.path.join(workdir, "config.json"), "w") as f:
                    json.dump(old, f)
                self.assertEqual(lib.read_config(workdir).inner_optimizer, want)
                self.assertEqual(lib.stored_settings(workdir)["inner_optimizer"], want)
                lib.check_workdir(tiny_config(**dict(stored, inner_optimizer=want)), workdir)
            # A run of this version says what it means: reptile with rmsprop stays rmsprop.
            new = tiny_config(algorithm="reptile", inner_optimizer="rmsprop")
            lib.write_config(new, workdir)
            self.assertEqual(lib.read_config(workdir), new)
            with self.assertRaisesRegex(ValueError, r"`inner_optimizer`='adam' \(the run has "
                                                    r"'rmsprop'\)"):
                lib.check_workdir(dataclasses.replace(new, inner_optimizer="adam"), workdir)

    def test_inner_epsilon_floors_the_rmsprop_step_of_tiny_gradients(self):
        # First RMSprop step from v = 0 on a gradient g: lr g / (sqrt(0.1) |g| + eps). For
        # g = 1e-6 that is ~3.16 lr at eps 1e-7 (a step function of tiny gradients) and
        # ~1e-3 lr at eps 1e-3; a large gradient (1.0) moves ~3.16 lr under both.
        moves = {}
        for eps in (1e-7, 1e-3):
            setup = lib.build(tiny_config(inner_lr=1e-2, inner_epsilon=eps), (28, 28, 1))
            inner = setup.inner["generator"]
            params = [tf.zeros([2])]
            new, _ = inner.update([tf.constant([1e-6, 1.0])], inner.init(params), params)
            moves[eps] = -new[0].numpy() / 1e-2
        np.testing.assert_allclose(moves[1e-7], [1e-6 / (0.1 ** 0.5 * 1e-6 + 1e-7),
                                                 1 / (0.1 ** 0.5 + 1e-7)], rtol=1e-5)
        np.testing.assert_allclose(moves[1e-3], [1e-6 / (0.1 ** 0.5 * 1e-6 + 1e-3),
                                                 1 / (0.1 ** 0.5 + 1e-3)], rtol=1e-5)
        self.assertLess(moves[1e-3][0], 1e-2 * moves[1e-7][0])

    def test_metasgd_rates_are_checkpointed_meta_variables_of_both_players(self):
        setup = lib.build(tiny_config(algorithm="metasgd", inner_steps=1, loss="minimax"),
                          (28, 28, 1))
        for p, model in (("generator", setup.generator),
                         ("discriminator", setup.discriminator)):
            rates = getattr(setup.checkpoint, f"{p}_learning_rates")
            n = len(model.trainable_variables)
            self.assertEqual([id(v) for v in setup.learner.targets[p][n:]],
                             [id(v) for v in rates])
            self.assertLen(rates, n)

    def test_layer_scales_are_trained_checkpointed_and_restored(self):
        # The recipe's loss: under WGAN-GP the critic's output bias has no gradient, no step
        # and so no scale gradient.
        config = tiny_config(algorithm="fomaml", loss="non-saturating", layer_scales=True,
                             steps=3)
        with tempfile.TemporaryDirectory() as workdir:
            lib.run(config, workdir)
            setup, _ = lib.load_run(workdir)
            for p, model in (("generator", setup.generator),
                             ("discriminator", setup.discriminator)):
                scales = getattr(setup.checkpoint, f"{p}_layer_scales")
                n = len(model.trainable_variables)
                self.assertLen(scales, n)
                self.assertEqual([id(v) for v in setup.inner[p].variables],
                                 [id(v) for v in scales])
                values = np.array([float(s.numpy()) for s in scales])
                # Restored from the checkpoint, moved from 1 by the three outer RMSprop steps
                # (each about the outer rate, 1e-3, times a few).
                self.assertGreater(np.abs(values - 1.0).min(), 1e-4, f"{p}: {values}")
                self.assertLess(np.abs(values - 1.0).max(), 0.05, f"{p}: {values}")
        self.assertIsNone(getattr(lib.build(tiny_config(algorithm="scratch", layer_scales=True),
                                            (28, 28, 1)).checkpoint, "generator_layer_scales",
                                  None))

    def test_outer_epsilon_lets_tiny_meta_gradients_move_the_metasgd_rates(self):
        # A learned rate's meta-gradient is a product of two gradients: ~1e-9 per entry of the
        # DCGAN's kernels (docs/results/metasgd_gan.md). Keras's RMSprop adds epsilon inside
        # the square root: at 1e-7 the first step is lr * 1e-9 / sqrt(1e-19 + 1e-7), 3e-6 of
        # lr; at 1e-14 it is lr * 1e-9 / sqrt(1e-19 + 1e-14) = 0.01 lr, as PyTorch's
        # lr * 1e-9 / (sqrt(1e-19) + 1e-7) = 0.01 lr.
        moves = {}
        for eps in (1e-7, 1e-14):
            setup = lib.build(tiny_config(algorithm="metasgd", inner_steps=1, loss="minimax",
                                          outer_epsilon=eps), (28, 28, 1))
            learner = setup.learner
            before = {p: [v.numpy().copy() for v in learner.targets[p]] for p in learner.players}
            n = {p: len(learner.model_variables[p]) for p in learner.players}
            grads = {p: [tf.zeros_like(v) if i < n[p] else tf.fill(v.shape, 1e-9)
                         for i, v in enumerate(learner.targets[p])] for p in learner.players}
            learner.apply_gradients(grads, {})
            lr = setup.config.outer_lr
            moves[eps] = {p: min(float(np.min(b - v.numpy())) / lr
                                 for b, v in zip(before[p][n[p]:], learner.targets[p][n[p]:]))
                          for p in learner.players}
        for p in ("generator", "discriminator"):
            self.assertLess(moves[1e-7][p], 1e-5, p)
            np.testing.assert_allclose(moves[1e-14][p], 1e-2, rtol=1e-3, err_msg=p)

    def test_discriminator_outer_lr_scales_only_the_discriminators_outer_step(self):
        # The same meta-gradient applied once: RMSprop's first step is lr * g / sqrt(0.1 g^2 +
        # eps), so the generator moves alike and the discriminator a quarter as far at lr / 4.
        moves = []
        for d_lr in (None, 5e-4):
            config = tiny_config(outer_lr=2e-3, discriminator_outer_lr=d_lr)
            self.assertEqual(config.outer_lrs(), {"generator": 2e-3,
                                                  "discriminator": d_lr or 2e-3})
            learner = lib.build(config, (28, 28, 1)).learner
            before = {p: [v.numpy().copy() for v in learner.targets[p]] for p in learner.players}
            learner.apply_gradients({p: [tf.fill(v.shape, 0.5) for v in learner.targets[p]]
                                     for p in learner.players}, {})
            moves.append({p: np.concatenate([(b - v.numpy()).ravel() for b, v in
                                             zip(before[p], learner.targets[p])])
                          for p in learner.players})
        self.assertGreater(np.abs(moves[0]["discriminator"]).min(), 1e-3)
        np.testing.assert_allclose(moves[1]["generator"], moves[0]["generator"], rtol=1e-5)
        np.testing.assert_allclose(moves[1]["discriminator"], moves[0]["discriminator"] / 4,
                                   rtol=1e-3)

    def test_reptile_outer_adam_steps_the_figr_codes_adam_on_reptiles_direction(self):
        # One real meta-update from the same init on the same tasks: outer SGD at step size 1
        # moves the init by mean(adapted - init) = -g, so g is read off it; outer Adam's
        # first step on g is lr_t m / (sqrt(v) + eps), m = 0.1 g, v = 0.001 g^2,
        # lr_t = lr sqrt(0.001) / 0.1 (Keras), the discriminator's at its own lr.
        moves = {}
        for outer in ("sgd", "adam"):
            config = tiny_config(algorithm="reptile", reptile_outer=outer, reptile_step_size=1.0,
                                 outer_lr=2e-3, discriminator_outer_lr=(5e-4 if outer == "adam"
                                                                        else None))
            splits = lib.load_data(config)
            setup = lib.build(config, splits.train.image_shape)
            tasks = MetaBatchSampler(splits.train, tasks=2, inner_steps=config.inner_steps,
                                     batch_size=8, seed=0)(0)
            before = _weights(setup)
            setup.learner.train_step(tasks)
            moves[outer] = np.concatenate([(a - b).ravel()
                                           for a, b in zip(_weights(setup), before)])
            sizes = [v.numpy().size for v in setup.generator.trainable_variables]
        g = -moves["sgd"]
        lrs = np.full(g.shape, 5e-4)
        lrs[:sum(sizes)] = 2e-3
        want = -lrs * np.sqrt(1e-3) / 0.1 * (0.1 * g) / (np.sqrt(1e-3 * g * g) + 1e-7)
        big = np.abs(g) > 1e-4   # float32 rounding of a - b elsewhere
        self.assertGreater(big.mean(), 0.5)
        np.testing.assert_allclose(moves["adam"][big], want[big], rtol=2e-3)
        self.assertLess(np.abs(moves["adam"]).max(), 2e-3 * 1.001)   # about lr per weight

    def test_discriminator_meta_steps_hold_the_discriminator_after_that_many_updates(self):
        # Real meta-updates of a plain run, whose checkpoint is resumed with the discriminator
        # held after 1: it moved in the first update and not in the second; the generator's
        # initialization moved in both, and its outer state came back from the checkpoint.
        splits = lib.load_data(tiny_config())
        sampler = MetaBatchSampler(splits.train, tasks=2, inner_steps=1, batch_size=8, seed=0)
        plain = lib.build(tiny_config(inner_steps=1), splits.train.image_shape)
        players = plain.learner.players

        def weights(setup):
            return {p: [v.numpy().copy() for v in setup.learner.targets[p]] for p in players}

        def moved(a, b, player):
            return max(float(np.abs(x - y).max()) for x, y in zip(a[player], b[player]))
        snapshots = [weights(plain)]
        plain.learner.train_step(sampler(0))
        snapshots.append(weights(plain))
        config = tiny_config(inner_steps=1, discriminator_meta_steps=1)
        with tempfile.TemporaryDirectory() as workdir:
            path = plain.checkpoint.save(os.path.join(workdir, "ckpt"))
            held = lib.build(config, splits.train.image_shape)
            held.checkpoint.restore(path).assert_existing_objects_matched()
            lib.write_config(tiny_config(inner_steps=1), workdir)
            lib.check_workdir(config, workdir)   # resumable: it may change
        self.assertEqual(moved(snapshots[1], weights(held), "generator"), 0.0)
        self.assertEqual(int(held.learner.outer["discriminator"].iterations), 1)
        held.learner.train_step(sampler(1))
        snapshots.append(weights(held))
        self.assertGreater(moved(snapshots[0], snapshots[1], "discriminator"), 1e-5)
        self.assertEqual(moved(snapshots[1], snapshots[2], "discriminator"), 0.0)
        for a, b in zip(snapshots, snapshots[1:]):
            self.assertGreater(moved(a, b, "generator"), 1e-5)
        self.assertEqual(held.learner.learning_rates()["discriminator"], 0.0)
        self.assertAlmostEqual(held.learner.learning_rates()["generator"], config.outer_lr)

    def test_discriminator_loss_floor_holds_the_discriminator_while_its_average_is_below(self):
        # Real meta-updates from one init on the same tasks: a floor no average reaches leaves
        # the run as it is without one, to the bit; a floor above every average holds the
        # discriminator from the second update (the first has no average yet) while the
        # generator moves on. The average is the 0.99-weighted one of the reported meta-losses,
        # and it is in the checkpoint with the count of updates held.
        kw = dict(algorithm="maml", loss="non-saturating", inner_steps=1)
        splits = lib.load_data(tiny_config())
        sampler = MetaBatchSampler(splits.train, tasks=2, inner_steps=1, batch_size=8, seed=0)
        runs, losses = {}, []
        for name, floor in (("plain", None), ("low", 1e-6), ("high", 100.0)):
            setup = lib.build(tiny_config(**kw, discriminator_loss_floor=floor),
                              splits.train.image_shape)
            runs[name] = [_weights(setup)]
            for i in range(3):
                metrics = setup.learner.train_step(sampler(i))
                runs[name].append(_weights(setup))
                if name == "high":
                    losses.append(float(metrics["meta_loss/discriminator"]))
            if name == "high":
                high, average = setup, float(metrics["meta_loss_average/discriminator"])
        n = len(high.generator.trainable_variables)   # generator's weights first

        def moved(a, b, players=slice(None)):
            return max(float(np.abs(x - y).max()) for x, y in zip(a[players], b[players]))
        for a, b in zip(runs["plain"], runs["low"]):
            self.assertEqual(moved(a, b), 0.0)
        self.assertEqual(moved(runs["plain"][1], runs["high"][1]), 0.0)
        for a, b in zip(runs["high"][1:], runs["high"][2:]):
            self.assertEqual(moved(a, b, slice(n, None)), 0.0)
            self.assertGreater(moved(a, b, slice(None, n)), 1e-5)
        self.assertGreater(moved(runs["plain"][2], runs["plain"][3], slice(n, None)), 1e-5)
        want = 0.99 * (0.99 * losses[0] + 0.01 * losses[1]) + 0.01 * losses[2]
        self.assertAlmostEqual(average, want, places=5)
        self.assertEqual(high.learner.learning_rates()["discriminator"], 0.0)
        config = tiny_config(**kw, discriminator_loss_floor=100.0)
        with tempfile.TemporaryDirectory() as workdir:
            path = high.checkpoint.save(os.path.join(workdir, "ckpt"))
            again = lib.build(config, splits.train.image_shape)
            again.checkpoint.restore(path).assert_existing_objects_matched()
            floor = again.learner.floor
            self.assertEqual((int(floor.observed), int(floor.held)), (3, 2))
            self.assertAlmostEqual(float(floor.average), want, places=5)
            lib.write_config(config, workdir)
            with self.assertRaisesRegex(ValueError, r"`discriminator_loss_floor`=0\.35 \(the "
                                        r"run has 100\.0\)"):
                lib.check_workdir(dataclasses.replace(config, discriminator_loss_floor=0.35),
                                  workdir)

    def test_first_order_steps_take_fomamls_meta_gradient_then_mamls(self):
        # Derivative-order annealing: the first update is fomaml's to the bit, the second
        # (from the same weights and outer state) departs from fomaml's by about an outer step.
        kw = dict(algorithm="maml", loss="non-saturating", inner_steps=1, inner_lr=4e-3)
        splits = lib.load_data(tiny_config())
        tasks = MetaBatchSampler(splits.train, tasks=2, inner_steps=1, batch_size=8, seed=0)(0)
        runs = {}
        for name, overrides in (("annealed", dict(first_order_steps=1)),
                                ("fomaml", dict(algorithm="fomaml")), ("maml", {})):
            setup = lib.build(tiny_config(**dict(kw, **overrides)), splits.train.image_shape)
            runs[name] = [(setup.learner.train_step(tasks), _weights(setup))[1]
                          for _ in range(2)]

        self.assertEqual(_gap(runs["annealed"][0], runs["fomaml"][0]), 0.0)
        self.assertGreater(_gap(runs["annealed"][0], runs["maml"][0]), 1e-4)
        self.assertGreater(_gap(runs["annealed"][1], runs["fomaml"][1]), 1e-4)

    def test_a_resumed_run_moves_its_switch_to_second_order(self):
        # A run made with first_order_steps=3 is checkpointed after one (first-order) update and
        # resumed with the switch at 1: its next update is maml's from the same checkpoint to
        # the bit; kept at 3 it is fomaml's. The step counter comes back from the checkpoint.
        kw = dict(algorithm="maml", loss="non-saturating", inner_steps=1, inner_lr=4e-3)
        splits = lib.load_data(tiny_config())
        sampler = MetaBatchSampler(splits.train, tasks=2, inner_steps=1, batch_size=8, seed=0)
        made = lib.build(tiny_config(first_order_steps=3, **kw), splits.train.image_shape)
        made.learner.train_step(sampler(0))
        after = {}
        with tempfile.TemporaryDirectory() as workdir:
            path = made.checkpoint.save(os.path.join(workdir, "ckpt"))
            lib.write_config(made.config, workdir)
            for name, overrides in (("moved", dict(first_order_steps=1)),
                                    ("kept", dict(first_order_steps=3)),
                                    ("maml", {}), ("fomaml", dict(algorithm="fomaml"))):
                config = tiny_config(**dict(kw, **overrides))
                if name == "moved":
                    lib.check_workdir(config, workdir)   # resumable: it may change
                setup = lib.build(config, splits.train.image_shape)
                setup.checkpoint.restore(path).assert_existing_objects_matched()
                self.assertEqual(int(setup.learner.step.numpy()), 1)
                setup.learner.train_step(sampler(1))
                after[name] = _weights(setup)

        self.assertEqual(_gap(after["moved"], after["maml"]), 0.0)
        self.assertEqual(_gap(after["kept"], after["fomaml"]), 0.0)
        self.assertGreater(_gap(after["moved"], after["kept"]), 1e-4)
        self.assertIn("first_order_steps", lib.RESUMABLE_FIELDS)

    def test_one_players_meta_gradient_first_order(self):
        # first_order_player: that player's update is fomaml's, the other's maml's (the fakes
        # detached, as the CPU preset's maml has them). A resumed run may change it.
        kw = dict(algorithm="maml", loss="non-saturating", inner_steps=2, inner_lr=4e-3,
                  detach_fakes=True)
        splits = lib.load_data(tiny_config())
        tasks = MetaBatchSampler(splits.train, tasks=2, inner_steps=2, batch_size=8, seed=0)(0)
        after = {}
        for name, overrides in (("discriminator", dict(first_order_player="discriminator")),
                                ("generator", dict(first_order_player="generator")),
                                ("maml", {}), ("fomaml", dict(algorithm="fomaml"))):
            setup = lib.build(tiny_config(**dict(kw, **overrides)), splits.train.image_shape)
            setup.learner.train_step(tasks)
            n = len(setup.generator.trainable_variables)
            weights = _weights(setup)
            after[name] = {"generator": weights[:n], "discriminator": weights[n:]}
        for first, second in (("discriminator", "generator"), ("generator", "discriminator")):
            self.assertLess(_gap(after[first][first], after["fomaml"][first]), 1e-6, first)
            self.assertLess(_gap(after[first][second], after["maml"][second]), 1e-6, first)
            self.assertGreater(_gap(after["maml"][first], after["fomaml"][first]), 1e-4, first)
        self.assertIn("first_order_player", lib.RESUMABLE_FIELDS)

    def test_older_run_without_the_field_has_one_inner_lr(self):
        config = tiny_config()
        with tempfile.TemporaryDirectory() as workdir:
            lib.write_config(config, workdir)
            forget_setting(workdir, "discriminator_inner_lr")
            lib.check_workdir(config, workdir)   # accepted: the default is "same as inner_lr"
            with self.assertRaisesRegex(ValueError, r"`discriminator_inner_lr`=0\.002 \(the run "
                                        r"has None\)"):
                lib.check_workdir(tiny_config(discriminator_inner_lr=2e-3), workdir)


class MamlGanErrorsTest(parameterized.TestCase):

    @parameterized.parameters(
        (dict(algorithm="mamll"), "`algorithm`='mamll' is not one of"),
        (dict(inner_steps=0), "`inner_steps` must be an integer >= 1, got 0"),
        (dict(loss="hinge"), "`loss`='hinge' is not one of"),
        (dict(outer_lr=-1.0), "`outer_lr` must be a positive number"),
        (dict(discriminator_inner_lr=0.0), "`discriminator_inner_lr` must be a positive number"),
        (dict(discriminator_outer_lr=-1e-3), "`discriminator_outer_lr` must be a positive number"),
        (dict(algorithm="reptile", discriminator_outer_lr=1e-3),
         "`discriminator_outer_lr` applies to an outer optimizer with a learning rate .* "
         "not reptile's `reptile_step_size`"),
        (dict(algorithm="reptile", reptile_outer="rmsprop"),
         "`reptile_outer`='rmsprop' is not one of"),
        (dict(discriminator_meta_steps=-1),
         "`discriminator_meta_steps` must be an integer >= 0, got -1"),
        (dict(algorithm="reptile", discriminator_meta_steps=10),
         "`discriminator_meta_steps` applies to the outer RMSprop of maml, fomaml and metasgd, "
         "not `algorithm`=reptile"),
        (dict(loss="non-saturating", discriminator_loss_floor=0.0),
         "`discriminator_loss_floor` must be a positive number"),
        (dict(discriminator_loss_floor=0.35),
         "`discriminator_loss_floor` applies to the outer RMSprop of maml, fomaml and metasgd "
         "with a cross-entropy `loss` .* not `algorithm`=maml with `loss`=wgan-gp"),
        (dict(algorithm="reptile", loss="minimax", discriminator_loss_floor=0.35),
         "`discriminator_loss_floor` applies .* not `algorithm`=reptile with `loss`=minimax"),
        (dict(algorithm="metasgd", layer_scales=True),
         "`layer_scales` applies to maml and fomaml, not `algorithm`=metasgd"),
        (dict(algorithm="fomaml", first_order_steps=100),
         "`first_order_steps` .* applies to maml, not `algorithm`=fomaml"),
        (dict(algorithm="maml", first_order_steps=-1),
         "`first_order_steps` must be an integer >= 0, got -1"),
        (dict(inner_epsilon=0.0), "`inner_epsilon` must be a positive number"),
        (dict(inner_beta_1=1.0), r"`inner_beta_1` must be in \[0, 1\), got 1.0"),
        (dict(image_size=30), "`image_size` must be a multiple of 4"),
        (dict(grid_steps=(5, 1)), r"`grid_steps` must be increasing integers >= 1 .*\(5, 1\)"),
        (dict(grid_steps=(0, 5)), "`grid_steps` must be increasing integers >= 1"),
        (dict(grid_steps=()), "`grid_steps` must be increasing integers >= 1"),
        (dict(grid_steps=("1", "x")), r"`grid_steps` must be .*'x'"),
        (dict(spectral_norm=1), "`spectral_norm` must be true or false, got 1"),
        (dict(detach_fakes="yes"), "`detach_fakes` must be true or false, got 'yes'"),
        (dict(first_order_player="critic"), "`first_order_player`='critic' is not one of"),
        (dict(algorithm="fomaml", first_order_player="generator"),
         "`first_order_player` \\(the derivative order\\) applies to maml, not "
         "`algorithm`=fomaml"),
    )
    def test_bad_settings_name_the_field(self, overrides, message):
        with self.assertRaisesRegex(ValueError, message):
            tiny_config(**overrides)

    @parameterized.parameters(
        dict(algorithm="maml", first_order_steps=5, layer_scales=True,
             discriminator_outer_lr=1e-3),
        dict(algorithm="fomaml", layer_scales=True, discriminator_outer_lr=1e-3),
        dict(algorithm="metasgd", discriminator_outer_lr=1e-3),
        dict(algorithm="maml", loss="non-saturating", discriminator_loss_floor=0.35),
        dict(algorithm="reptile", inner_order="discriminator_first", inner_optimizer="sgd"),
        dict(algorithm="reptile", reptile_outer="adam", discriminator_outer_lr=1e-3),
    )
    def test_every_algorithms_own_settings_hold_for_its_random_init_grid_row(self, **own):
        # A run draws its grids' random-init rows from its own config as `scratch`: a
        # setting refused for scratch would stop every run that gives it.
        config = tiny_config(**own)
        scratch = dataclasses.replace(config, algorithm="scratch")
        self.assertEqual({k: getattr(scratch, k) for k in own if k != "algorithm"},
                         {k: v for k, v in own.items() if k != "algorithm"})

    @parameterized.named_parameters(
        ("wgan_gp", dict(algorithm="reptile", loss="wgan-gp"), r"learning rates\.$"),
        ("non_saturating", dict(algorithm="fomaml", loss="non-saturating"),
         r"learning rates or use `loss`=wgan-gp\.$"))
    def test_a_diverged_run_says_what_to_change_for_its_loss(self, own, hint):
        # Plain SGD at rate 1e6 blows the inner step up on the first update.
        config = tiny_config(inner_optimizer="sgd", inner_lr=1e6, steps=2, **own)
        with tempfile.TemporaryDirectory() as workdir:
            with self.assertRaisesRegex(Diverged, r"^meta-update 0 diverged .*" + hint):
                lib.run(config, workdir)

    def test_unknown_dataset_names_it(self):
        with self.assertRaisesRegex(ValueError, "mnsit"):
            lib.load_data(tiny_config(dataset="mnsit"))

    def test_batch_larger_than_a_class_names_the_field(self):
        # Larger than every MNIST class (6313 to 7877 images): the data the other tests loaded.
        config = tiny_config(batch_size=8000, steps=1)
        with tempfile.TemporaryDirectory() as workdir:
            with self.assertRaisesRegex(ValueError, "`batch_size`"):
                lib.run(config, workdir)
            self.assertFalse(os.path.exists(os.path.join(workdir, "checkpoints")))

    def test_incompatible_workdir_names_the_field(self):
        with tempfile.TemporaryDirectory() as workdir:
            lib.write_config(tiny_config(), workdir)
            lib.check_workdir(dataclasses.replace(tiny_config(), steps=99), workdir)  # fine
            with open(os.path.join(workdir, "config.json")) as f:
                older = json.load(f)
            del older["outer_lr_schedule"]  # a run written before the flag existed
            with open(os.path.join(workdir, "config.json"), "w") as f:
                json.dump(older, f)
            lib.check_workdir(tiny_config(), workdir)  # its default is assumed
            with self.assertRaisesRegex(ValueError, r"`outer_lr_schedule`='cosine' \(the run "
                                        r"has 'constant'\)"):
                lib.check_workdir(tiny_config(outer_lr_schedule="cosine"), workdir)
            with self.assertRaisesRegex(ValueError, r"`inner_lr`=0.5 \(the run has 0.001\)"):
                lib.check_workdir(tiny_config(inner_lr=0.5), workdir)

    def test_load_run_without_checkpoint_raises(self):
        with tempfile.TemporaryDirectory() as workdir:
            with self.assertRaisesRegex(FileNotFoundError, "no MAML-GAN run"):
                lib.load_run(workdir)
            lib.write_config(tiny_config(), workdir)
            with self.assertRaisesRegex(FileNotFoundError, "holds no checkpoint"):
                lib.load_run(workdir)


class PresetTest(parameterized.TestCase):

    def test_auto_is_cpu_without_a_gpu_and_paper_with_one(self):
        config, preset, how = lib.resolve("auto", {}, None, gpu=False)
        self.assertEqual((preset, how), ("cpu", "auto: no GPU visible"))
        self.assertEqual(config, lib.MamlGanConfig(**lib.PRESETS["cpu"].overrides))
        self.assertEqual((config.algorithm, config.steps, config.grid_steps),
                         ("fomaml", 960, (1, 5, 10, 40, 80)))
        config, preset, _ = lib.resolve("auto", {}, None, gpu=True)
        self.assertEqual((preset, config), ("paper", lib.MamlGanConfig()))

    def test_an_explicit_setting_wins_over_the_preset(self):
        config, preset, how = lib.resolve("cpu", {"inner_lr": 0.01, "steps": 5}, None, gpu=True)
        self.assertEqual((preset, how), ("cpu", "given"))
        self.assertEqual(config, lib.MamlGanConfig(**dict(lib.PRESETS["cpu"].overrides,
                                                          inner_lr=0.01, steps=5)))
        config, _, _ = lib.resolve("paper", {"algorithm": "metasgd"}, None, gpu=False)
        self.assertEqual((config.algorithm, config.inner_steps), ("metasgd", 1))
        with self.assertRaisesRegex(ValueError, r"`preset`='gpu' is not one of"):
            lib.resolve("gpu", {}, None, gpu=False)

    def test_the_cpu_discriminator_outer_rate_is_half_the_generators_unless_changed(self):
        def rates(**given):
            return lib.resolve("cpu", given, None, gpu=False)[0].outer_lrs()
        self.assertEqual(rates(), {"generator": 2e-3, "discriminator": 1e-3})
        self.assertEqual(rates(algorithm="maml"), {"generator": 2e-3, "discriminator": 1e-3})
        # Reptile has no outer RMSprop, and another generator rate is shared by both players
        # (the recipe before 2026-12-05: --outer_lr=2e-3 --discriminator_outer_lr=2e-3).
        self.assertEqual(rates(algorithm="reptile"), {"generator": 2e-3, "discriminator": 2e-3})
        self.assertEqual(rates(outer_lr=1e-3), {"generator": 1e-3, "discriminator": 1e-3})
        self.assertEqual(rates(outer_lr=1e-3, discriminator_outer_lr=5e-4),
                         {"generator": 1e-3, "discriminator": 5e-4})
        self.assertEqual(rates(discriminator_outer_lr=2e-3),
                         {"generator": 2e-3, "discriminator": 2e-3})
        with self.assertRaisesRegex(ValueError, "not reptile's `reptile_step_size`"):
            rates(algorithm="reptile", discriminator_outer_lr=1e-3)
        self.assertEqual(rates(algorithm="reptile", reptile_outer="adam",
                               discriminator_outer_lr=1e-3),
                         {"generator": 2e-3, "discriminator": 1e-3})
        self.assertIsNone(lib.resolve("paper", {}, None, gpu=False)[0].discriminator_outer_lr)

    def test_the_cpu_layer_scales_apply_to_maml_and_fomaml_only(self):
        def scales(**given):
            return lib.resolve("cpu", given, None, gpu=False)[0].layer_scales
        self.assertEqual([scales(), scales(algorithm="maml"), scales(algorithm="metasgd"),
                          scales(algorithm="reptile"), scales(layer_scales=False)],
                         [True, True, False, False, False])
        self.assertFalse(lib.resolve("paper", {}, None, gpu=False)[0].layer_scales)
        with self.assertRaisesRegex(ValueError, "not `algorithm`=reptile"):
            scales(algorithm="reptile", layer_scales=True)

    def test_the_cpu_preset_detaches_the_fakes_and_floors_second_orders_inner_epsilon(self):
        def settings(**given):
            config = lib.resolve("cpu", given, None, gpu=False)[0]
            return config.detach_fakes, config.inner_epsilon
        self.assertEqual(settings(), (True, 1e-7))
        self.assertEqual(settings(algorithm="maml"), (True, 1e-3))
        self.assertEqual(settings(algorithm="maml", inner_epsilon=1e-7, detach_fakes=False),
                         (False, 1e-7))
        paper = lib.resolve("paper", {"algorithm": "maml"}, None, gpu=False)[0]
        self.assertEqual((paper.detach_fakes, paper.inner_epsilon), (False, 1e-7))

    def test_the_cpu_preset_gives_figr_and_omniglot_their_recipes(self):
        def config(preset="cpu", **given):
            return lib.resolve(preset, given, None, gpu=False)[0]
        figr = config(algorithm="reptile")
        self.assertEqual((figr.loss, figr.inner_optimizer, figr.inner_lr, figr.inner_epsilon,
                          figr.inner_order, figr.reptile_step_size, figr.steps, figr.batch_size),
                         ("wgan-gp", "rmsprop", 4e-3, 1e-3, "discriminator_first", 0.25, 900, 32))
        self.assertEqual(figr.adapt_lr_scale, 1.0)
        # With the inner Adam (8e-3) FIGR adapts on MNIST at half the rate it meta-trains with.
        adam = config(algorithm="reptile", inner_optimizer="adam")
        self.assertEqual((adam.inner_lr, adam.inner_epsilon, adam.inner_kwargs("adam")["beta_1"]),
                         (8e-3, 1e-7, 0.5))
        self.assertEqual(adam.adapting().inner_lrs(), {"generator": 4e-3, "discriminator": 4e-3})
        self.assertEqual(config(dataset="omniglot", algorithm="reptile",
                                inner_optimizer="adam").adapt_lr_scale, 1.0)
        self.assertEqual(config(algorithm="reptile", adapt_lr_scale=0.75).adapt_lr_scale, 0.75)
        omniglot = config(dataset="omniglot")
        self.assertEqual((omniglot.algorithm, omniglot.loss, omniglot.batch_size,
                          omniglot.inner_epsilon, omniglot.outer_lr_schedule,
                          omniglot.outer_lrs(), omniglot.steps),
                         ("fomaml", "wgan-gp", 16, 1e-3, "constant",
                          {"generator": 2e-3, "discriminator": 5e-4}, 4500))
        # It meta-trains at 4e-3 and adapts at half that, for 10 steps, served too.
        self.assertEqual((omniglot.inner_lrs(), omniglot.adapting().inner_lrs(),
                          omniglot.served_steps()),
                         ({"generator": 4e-3, "discriminator": 4e-3},
                          {"generator": 2e-3, "discriminator": 2e-3}, 10))
        second = config(dataset="omniglot", algorithm="maml")
        self.assertEqual((second.loss, second.inner_epsilon, second.outer_lr_schedule,
                          second.outer_lrs(), second.steps, second.detach_fakes,
                          second.adapt_lr_scale),
                         ("non-saturating", 1e-3, "constant",
                          {"generator": 2e-3, "discriminator": 5e-4}, 3600, True, 1.0))
        omniglot_figr = config(dataset="omniglot", algorithm="reptile")
        self.assertEqual((omniglot_figr.loss, omniglot_figr.batch_size,
                          omniglot_figr.inner_optimizer, omniglot_figr.inner_lr,
                          omniglot_figr.inner_epsilon, omniglot_figr.steps),
                         ("wgan-gp", 16, "rmsprop", 4e-3, 1e-3, 1800))
        # Its discriminator meta-trains at half the generator's rate and adapts at half that;
        # it meta-trains with 20 inner steps, at paper 000's widths 64.
        self.assertEqual((omniglot_figr.inner_lrs(), omniglot_figr.adapting().inner_lrs(),
                          omniglot_figr.inner_steps, omniglot_figr.generator_width,
                          omniglot_figr.discriminator_width),
                         ({"generator": 4e-3, "discriminator": 2e-3},
                          {"generator": 4e-3, "discriminator": 1e-3}, 20, 64, 64))
        omniglot_adam = config(dataset="omniglot", algorithm="reptile", inner_optimizer="adam")
        self.assertEqual((omniglot_adam.inner_steps, omniglot_adam.generator_width), (10, 32))
        self.assertEqual((figr.inner_lrs(), figr.inner_steps, figr.generator_width),   # MNIST
                         ({"generator": 4e-3, "discriminator": 4e-3}, 10, 32))
        self.assertEqual(config(dataset="omniglot", algorithm="reptile",
                                generator_width=32).generator_width, 32)
        # The paper preset's FIGR adapts with Adam, as the project's peer does.
        self.assertEqual(config("paper", algorithm="reptile").inner_optimizer, "adam")
        asked = config(dataset="omniglot", algorithm="reptile", inner_optimizer="adam")
        self.assertEqual((asked.inner_optimizer, asked.inner_lrs(), asked.adapt_scales()),
                         ("adam", {"generator": 8e-3, "discriminator": 8e-3},
                          {"generator": 1.0, "discriminator": 1.0}))
        # Given flags win; another generator rate is shared again, as on MNIST.
        mine = config(dataset="omniglot", loss="non-saturating", batch_size=8, outer_lr=1e-3)
        self.assertEqual((mine.loss, mine.batch_size, mine.outer_lrs()),
                         ("non-saturating", 8, {"generator": 1e-3, "discriminator": 1e-3}))
        # MNIST's recipe is untouched; the paper preset only lowers Omniglot's batch.
        self.assertEqual(config(), lib.MamlGanConfig(**lib.PRESETS["cpu"].overrides))
        self.assertEqual(config("paper", dataset="omniglot"),
                         lib.MamlGanConfig(dataset="omniglot", batch_size=16))

    def test_adapting_scales_both_inner_rates_once_and_refuses_metasgd(self):
        config = lib.MamlGanConfig(inner_lr=4e-3, discriminator_inner_lr=1e-3, adapt_lr_scale=0.5)
        adapting = config.adapting()
        self.assertEqual(adapting.inner_lrs(), {"generator": 2e-3, "discriminator": 5e-4})
        self.assertEqual(adapting.adapting(), adapting)
        self.assertEqual(lib.MamlGanConfig().adapting(), lib.MamlGanConfig())
        self.assertIn("adapt_lr_scale", lib.RESUMABLE_FIELDS)
        with self.assertRaisesRegex(ValueError, r"`adapt_lr_scale`=0.5: metasgd adapts with "):
            lib.MamlGanConfig(algorithm="metasgd", adapt_lr_scale=0.5)
        with self.assertRaisesRegex(ValueError, "adapt_lr_scale"):
            lib.MamlGanConfig(adapt_lr_scale=0.0)

    def test_the_discriminator_may_adapt_at_its_own_scale(self):
        config = lib.MamlGanConfig(inner_lr=4e-3, discriminator_inner_lr=2e-3,
                                   discriminator_adapt_lr_scale=0.5)
        self.assertEqual(config.adapt_scales(), {"generator": 1.0, "discriminator": 0.5})
        adapting = config.adapting()
        self.assertEqual(adapting.inner_lrs(), {"generator": 4e-3, "discriminator": 1e-3})
        self.assertEqual((adapting.adapt_scales(), adapting.adapting()),
                         ({"generator": 1.0, "discriminator": 1.0}, adapting))
        both = dataclasses.replace(config, adapt_lr_scale=0.5, discriminator_adapt_lr_scale=None)
        self.assertEqual(both.adapting().inner_lrs(), {"generator": 2e-3, "discriminator": 1e-3})
        self.assertIn("discriminator_adapt_lr_scale", lib.RESUMABLE_FIELDS)
        with self.assertRaisesRegex(ValueError, r"`discriminator_adapt_lr_scale`=0.5: metasgd "
                                                r"adapts with its learned rates; expected 1"):
            lib.MamlGanConfig(algorithm="metasgd", discriminator_adapt_lr_scale=0.5)
        with self.assertRaisesRegex(ValueError, "`discriminator_adapt_lr_scale` must be a "
                                                "positive number"):
            lib.MamlGanConfig(discriminator_adapt_lr_scale=-1.0)

    def test_a_resumed_run_keeps_its_stored_settings_and_checks_explicit_ones(self):
        started = tiny_config(algorithm="fomaml", steps=7)
        with tempfile.TemporaryDirectory() as workdir:
            lib.write_config(started, workdir, preset="cpu")
            stored = lib.stored_settings(workdir)
            self.assertEqual(stored["preset"], "cpu")
            self.assertEqual(lib.read_config(workdir), started)
            config, preset, how = lib.resolve("auto", {"steps": 9}, stored, gpu=True)
            self.assertEqual((preset, how), ("cpu", "as stored with the run"))
            self.assertEqual(config, dataclasses.replace(started, steps=9))
            lib.check_workdir(config, workdir)
            config, _, _ = lib.resolve("auto", {"inner_lr": 0.5}, stored, gpu=True)
            with self.assertRaisesRegex(ValueError, r"`inner_lr`=0.5 \(the run has 0.001\)"):
                lib.check_workdir(config, workdir)
            # A run written before presets existed has no "preset" key: it resumes as stored.
            lib.write_config(started, workdir)
            config, preset, how = lib.resolve("auto", {}, lib.stored_settings(workdir), gpu=True)
            self.assertEqual((config, preset, how), (started, None, "the run's stored settings"))

    def test_a_workdir_that_is_a_file_is_refused_in_one_line(self):
        with tempfile.NamedTemporaryFile() as f:
            with self.assertRaisesRegex(ValueError, r"^`workdir`=.* is a file; give a directory"):
                lib.check_workdir(tiny_config(), f.name)
