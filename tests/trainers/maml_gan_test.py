"""``python -m trainers.maml_gan`` as a user runs it: banner, progress, Ctrl-C, resume, errors.

The Ctrl-C and progress tests start the real CLI on the offline MNIST with tiny networks;
stderr is a pseudo-terminal, as at a shell, so the progress bar refreshes every second.
What is not about the process (the rerun, a bad workdir) runs in this one (``TRAINER.main``).
"""

import dataclasses
import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy as np
import tensorflow as tf

from tests.shared import NO_GPU_CUINIT, ROOT, tfds_dir
from tests.trainers.shell_test import run
from tfmeta.experiments import maml_gan as lib
from trainers import maml_gan

INTERRUPTED = re.compile(r"interrupted at step (\d+); saved; rerun the same command to resume")
TINY = ["--preset=cpu", "--nodownload", "--generator_width=4", "--discriminator_width=4",
        "--latent_dim=8", "--inner_steps=1", "--meta_batch_size=1", "--batch_size=4",
        "--steps=150", "--checkpoint_every=1000", "--sample_every=1000", "--summary_every=1000",
        "--grid_samples=1", "--grid_steps=1"]
# The bar shows steps 1 to 3 one by one, then refreshes each second; a TINY update takes about
# 0.03 s on 2 cores, so Ctrl-C sent once "3/150" shows lands seconds before the run would end;
# the rerun and the straight reference then train the rest in this process.


