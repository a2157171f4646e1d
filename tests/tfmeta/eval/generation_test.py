"""The few-shot generation protocol: Real and model rows through one code path."""

import contextlib
import dataclasses
import functools
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile

import json
import numpy as np
import tensorflow as tf
from absl import flags
from absl.testing import parameterized

from tests.shared import ROOT, tfds_dir
from tests.tfmeta.eval.critic_test import trained_critic
from tfmeta import io as tfmeta_io
from tfmeta.data import ClassDataset
from tfmeta.data.support import support_set, task_classes
from tfmeta.eval import labels_for_class_ids, save_critic
from tfmeta.eval.generation import (GenerationEvalConfig, evaluate_source, evaluate_sources,
                                    frechet_distance, nearest_distances,
                                    support_distance_ratio)
from tfmeta.eval.sources import adapted_source, real_source, served_source
from tfmeta.eval.table import markdown_table, paired_difference
from tfmeta.experiments import maml_gan as lib
from tfmeta.experiments.maml_gan.evaluate import (EvaluationRequest, evaluate_runs,
                                                  generator_source, generator_sources)
from tfmeta.experiments.rundir import selected_checkpoints

TINY_RUN = dict(dataset="mnist", download=False, inner_steps=2, meta_batch_size=2, batch_size=8,
                generator_width=8, discriminator_width=8, latent_dim=16, checkpoint_every=2,
                sample_every=1000, grid_samples=2, grid_steps=(1,), inner_lr=1e-3, outer_lr=1e-3)
# grid_steps=(1,): the sample grid a run draws at its end adapts eagerly for max(grid_steps)
# steps per row; nothing here looks at it.


@functools.lru_cache(maxsize=None)
def tiny_critic_dir() -> str:
    """critic_test's small MNIST critic (weak, but far above chance), saved once per process.

    Trained once per process for both modules: the same critic when they share a process.
    """
    model, report, _ = trained_critic()
    path = tempfile.mkdtemp(prefix="tfmeta-critic-")
    save_critic(model, report, path)
    return path


@functools.lru_cache(maxsize=None)
def tiny_runs() -> dict:
    """A scratch run and a 2-step MAML run on real MNIST."""
    out = {}
    for algorithm, steps in (("scratch", 0), ("maml", 2)):
        path = tempfile.mkdtemp(prefix=f"tfmeta-{algorithm}-")
        # checkpoint_every=1: the MAML run keeps the checkpoints of updates 1 and 2 (curves).
        lib.run(lib.MamlGanConfig(data_dir=str(tfds_dir()), algorithm=algorithm, steps=steps,
                                  **dict(TINY_RUN, checkpoint_every=1)), path)
        out[algorithm] = path
    return out


@functools.lru_cache(maxsize=None)
def tiny_export() -> str:
    """The tiny MAML run's export (``export.api.export_run``: its k = 2 steps served)."""
    from export import api
    base = tempfile.mkdtemp(prefix="tfmeta-export-")
    return api.export_run(tiny_runs()["maml"], base, "gan", max_samples=16, max_support=16)


def run_evaluate(*argv) -> tuple:
    """``python -m trainers.evaluate ARGV`` run in this process: ``(exit code, stdout, stderr)``.

    The exit code is ``main``'s ``SystemExit`` code (0 when it returns): a string is the one line
    Python prints to stderr before exiting with status 1. The process itself is not what these
    tests check (``--helpfull`` below starts the program once); starting it cost a TensorFlow
    import and an MNIST load per call. The tool's flags are reset afterwards, and removed with
    the module when this call defined them, so that another tool defining flags of the same
    names can still be imported into this process.
    """
    fv = flags.FLAGS
    was_parsed, before = fv.is_parsed(), set(fv)
    evaluate = importlib.import_module("trainers.evaluate")
    defined = [name for name in set(fv) - before
               if fv.find_module_defining_flag(name, "").startswith("trainers.")]
    out, err = io.StringIO(), io.StringIO()
    try:
        fv(["trainers.evaluate", *argv])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                evaluate.main([])
                code = 0
            except SystemExit as e:
                code = e.code
    finally:
        for flag in fv.flags_by_module_dict().get(evaluate.__name__, []):
            flag.unparse()
        if not was_parsed:
            fv.unparse_flags()
        if defined:
            for name in defined:
                delattr(fv, name)
            sys.modules.pop(evaluate.__name__, None)
            delattr(sys.modules["trainers"], "evaluate")
    return code, out.getvalue(), err.getvalue()