def user_env(**changes) -> dict:
    """The environment of a user's shell: no log level set (the tests' conftest sets one)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(changes)
    return env


class Trainer:
    """The CLI in a subprocess; stderr (a pty) is read line by line with arrival times."""

    def __init__(self, args, env=None):
        self.start = time.monotonic()
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trainers.maml_gan", f"--data_dir={tfds_dir()}", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True,
            env=user_env(**(env or {})))
        os.close(slave)
        self.lines: list[tuple[float, str]] = []
        self._master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        pending = ""
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                break
            if not data:
                break
            pending += data.decode("utf-8", "replace")
            *done, pending = re.split(r"[\r\n]", pending)
            now = time.monotonic() - self.start
            self.lines.extend((now, line) for line in done if line.strip())
        if pending.strip():
            self.lines.append((time.monotonic() - self.start, pending))

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for when, line in list(self.lines):
                if re.search(pattern, line):
                    return when, line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s; stderr:\n"
                             + self.stderr())

    def finish(self, timeout: float) -> tuple[int, str, str]:
        out, _ = self.process.communicate(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, out, self.stderr()

    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        try:
            os.close(self._master)
        except OSError:
            pass


def checkpoint_values(workdir: str) -> dict:
    """Every saved variable's value (not the save counter, nor the object graph, whose
    optimizer names depend on how many Keras optimizers the process made before)."""
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(
        os.path.join(workdir, "checkpoints"))
        if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


class MamlGanCliTest(unittest.TestCase):

    def test_sigint_saves_the_current_step_and_the_rerun_ends_bit_identical(self):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = os.path.join(tmp, "run")
            trainer = Trainer([f"--workdir={workdir}", *TINY])
            try:
                trainer.wait_for(r"fomaml: .* 3/150\b", timeout=400)
                trainer.process.send_signal(signal.SIGINT)
                code, _, err = trainer.finish(timeout=200)
            finally:
                trainer.kill()
            self.assertEqual(code, 130, err)
            self.assertNotIn("Traceback", err)
            stopped = INTERRUPTED.findall(err)
            self.assertEqual(len(stopped), 1, err)
            step = int(stopped[0])
            self.assertTrue(3 <= step < 150, err)
            self.assertEqual(lib.latest_checkpoint(workdir)[1], step)

            # The rerun is not about the process: in this one.
            code, out, err = run(maml_gan, f"--data_dir={tfds_dir()}", f"--workdir={workdir}",
                                 *TINY)
            self.assertEqual(code, 0, err)
            self.assertIn(f"resuming at step {step} of 150 from ckpt-{step}", err)
            self.assertIn("done: step 150 of 150", out)
            self.assertIn(os.path.join(workdir, "samples", "latest.png"), out)

            straight = os.path.join(tmp, "straight")
            lib.run(lib.read_config(workdir), straight)
            want, got = checkpoint_values(straight), checkpoint_values(workdir)
            self.assertEqual(sorted(want), sorted(got))
            self.assertTrue(any("generator" in name for name in want), sorted(want))
            for name in want:
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    def test_cpu_recipe_shows_banner_and_progress_early_and_no_error_lines(self):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = os.path.join(tmp, "run")
            # Level 2 lets TensorFlow's E-level lines through (the default hides all but FATAL).
            trainer = Trainer([f"--workdir={workdir}", "--preset=cpu", "--nodownload"],
                              env={"TF_CPP_MIN_LOG_LEVEL": "2"})
            try:
                banner_at, _ = trainer.wait_for(r"^workdir: .* \(new run\)", timeout=120)
                compiling_at, _ = trainer.wait_for(r"compiling the meta-update: .* 0/960",
                                                   timeout=300)
                first_at, _ = trainer.wait_for(r"fomaml: .* 1/960", timeout=600)
                trainer.process.send_signal(signal.SIGINT)
                code, _, err = trainer.finish(timeout=200)
            finally:
                trainer.kill()
        # The banner follows TensorFlow's import and the data's load: about 7 s on a quiet
        # 2-core machine, 15 s under a load of 7 (seen once); 30 s still means "at once".
        self.assertLess(banner_at, 30.0, err)
        self.assertLess(compiling_at, first_at)
        self.assertIn("preset: cpu (given)", err)
        self.assertIn("algorithm=fomaml loss=non-saturating steps=960 k=10 N=4 B=32 "
                      "dataset=mnist (outer: cosine); generator/discriminator: widths=32/32 "
                      "inner=rmsprop inner_lr=0.004/0.004 outer_lr=0.002/0.001", err)
        self.assertEqual(code, 130, err)
        errors = [line for line in err.splitlines() if re.match(r"^E\d{4}", line)
                  and not NO_GPU_CUINIT.match(line)]   # a CUDA build on a machine without a GPU
        self.assertEqual(errors, [])
        self.assertNotRegex(err, r"(?m)^[IW]\d{4} ")

    def test_the_banner_names_a_held_discriminator(self):
        config = lib.MamlGanConfig(algorithm="maml", discriminator_meta_steps=3600)
        self.assertIn(" (discriminator held after 3600 meta-updates)", maml_gan.describe(config))
        self.assertNotIn("held", maml_gan.describe(lib.MamlGanConfig(algorithm="maml")))
        floor = lib.MamlGanConfig(algorithm="maml", loss="minimax", discriminator_loss_floor=0.35)
        self.assertIn(" (discriminator held while its meta-loss averages below 0.35)",
                      maml_gan.describe(floor))

    def test_the_banner_names_derivative_order_annealing(self):
        annealed = lib.MamlGanConfig(algorithm="maml", first_order_steps=1350)
        self.assertIn("maml_gan: algorithm=maml (first order for the first 1350 meta-updates) "
                      "loss=", maml_gan.describe(annealed))
        self.assertNotIn("first order", maml_gan.describe(lib.MamlGanConfig(algorithm="maml")))
        one = lib.MamlGanConfig(algorithm="maml", first_order_player="discriminator")
        self.assertIn("algorithm=maml (the discriminator's meta-gradient first order) loss=",
                      maml_gan.describe(one))

    def test_the_banner_names_a_spectrally_normalized_discriminator(self):
        on = maml_gan.describe(lib.MamlGanConfig(spectral_norm=True))
        self.assertIn("widths=64/64 (discriminator spectrally normalized) inner=", on)
        self.assertNotIn("spectrally", maml_gan.describe(lib.MamlGanConfig()))

    def test_the_banner_names_the_rate_a_run_adapts_with(self):
        half = maml_gan.describe(lib.MamlGanConfig(adapt_lr_scale=0.5))
        self.assertTrue(half.endswith("; adapts after meta-training at 0.5x the inner rates "
                                      "(--adapt_lr_scale)"), half)
        self.assertNotIn("adapts after", maml_gan.describe(lib.MamlGanConfig()))
        own = maml_gan.describe(lib.MamlGanConfig(discriminator_adapt_lr_scale=0.5))
        self.assertTrue(own.endswith("; adapts after meta-training at 1x/0.5x the inner rates "
                                     "(--adapt_lr_scale, --discriminator_adapt_lr_scale)"), own)

    def test_the_banner_names_the_inner_optimizer(self):
        figr = lib.resolve("cpu", {"algorithm": "reptile", "dataset": "omniglot"}, None,
                           gpu=False)[0]
        self.assertIn(" inner=rmsprop inner_lr=0.004/0.002", maml_gan.describe(figr))
        adam = dataclasses.replace(figr, inner_optimizer="adam")
        self.assertIn(" inner=adam inner_lr=", maml_gan.describe(adam))
        self.assertNotIn("inner=", maml_gan.describe(lib.MamlGanConfig(algorithm="metasgd")))

    def test_the_banner_names_reptiles_outer_optimizer_and_its_rates(self):
        sgd = lib.MamlGanConfig(algorithm="reptile", reptile_step_size=0.25)
        self.assertIn(" reptile_step_size=0.25 ", maml_gan.describe(sgd))
        self.assertNotIn("outer_lr", maml_gan.describe(sgd))
        adam = dataclasses.replace(sgd, reptile_outer="adam", outer_lr=2e-3)
        self.assertIn(" reptile_outer=adam ", maml_gan.describe(adam))
        self.assertIn(" outer_lr=0.002/0.002", maml_gan.describe(adam))
        self.assertNotIn("reptile_step_size", maml_gan.describe(adam))

    def test_a_workdir_that_is_a_file_is_one_error_line(self):
        with tempfile.NamedTemporaryFile() as f:
            code, _, err = run(maml_gan, f"--workdir={f.name}", "--nodownload")
        self.assertNotEqual(code, 0)
        self.assertEqual(err.strip().splitlines(),
                         [f"error: --workdir={f.name} is a file; give a directory (a new one, "
                          "or one holding a run to resume)"])


class CollapseWatchTest(unittest.TestCase):
    """The trainer's one-line warning when the discriminator wins the meta-game."""

    # Per-150-update means of the discriminator's meta-loss of two Omniglot MAML-GAN runs of
    # 2026-12-07 (docs/results/omniglot_maml_gan.md): the preset's collapsed run and its
    # healthy seed 1.
    COLLAPSED = [1.26, 1.34, 1.33, 1.28, 1.19, 1.05, 0.89, 0.69, 0.52, 0.33, 0.25, 0.19, 0.06,
                 0.13, 0.03, 0.04, 0.03, 0.03]
    HEALTHY = [1.12, 1.12, 1.06, 0.96, 0.87, 0.86, 0.79, 0.78, 0.80, 0.70, 0.62, 0.61, 0.56,
               0.56, 0.55, 0.52, 0.48, 0.47, 0.45, 0.40, 0.46, 0.39, 0.38]

    def feed(self, means, config=None, generator=2.0):
        watch = maml_gan.CollapseWatch(config or lib.MamlGanConfig(algorithm="maml",
                                                                   loss="non-saturating"))
        said = []
        for i, d in enumerate(np.repeat(means, 150)):
            line = watch(i + 1, {"meta_loss/discriminator": tf.constant(d),
                                 "meta_loss/generator": generator})
            if line:
                said.append((i + 1, line))
        return said

    def test_a_collapse_is_said_once_with_its_step_and_losses(self):
        said = self.feed(self.COLLAPSED, generator=4.5)
        self.assertEqual(len(said), 1, said)
        step, line = said[0]
        # The 300-update mean first drops below 0.2 within the 0.06 block (1801-1950).
        self.assertTrue(1801 <= step <= 1950, step)
        averaged = re.search(rf"winning at step {step}: its meta-loss averaged ([\d.]+) ", line)
        self.assertLess(float(averaged.group(1)), 0.2, line)   # below 0.2, shown to 4 places
        self.assertIn("over the last 300 updates (the generator's 4.50)", line)
        self.assertIn("--discriminator_outer_lr=2.5e-4", line)

    def test_healthy_runs_and_wgan_gp_say_nothing(self):
        self.assertEqual(self.feed(self.HEALTHY), [])
        self.assertEqual(self.feed([1.1, 0.9, 0.7]), [])
        self.assertEqual(lib.MamlGanConfig().loss, "wgan-gp")   # the paper's, the default
        wgan = lib.MamlGanConfig(algorithm="maml", loss="wgan-gp")
        self.assertEqual(self.feed(self.COLLAPSED, wgan), [])   # a critic's values, not BCE

    def test_the_progress_lines_say_it_above_the_bar(self):
        import contextlib
        import io
        from trainers import progress
        config = lib.MamlGanConfig(algorithm="maml", loss="minimax", steps=400)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            lines = progress.Progress(maml_gan.TRAINER, config, "unused", gpu=True, preset="cpu")
            lines.event("start", 0)
            for step in range(1, 401):
                lines.step(step, {"meta_loss/discriminator": 0.01, "meta_loss/generator": 7.9})
            lines.close()
        self.assertEqual(err.getvalue().count("warning: the discriminator is winning"), 1,
                         err.getvalue())
        self.assertIn("warning: the discriminator is winning at step 300: its meta-loss "
                      "averaged 0.0100 over the last 300 updates (the generator's 7.90)",
                      err.getvalue())

    def test_the_bar_names_the_first_order_phase_of_an_annealed_run(self):
        import contextlib
        import io
        from trainers import progress
        config = lib.MamlGanConfig(algorithm="maml", first_order_steps=2, steps=4)
        shown = []
        with contextlib.redirect_stderr(io.StringIO()):
            lines = progress.Progress(maml_gan.TRAINER, config, "unused", gpu=True, preset="cpu")
            lines.event("start", 0)
            for step in range(1, 5):
                lines.step(step, {})
                shown.append(lines.bar.desc.rstrip(": "))   # tqdm adds ": "
            lines.close()
        self.assertEqual(shown, ["maml (first order)"] * 2 + ["maml"] * 2)

    def test_a_tiny_run_whose_discriminator_wins_says_so_once(self):
        # The TINY run with the discriminator's outer rate 5000x the generator's: its
        # discriminator wins within 300 updates (meta-loss about 0.004, seen); with the rates
        # the other way round its meta-loss stays above 1 (seen). The first run's floor holds
        # its discriminator's initialization once the average is below 0.5 (312 updates,
        # seen), too late here: its inner steps alone win against a generator at 1e-5.
        with tempfile.TemporaryDirectory() as tmp:
            argv = [f"--data_dir={tfds_dir()}", *TINY, "--algorithm=fomaml", "--steps=400"]
            code, out, err = run(maml_gan, *argv, f"--workdir={tmp}/lost", "--outer_lr=1e-5",
                                 "--discriminator_outer_lr=0.05",
                                 "--discriminator_loss_floor=0.5")
            self.assertEqual(code, 0, err)
            self.assertEqual(len(re.findall(r"warning: the discriminator is winning at step "
                                            r"300: its meta-loss averaged 0\.0", err)), 1, err)
            held = re.search(r"done: step 400 of 400 in .*; the discriminator's initialization "
                             r"held in (\d+) updates \(--discriminator_loss_floor\)", out)
            self.assertIsNotNone(held, out)
            self.assertTrue(250 < int(held.group(1)) < 400, held.group(0))
            code, _, err = run(maml_gan, *argv, f"--workdir={tmp}/even",
                               "--outer_lr=0.05", "--discriminator_outer_lr=1e-5")
            self.assertEqual(code, 0, err)
            self.assertNotIn("the discriminator is winning", err)


if __name__ == "__main__":
    unittest.main()