class FrechetTest(parameterized.TestCase):

    def test_frechet_distance_properties(self):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
        self.assertAlmostEqual(frechet_distance(a, a), 0.0, places=6)
        shift = np.arange(6.0)
        self.assertAlmostEqual(frechet_distance(a, a + shift), float(shift @ shift), places=6)
        b = rng.standard_normal((400, 6)) * 2.0
        self.assertAlmostEqual(frechet_distance(a, b), frechet_distance(b, a), places=6)
        self.assertGreater(frechet_distance(a, b), 0.0)

    def test_nearest_distances_and_support_ratio(self):
        rng = np.random.default_rng(0)
        support = rng.uniform(-1, 1, (5, 4, 4, 1))
        others = rng.uniform(-1, 1, (40, 4, 4, 1))
        images = np.concatenate([support, others])
        brute = [min(np.linalg.norm((x - s).ravel()) for s in support) for x in others]
        np.testing.assert_allclose(nearest_distances(others, support), brute, rtol=1e-9)
        np.testing.assert_allclose(nearest_distances(support, support), 0.0, atol=1e-6)
        # Copies of the shots score 0; fresh images of the class score 1 (the reference itself).
        self.assertAlmostEqual(support_distance_ratio(support[[0, 1, 1, 4]], support, images), 0.0,
                               places=6)
        self.assertAlmostEqual(support_distance_ratio(others, support, images), 1.0, places=9)
        self.assertAlmostEqual(support_distance_ratio(others * 0 + 5.0, support, images),
                               nearest_distances(others * 0 + 5.0, support).mean()
                               / np.mean(brute), places=9)
        self.assertTrue(np.isnan(support_distance_ratio(others, support, support)))

    def test_support_ratio_is_nan_when_the_support_is_the_whole_class_of_large_images(self):
        # Omniglot: 20 images per class, support 20. With 28x28 near-binary images the pixel
        # distance of an image to itself rounds to ~1e-6, which a distance threshold took for
        # "outside the support" (ratios of ~1e7 in the Omniglot table).
        rng = np.random.default_rng(0)
        images = np.where(rng.uniform(size=(20, 28, 28, 1)) < 0.2, -1.0, 1.0).astype(np.float32)
        images += rng.normal(0.0, 0.01, images.shape).astype(np.float32)
        samples = rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
        self.assertTrue(np.isnan(support_distance_ratio(samples, images[rng.permutation(20)],
                                                        images)))
        # One image left out of the support is the whole reference, exactly.
        support, left_out = images[1:], images[:1]
        self.assertAlmostEqual(support_distance_ratio(left_out, support, images), 1.0, places=9)
        self.assertAlmostEqual(support_distance_ratio(support[:3], support, images), 0.0, places=5)

    def test_tasks_are_drawn_with_replacement_and_deterministically(self):
        first = task_classes(3, 256, seed=0)
        np.testing.assert_array_equal(first, task_classes(3, 256, seed=0))
        self.assertEqual(set(first.tolist()), {0, 1, 2})
        self.assertFalse(np.array_equal(first, task_classes(3, 256, seed=1)))


class AdaptedSourceTest(parameterized.TestCase):

    def test_adapted_source_adapts_on_the_support_set_and_draws_the_documented_latents(self):
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (60, 4, 4, 1)).astype(np.float32)
        ds = ClassDataset.from_labelled_images(images, np.repeat([3, 5, 8], 20))
        seen = []

        def adapt_fn(support, task_seed):
            seen.append((support.numpy(), task_seed.numpy()))
            return tf.reduce_mean(support, axis=0)

        def sample_fn(mean, z):        # the mean shot, shifted by each latent's first entry
            return mean[None] + tf.reshape(z[:, 0], [-1, 1, 1, 1])

        source = adapted_source(adapt_fn, sample_fn, ds, support_size=6, latent_dim=3, seed=4,
                                chunk=4)
        out = source(7, 1, 10).numpy()
        shots = support_set(ds, 1, 7, 6, 4).numpy()
        np.testing.assert_array_equal(seen[0][0], shots)
        np.testing.assert_array_equal(seen[0][1], [4, 7])
        z = np.concatenate([tf.random.stateless_normal([n, 3], [5, 7 * 100003 + start]).numpy()
                            for start, n in ((0, 4), (4, 4), (8, 2))])
        np.testing.assert_allclose(out, shots.mean(0)[None] + z[:, 0, None, None, None],
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(out, source(7, 1, 10).numpy())

    def test_bad_protocol_settings_name_the_field(self):
        with self.assertRaisesRegex(ValueError, "`support_size` must be an integer >= 1, got 0"):
            GenerationEvalConfig(support_size=0)


class ProtocolTest(parameterized.TestCase):

    def test_real_row_beats_not_pretrained_through_the_same_code(self):
        from tfmeta.eval import load_critic
        critic, info = load_critic(tiny_critic_dir())
        setup, splits = lib.load_run(tiny_runs()["scratch"])
        test = splits.test
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        config = GenerationEvalConfig(tasks=6, samples=128, adapt_steps=2, support_size=16)
        real = evaluate_source(real_source(test), test, critic, labels, config)
        model = evaluate_source(generator_source(setup, test, support_size=16, adapt_steps=2),
                                test, critic, labels, config)
        self.assertGreater(real["accuracy"], 0.8)
        self.assertLess(real["nll"], model["nll"])
        self.assertLess(real["frechet"], model["frechet"])
        # Real images are as far from a task's shots as the class's other images (a few may be
        # shots); a source that returns the shots themselves scores 0.
        self.assertGreater(real["support_ratio"], 0.9)
        self.assertLess(real["support_ratio"], 1.1)
        copier = evaluate_source(
            lambda t, c, n: tf.gather(support_set(test, c, t, 16, 0), tf.range(n) % 16),
            test, critic, labels, config)
        self.assertAlmostEqual(copier["support_ratio"], 0.0, places=5)
        for row in (real, model):
            self.assertEqual(row["tasks"], 6)
            for key in ("nll_ci95", "accuracy_ci95", "frechet_ci95", "support_ratio_ci95"):
                self.assertTrue(np.isfinite(row[key]))
            per_class = row["per_class"]
            drawn = {str(test.class_names[c]) for c in task_classes(test.num_classes, 6, 0)}
            self.assertEqual(set(per_class), drawn)
            self.assertEqual(sum(v["tasks"] for v in per_class.values()), 6)
            for key in ("nll", "accuracy", "frechet", "support_ratio"):  # class means -> overall
                self.assertAlmostEqual(sum(v["tasks"] * v[key] for v in per_class.values()) / 6,
                                       row[key], places=4)
            tasks = row["per_task"]   # task by task, in the drawn order
            self.assertEqual(tasks["class"], [str(test.class_names[c])
                                              for c in task_classes(test.num_classes, 6, 0)])
            for key in ("nll", "accuracy"):
                self.assertAlmostEqual(float(np.mean(tasks[key])), row[key], places=5)
        # Paired over the same tasks: the mean difference is the difference of the means; its
        # interval is that of the per-task differences, and a row against itself is 0 +- 0.
        paired = paired_difference(real, model)
        self.assertAlmostEqual(paired["mean"], real["accuracy"] - model["accuracy"], places=5)
        self.assertGreater(paired["mean"], 0)
        diffs = np.subtract(real["per_task"]["accuracy"], model["per_task"]["accuracy"])
        self.assertAlmostEqual(paired["ci95"], 1.96 * diffs.std(ddof=1) / np.sqrt(6), places=6)
        self.assertEqual(paired_difference(model, model, "nll")["ci95"], 0.0)
        for other in ({**model, "seed": 1}, {**model, "tasks": 5}):
            with self.assertRaisesRegex(ValueError, "other tasks.*expected the same tasks"):
                paired_difference(real, other)
        with self.assertRaisesRegex(ValueError, "metric='frechet'"):
            paired_difference(real, model, "frechet")

    def test_critic_of_another_dataset_is_rejected(self):
        with tempfile.TemporaryDirectory() as critic_dir:
            with open(os.path.join(tiny_critic_dir(), "critic.json")) as f:
                info = json.load(f)
            info["dataset"] = "omniglot"
            import shutil
            shutil.copy(os.path.join(tiny_critic_dir(), "critic.keras"), critic_dir)
            with open(os.path.join(critic_dir, "critic.json"), "w") as f:
                json.dump(info, f)
            request = EvaluationRequest(runs=(tiny_runs()["maml"],), critic=critic_dir, tasks=1,
                                        samples=8, data_dir=str(tfds_dir()), download=False)
            with self.assertRaisesRegex(ValueError, "trained on 'omniglot' but the runs are on "
                                                    "'mnist'"):
                evaluate_runs(request)

    def test_run_without_checkpoint_is_rejected(self):
        with tempfile.TemporaryDirectory() as run_dir:
            lib.write_config(lib.MamlGanConfig(data_dir=str(tfds_dir()), **TINY_RUN), run_dir)
            request = EvaluationRequest(runs=(run_dir,), critic=tiny_critic_dir(), tasks=1,
                                        samples=8, data_dir=str(tfds_dir()), download=False)
            with self.assertRaisesRegex(FileNotFoundError, "holds no checkpoint"):
                evaluate_runs(request)

    def test_cli_reports_a_missing_run_in_one_line_and_names_support_size_in_help(self):
        with tempfile.TemporaryDirectory() as out_dir:
            missing = os.path.join(out_dir, "no_run")
            code, _, err = run_evaluate(f"--runs={missing}", f"--critic={out_dir}",
                                        f"--out={out_dir}/t.json")
            # A string code: Python prints it as the one line on stderr and exits with 1.
            self.assertIsInstance(code, str)
            self.assertTrue(code.startswith(f"error: {missing} holds no MAML-GAN run"), code)
            self.assertNotIn("\n", code)
            self.assertNotIn("Traceback", err)
        proc = subprocess.run([sys.executable, "-m", "trainers.evaluate", "--helpfull"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertIn("--support_size", proc.stdout)
        self.assertIn("--support_size: Number of images", proc.stdout)
        self.assertIn("--runs: Run directories", proc.stdout)
        self.assertIn("--exports: Version folders", proc.stdout)
        self.assertNotIn("--support:", proc.stdout)

    def test_cli_writes_json_rows_and_markdown_table_and_the_same_seed_gives_same_numbers(self):
        """The CLI's rows and table; the library gives the same row again, another seed not."""
        runs = tiny_runs()
        settings = dict(tasks=2, samples=32, adapt_steps=2, support_size=16)
        with tempfile.TemporaryDirectory() as out_dir:
            out = os.path.join(out_dir, "table1.json")
            code, _, err = run_evaluate(
                f"--runs={runs['maml']},{runs['scratch']}", f"--critic={tiny_critic_dir()}",
                f"--out={out}", *(f"--{k}={v}" for k, v in settings.items()),
                f"--data_dir={tfds_dir()}", "--nodownload")
            self.assertEqual(code, 0, err[-3000:])
            rows = tfmeta_io.read_json(out)
            self.assertEqual([r["name"] for r in rows], ["Real", "Not pre-trained", "MAML-GAN"])
            for row in rows:
                for key in ("name", "nll", "accuracy", "frechet", "support_ratio"):
                    self.assertIn(key, row)
            self.assertEqual([rows[1]["step"], rows[2]["step"]], [0, 2])
            with open(os.path.join(out_dir, "table1.md")) as f:
                table = f.read()
            self.assertIn("| MAML-GAN | mnist |", table)
            self.assertIn("Support distance ratio", table)
            self.assertIn("adapted for 2 steps on 16 support images", table)
            self.assertIn("Accuracy per class", table)
            self.assertIn("Not pre-trained", markdown_table(rows))

            # Same seed, same numbers: the MAML row again, alone and through the library.
            request = EvaluationRequest(runs=(runs["maml"],), critic=tiny_critic_dir(),
                                        data_dir=str(tfds_dir()), download=False, real=False,
                                        **settings)
            again = os.path.join(out_dir, "again.json")
            tfmeta_io.write_json(again, evaluate_runs(request))
            self.assertEqual(tfmeta_io.read_json(again), [rows[2]])
            other = evaluate_runs(EvaluationRequest(**dict(request.__dict__, seed=1)))
            self.assertNotEqual(rows[2]["nll"], other[0]["nll"])


class StepCurvesTest(parameterized.TestCase):
    """Several adaptation step counts in one adaptation, and every kept checkpoint."""

    def test_each_count_of_one_adaptation_draws_what_that_count_alone_draws(self):
        from tfmeta.eval import load_critic
        critic, info = load_critic(tiny_critic_dir())
        setup, splits = lib.load_run(tiny_runs()["maml"])
        test = splits.test
        sources = generator_sources(setup, test, support_size=16, adapt_steps=(2, 1))
        self.assertEqual(sorted(sources), [1, 2])
        alone = {k: generator_source(setup, test, support_size=16, adapt_steps=k) for k in (1, 2)}
        for k in (1, 2):
            np.testing.assert_allclose(sources[k](3, 1, 8).numpy(), alone[k](3, 1, 8).numpy(),
                                       rtol=0, atol=1e-6)
        self.assertGreater(np.abs(sources[1](3, 1, 8) - sources[2](3, 1, 8)).max(), 1e-4)
        labels = labels_for_class_ids(info["class_ids"], test.class_ids)
        config = GenerationEvalConfig(tasks=3, samples=16, adapt_steps=2, support_size=16)
        rows = evaluate_sources(generator_sources(setup, test, support_size=16,
                                                  adapt_steps=(1, 2)),
                                test, critic, labels, config)
        single = evaluate_source(alone[2], test, critic, labels, config)
        for key in ("nll", "accuracy", "frechet", "support_ratio"):
            self.assertAlmostEqual(rows[2][key], single[key], places=4)
        self.assertNotAlmostEqual(rows[1]["nll"], rows[2]["nll"], places=4)

    def test_every_checkpoint_at_several_counts_gives_rows_table_and_figure(self):
        runs = tiny_runs()
        with tempfile.TemporaryDirectory() as out_dir:
            out = os.path.join(out_dir, "curves.json")
            code, _, err = run_evaluate(
                f"--runs={runs['maml']}", f"--critic={tiny_critic_dir()}", f"--out={out}",
                "--tasks=2", "--samples=16", "--support_size=16", "--adapt_steps=2,1",
                "--checkpoints=all", f"--data_dir={tfds_dir()}", "--nodownload")
            self.assertEqual(code, 0, err[-3000:])
            rows = tfmeta_io.read_json(out)
            self.assertEqual(rows[0]["name"], "Real")
            rows = rows[1:]
            self.assertEqual([(r["name"], r["step"], r["adapt_steps"]) for r in rows],
                             [("MAML-GAN", s, k) for s in (0, 1, 2) for k in (1, 2)])
            # The checkpoints (the run's start included) hold different initializations.
            self.assertNotAlmostEqual(rows[0]["nll"], rows[2]["nll"], places=4)
            self.assertNotAlmostEqual(rows[2]["nll"], rows[4]["nll"], places=4)
            with open(os.path.join(out_dir, "curves.md")) as f:
                table = f.read()
            self.assertIn("| Algorithm | Meta-updates | Steps | Task |", table)
            self.assertIn("| MAML-GAN | 1 | 2 | mnist |", table)
            with open(os.path.join(out_dir, "curves.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            # The latest checkpoint at 2 steps is the plain evaluation's row.
            latest = evaluate_runs(EvaluationRequest(
                runs=(runs["maml"],), critic=tiny_critic_dir(), tasks=2, samples=16,
                support_size=16, adapt_steps=2, real=False, data_dir=str(tfds_dir()),
                download=False))
            self.assertEqual(len(latest), 1)
            for key in ("nll", "accuracy", "frechet"):
                self.assertAlmostEqual(latest[0][key], rows[5][key], places=4)
            # Named checkpoints are those rows again, in meta-update order.
            named = evaluate_runs(EvaluationRequest(
                runs=(runs["maml"],), critic=tiny_critic_dir(), tasks=2, samples=16,
                support_size=16, adapt_steps=(1, 2), real=False, data_dir=str(tfds_dir()),
                download=False, checkpoints="2,0"))
            self.assertEqual([(r["step"], r["adapt_steps"]) for r in named],
                             [(0, 1), (0, 2), (2, 1), (2, 2)])
            for got, want in zip(named, rows[:2] + rows[4:]):
                self.assertAlmostEqual(got["nll"], want["nll"], places=4)
            with self.assertRaisesRegex(ValueError, r"`checkpoints`='3': run .* kept no "
                                        r"checkpoint at 3 \(it kept 0, 1, 2\)"):
                selected_checkpoints(runs["maml"], "3")

    def test_adapt_lr_scale_scales_every_adaptation_after_meta_training(self):
        base = tiny_runs()["maml"]
        with tempfile.TemporaryDirectory() as tmp:
            scaled = shutil.copytree(base, os.path.join(tmp, "scaled"))
            config = lib.read_config(base)
            lib.write_config(dataclasses.replace(config, adapt_lr_scale=2.0), scaled)
            setups = [lib.load_run(path)[0] for path in (base, scaled)]
            self.assertEqual(setups[1].config.inner_lrs(),
                             {"generator": 2e-3, "discriminator": 2e-3})
            # One inner RMSprop step from zero state moves lr * g / (|g| + eps): twice as far.
            images = tf.random.stateless_uniform((1, 8, 28, 28, 1), (3, 4), -1.0, 1.0)
            init = lib.params_of(setups[0])
            moved = [lib.adapted_params(s, init, images, [0, 7], inner_steps=1) for s in setups]
            for player in ("generator", "discriminator"):
                for p0, one, two in zip(init[player], moved[0][player], moved[1][player]):
                    np.testing.assert_allclose(two - p0, 2 * (one - p0), rtol=1e-4, atol=1e-7)
            rows = [evaluate_runs(EvaluationRequest(
                runs=(path,), critic=tiny_critic_dir(), tasks=2, samples=16, support_size=16,
                adapt_steps=2, real=False, data_dir=str(tfds_dir()), download=False))[0]
                for path in (base, scaled)]
            self.assertEqual([r["inner_lrs"]["discriminator"] for r in rows], [1e-3, 2e-3])
            self.assertNotAlmostEqual(rows[0]["nll"], rows[1]["nll"], places=4)
            # The request's scale in place of the run's: the scaled copy's row, to the bit.
            asked = evaluate_runs(EvaluationRequest(
                runs=(base,), critic=tiny_critic_dir(), tasks=2, samples=16, support_size=16,
                adapt_steps=2, real=False, data_dir=str(tfds_dir()), download=False,
                adapt_lr_scale=2.0))[0]
            self.assertEqual(asked["inner_lrs"], rows[1]["inner_lrs"])
            self.assertEqual((asked["nll"], asked["accuracy"]),
                             (rows[1]["nll"], rows[1]["accuracy"]))
            # Each player's scale from the request, over a run that stores its own for both.
            both = shutil.copytree(base, os.path.join(tmp, "both"))
            lib.write_config(dataclasses.replace(config, adapt_lr_scale=2.0,
                                                 discriminator_adapt_lr_scale=0.5), both)
            stored, asked = (evaluate_runs(EvaluationRequest(
                runs=(path,), critic=tiny_critic_dir(), tasks=2, samples=16, support_size=16,
                adapt_steps=2, real=False, data_dir=str(tfds_dir()), download=False,
                **scales))[0] for path, scales in (
                    (both, {}), (scaled, dict(discriminator_adapt_lr_scale=0.5))))
            self.assertEqual(stored["inner_lrs"], {"generator": 2e-3, "discriminator": 5e-4})
            self.assertEqual(asked["inner_lrs"], stored["inner_lrs"])
            self.assertEqual((asked["nll"], asked["accuracy"]), (stored["nll"], stored["accuracy"]))
            self.assertNotEqual(stored["nll"], rows[1]["nll"])
            # Back to the meta-trained rates: both scales 1 over the run's own.
            own = evaluate_runs(EvaluationRequest(
                runs=(both,), critic=tiny_critic_dir(), tasks=2, samples=16, support_size=16,
                adapt_steps=2, real=False, data_dir=str(tfds_dir()), download=False,
                adapt_lr_scale=1.0, discriminator_adapt_lr_scale=1.0))[0]
            self.assertEqual((own["inner_lrs"], own["nll"], own["accuracy"]),
                             (rows[0]["inner_lrs"], rows[0]["nll"], rows[0]["accuracy"]))

    @parameterized.parameters("adapt_lr_scale", "discriminator_adapt_lr_scale")
    def test_a_bad_scale_from_the_command_line_is_refused_in_one_line(self, name):
        with tempfile.TemporaryDirectory() as out_dir:
            code, _, _ = run_evaluate(f"--runs={tiny_runs()['maml']}",
                                      f"--critic={tiny_critic_dir()}", "--tasks=1",
                                      f"--out={out_dir}/t.json", f"--{name}=0",
                                      f"--data_dir={tfds_dir()}", "--nodownload")
            self.assertEqual(code, f"error: --{name} must be a positive number, got 0.0")
            self.assertFalse(os.path.exists(f"{out_dir}/t.json"))

    @parameterized.parameters("0", "1,x", "")
    def test_bad_step_counts_are_refused_in_one_line(self, value):
        with tempfile.TemporaryDirectory() as out_dir:
            code, _, _ = run_evaluate(f"--runs={tiny_runs()['maml']}",
                                      f"--critic={tiny_critic_dir()}",
                                      f"--out={out_dir}/t.json", f"--adapt_steps={value}")
            self.assertIsInstance(code, str)
            self.assertEqual(code, f"error: --adapt_steps={value}; expected integers >= 1, "
                                   f"comma-separated")

    def test_request_refuses_unknown_checkpoint_choice_and_bad_counts(self):
        for bad in ("some", "1,x", "-3"):
            with self.assertRaisesRegex(ValueError, f"`checkpoints`='{bad}'; expected 'latest', "
                                        "'all' or meta-update counts separated by commas"):
                EvaluationRequest(runs=("r",), critic="c", checkpoints=bad)
        with self.assertRaisesRegex(ValueError, r"`adapt_steps`=\(0, 3\); expected one or more"):
            EvaluationRequest(runs=("r",), critic="c", adapt_steps=(0, 3))
        self.assertEqual(EvaluationRequest(runs=("r",), critic="c", adapt_steps=(5, 1, 5))
                         .adapt_steps, (1, 5))
        self.assertEqual(EvaluationRequest(runs=("r",), critic="c").adapt_steps, 10)


class ServedExportTest(parameterized.TestCase):
    """An export scored through its own served adaptation (``--exports``)."""

    def test_served_source_sends_the_documented_request_and_adapts_once_per_task(self):
        from tfmeta.gan import generate
        from tfmeta.savedmodel.common import read_metadata
        loaded = tf.saved_model.load(tiny_export())
        served = loaded.signatures["adapt_and_generate_from_z"]
        setup, splits = lib.load_run(tiny_runs()["maml"])
        test = splits.test
        source = served_source(served, test, support_size=16, latent_dim=16, seed=4, chunk=8)
        got = source(3, 1, 12).numpy()                    # two requests: 8 samples, then 4
        self.assertEqual(got.shape, (12, 28, 28, 1))
        support = support_set(test, 1, 3, 16, 4)
        request_seed = tf.constant(4 * 100003 + 3)
        zs = [tf.random.stateless_normal([n, 16], [5, 3 * 100003 + start])
              for start, n in ((0, 8), (8, 4))]
        want = np.concatenate([served(support_images=support, z=z, seed=request_seed)["images"]
                               for z in zs])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        # Both requests adapt alike: the run's generator at the served adapted weights draws them.
        weights = loaded.signatures["adapt"](support_images=support, seed=request_seed)
        names = read_metadata(tiny_export())["generator_outputs"]
        drawn = generate(setup.generator, [weights[n] for n in names], tf.concat(zs, 0))
        np.testing.assert_allclose(got, drawn.numpy(), rtol=0, atol=1e-5)
        # It adapts: not the prior on the same latents; another class's support, other samples.
        prior = loaded.signatures["serving_default"](z=zs[0])["images"].numpy()
        self.assertGreater(np.abs(got[:8] - prior).max(), 1e-4)
        self.assertGreater(np.abs(source(3, 2, 8).numpy() - got[:8]).max(), 1e-4)

    def test_cli_scores_an_export_beside_its_run_and_refuses_what_is_not_one(self):
        runs = tiny_runs()
        with tempfile.TemporaryDirectory() as out_dir:
            out = os.path.join(out_dir, "served.json")
            code, _, err = run_evaluate(
                f"--runs={runs['maml']}", f"--exports={tiny_export()}",
                f"--critic={tiny_critic_dir()}", f"--out={out}", "--tasks=2", "--samples=24",
                "--support_size=16", "--adapt_steps=2", f"--data_dir={tfds_dir()}",
                "--nodownload")
            self.assertEqual(code, 0, err[-3000:])
            rows = tfmeta_io.read_json(out)
            self.assertEqual([r["name"] for r in rows], ["Real", "MAML-GAN", "MAML-GAN (served)"])
            run_row, served_row = rows[1], rows[2]
            self.assertEqual((served_row["adapt_steps"], served_row["step"]), (2, 2))
            self.assertEqual((served_row["export"], served_row["run"]),
                             (tiny_export(), runs["maml"]))
            self.assertEqual((served_row["tasks"], served_row["support"]), (2, 16))
            self.assertEqual(served_row["per_class"].keys(), run_row["per_class"].keys())
            for key in ("nll", "accuracy", "frechet", "support_ratio"):
                self.assertTrue(np.isfinite(served_row[key]), key)
            self.assertNotEqual(served_row["nll"], run_row["nll"])   # its own batches and seeds
            # An export alone: the same row again.
            alone = evaluate_runs(EvaluationRequest(
                runs=(), exports=(tiny_export(),), critic=tiny_critic_dir(), tasks=2, samples=24,
                support_size=16, real=False, data_dir=str(tfds_dir()), download=False))
            self.assertEqual(tfmeta_io.read_json(out)[2]["nll"], alone[0]["nll"])
            for argv, line in (
                    ((f"--exports={runs['maml']}",),
                     f"error: --exports: {runs['maml']} holds no tfmeta export"),
                    ((), "error: --runs and --exports are empty; give at least one run")):
                code, _, _ = run_evaluate(*argv, f"--critic={tiny_critic_dir()}",
                                          f"--out={out_dir}/t.json")
                self.assertIsInstance(code, str)
                self.assertTrue(code.startswith(line), code)
                self.assertNotIn("\n", code)
