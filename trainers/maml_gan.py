"""``python -m trainers.maml_gan``: meta-train a GAN for few-shot image generation.

Paper 000 (MAML-GAN): a DCGAN is meta-trained on the meta-train classes of a
dataset so that a few steps on images of an unseen class yield a generator for
it. ``--preset`` picks the settings: ``paper`` (paper 000's; for a GPU) or
``cpu`` (the CPU recipe, about 30 minutes on 2 cores); ``auto`` (default) is
``paper`` when TensorFlow sees a GPU and ``cpu`` otherwise. A flag given on the
command line always wins. Rerunning the same command resumes the run in
``--workdir`` from its last checkpoint with the settings it started with (same
step counter, optimizer state, weights and task stream). Ctrl-C (or SIGTERM)
checkpoints after the running meta-update and exits with status 130.

Example:
    python -m trainers.maml_gan --dataset=mnist --workdir=runs/mnist_maml
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

with common.native_logs_filtered():
    from tfmeta.experiments import maml_gan as lib  # noqa: E402

_D = lib.MamlGanConfig()


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


flags.DEFINE_string("dataset", _D.dataset, "TFDS dataset of the tasks (one task per class): "
                    "mnist (meta-train digits 0-6, test 7-9), fashion_mnist, omniglot.")
flags.DEFINE_string("data_dir", None, "TFDS data directory. Default: $TFDS_DATA_DIR, else "
                    "../shared/tensorflow_datasets next to the project if present, else TFDS's "
                    "default (~/tensorflow_datasets).")
flags.DEFINE_bool("download", True, "Let TFDS download the dataset if it is missing "
                  "(--nodownload when offline).")
flags.DEFINE_string("workdir", "runs/maml_gan", "Run directory: config.json, checkpoints/, "
                    "tensorboard/, samples/. An existing run there is resumed.")
flags.DEFINE_enum("algorithm", _D.algorithm, list(lib.ALGORITHMS),
                  "maml: second-order MAML-GAN; fomaml: first order; metasgd: one step with "
                  "learned per-parameter rates (paper 000 used it with --loss=minimax only); "
                  "reptile: FIGR (Reptile + WGAN-GP, inner Adam beta_1=0.5, outer SGD); "
                  "scratch: no meta-training, the random initialization ('Not pre-trained').")
flags.DEFINE_enum("loss", _D.loss, list(lib.LOSSES), "GAN loss: wgan-gp (lambda --gp_weight), "
                  "minimax (paper eq. 1) or non-saturating.")
flags.DEFINE_integer("inner_steps", None, "k: inner steps per task (default 10; 1 for metasgd).")
flags.DEFINE_integer("meta_batch_size", _D.meta_batch_size, "N: tasks (classes) per meta-update.")
flags.DEFINE_integer("batch_size", _D.batch_size, "Real images and latents per inner step and "
                     "per validation loss.")
flags.DEFINE_enum("inner_optimizer", _D.inner_optimizer, list(lib.INNER_OPTIMIZERS),
                  "Differentiable inner optimizer (maml, fomaml; reptile always uses Adam, "
                  "metasgd its learned rates).")
flags.DEFINE_float("inner_lr", _D.inner_lr, "Inner learning rate beta (Meta-SGD: initial rates).")
flags.DEFINE_float("inner_epsilon", _D.inner_epsilon, "Inner RMSprop/Adam epsilon: the "
                   "floor of the update's denominator. Its per-coordinate step lr / (sqrt(v) + "
                   "eps) reaches lr / eps where gradients are tiny, which makes the second-order "
                   "meta-gradient explode at large inner rates (docs/results/"
                   "second_order_maml_gan.md); 1e-3 tames it. Not used by sgd, metasgd.")
flags.DEFINE_float("discriminator_inner_lr", _D.discriminator_inner_lr, "The discriminator's "
                   "own inner learning rate (default: --inner_lr for both players).")
flags.DEFINE_float("outer_lr", _D.outer_lr, "Outer RMSprop learning rate gamma (maml, fomaml, "
                   "metasgd).")
flags.DEFINE_enum("outer_lr_schedule", _D.outer_lr_schedule, list(lib.OUTER_LR_SCHEDULES),
                  "constant (paper 000), or cosine: the outer learning rate (reptile: the step "
                  "size) decays from its value to 0 at --steps. With cosine, --steps cannot "
                  "change when resuming.")
flags.DEFINE_float("reptile_step_size", _D.reptile_step_size, "Reptile/FIGR outer step: "
                   "init += size * mean(adapted - init).")
flags.DEFINE_enum("step_weights", _D.step_weights, list(lib.STEP_WEIGHTS),
                  "Multi-step loss weights: uniform (paper 000), final (original MAML), "
                  "annealed (uniform decaying to final over --anneal_steps).")
flags.DEFINE_integer("anneal_steps", _D.anneal_steps, "Meta-updates of the annealed schedule.")
flags.DEFINE_integer("steps", _D.steps, "Total meta-updates of the run.")
flags.DEFINE_integer("seed", _D.seed, "Seed of initialization and task stream.")
flags.DEFINE_bool("jit_compile", _D.jit_compile, "XLA-compile the meta-gradient (slower on "
                  "CPU for these convolutions; try it on GPU).")
flags.DEFINE_bool("remat", _D.remat, "Trade compute for memory (maml, fomaml, metasgd): "
                  "recompute each inner step when the meta-gradient reaches it instead of "
                  "keeping its activations; same results, about 1.7x the time, memory nearly flat in "
                  "--inner_steps (see bench/README.md). Can be switched when resuming.")
flags.DEFINE_integer("latent_dim", _D.latent_dim, "Size of the latent z.")
flags.DEFINE_integer("generator_width", _D.generator_width, "Generator base width (64: the "
                     "paper's 128/64 channels).")
flags.DEFINE_integer("discriminator_width", _D.discriminator_width, "Discriminator base width "
                     "(64: the paper's 64/128 channels).")
flags.DEFINE_integer("image_size", _D.image_size, "Images are resized to this square size "
                     "(a multiple of 4).")
flags.DEFINE_float("gp_weight", _D.gp_weight, "WGAN-GP gradient-penalty weight lambda.")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Meta-updates between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "Newest checkpoints kept in "
                     "WORKDIR/checkpoints; older ones are deleted.")
flags.DEFINE_integer("sample_every", _D.sample_every, "Meta-updates between sample grids "
                     "(samples/step_XXXXXX.png and TensorBoard images).")
flags.DEFINE_integer("summary_every", _D.summary_every, "Meta-updates between TensorBoard "
                     "scalars.")
flags.DEFINE_integer("grid_samples", _D.grid_samples, "Samples per cell of the sample grids.")
flags.DEFINE_list("grid_steps", [str(k) for k in _D.grid_steps], "Adaptation steps shown in "
                  "the sample grids, after the prior (paper 000's Figure 5: 1,5,10). Each "
                  "held-out class adapts on 32 of its images however many steps are shown. "
                  "Can be changed when resuming.")
flags.DEFINE_enum("preset", "auto", ["auto", *lib.PRESETS], "Settings every flag not given "
                  "on the command line takes: paper (paper 000's defaults, shown here; 20000 "
                  "second-order updates, hours on a GPU, days on a CPU), cpu (the CPU recipe: "
                  + ", ".join(f"--{k}={_show(v)}" for k, v in lib.PRESETS["cpu"].items())
                  + "; about 30 minutes on a 2-core CPU), auto: paper if TensorFlow sees a GPU, "
                  "else cpu. A resumed run keeps the settings it started with.")
common.define_distribute_flags()
common.define_verbose_flag()
FLAGS = flags.FLAGS
FIELDS = [f.name for f in dataclasses.fields(lib.MamlGanConfig)]


def resolve_settings(gpu: bool) -> tuple[lib.MamlGanConfig, str | None, str]:
    """The run's config: flags given on the command line, else the stored run's or the preset's."""
    given = {n: getattr(FLAGS, n) for n in FIELDS if FLAGS[n].present}
    given.setdefault("data_dir", common.default_data_dir())
    if "grid_steps" in given:   # numbers become ints; the rest is left for the config to refuse
        given["grid_steps"] = tuple(int(k) if k.strip().lstrip("-").isdigit() else k
                                    for k in given["grid_steps"])
    return lib.resolve(FLAGS.preset, given, lib.stored_settings(FLAGS.workdir), gpu)


def banner(config: lib.MamlGanConfig, preset: str | None, how: str, workdir: str) -> str:
    """What is about to run, where, and whether it is new or resumed."""
    latest = lib.latest_checkpoint(workdir)
    state = "new run" if latest is None else (
        f"resuming at step {latest[1]} of {config.steps} from {os.path.basename(latest[0])}")
    return (f"maml_gan: algorithm={config.algorithm} loss={config.loss} steps={config.steps} "
            f"k={config.inner_steps} N={config.meta_batch_size} B={config.batch_size} "
            f"widths={config.generator_width}/{config.discriminator_width} "
            f"(generator/discriminator) dataset={config.dataset}\n"
            f"preset: {preset or 'none'} ({how})\n"
            f"workdir: {os.path.abspath(workdir)} ({state})")


class Progress:
    """The bar ("compiling the meta-update" until the first update returns) and the estimate."""

    def __init__(self, config: lib.MamlGanConfig, warn_cpu: bool):
        self.config, self.warn_cpu = config, warn_cpu
        self.bar, self.times, self.first = None, [], None

    def event(self, name: str, step: int) -> None:
        if name == "start":
            self.bar = common.progress_bar(self.config.steps, "compiling the meta-update",
                                           initial=step)
            self.bar.refresh()
            self.times.append(time.perf_counter())

    def step(self, step: int, metrics: dict) -> None:
        self.times.append(time.perf_counter())
        if len(self.times) == 2:
            self.bar.set_description(self.config.algorithm, refresh=False)
        self.bar.update(1)
        self.bar.set_postfix({"D": f"{metrics['meta_loss/discriminator']:.3f}",
                              "G": f"{metrics['meta_loss/generator']:.3f}"}, refresh=False)
        if len(self.times) <= 4:   # the first updates show at once, however fast
            self.bar.refresh()
        if len(self.times) == 3 and self.warn_cpu:
            per_update = self.times[2] - self.times[1]
            left = self.config.steps - step
            common.say(f"no GPU visible and GPU-sized settings (preset paper): at "
                       f"{per_update:.1f} s per meta-update the {left} left take about "
                       f"{common.duration(per_update * left)}. The CPU recipe ends in about "
                       f"30 minutes: python -m trainers.maml_gan --preset=cpu "
                       f"--dataset={self.config.dataset} --workdir={FLAGS.workdir}_cpu")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def finish(result, workdir: str, steps: int) -> None:
    """The last line: where the run is and which of its files to open."""
    if result.interrupted:
        common.say(f"interrupted at step {result.step}; saved; rerun the same command to resume")
        sys.exit(common.INTERRUPTED_EXIT)
    latest = os.path.join(workdir, "samples", "latest.png")
    grid = os.path.join(workdir, "samples", f"step_{result.step:06d}.png")
    shown = [p for p in (latest, grid) if os.path.exists(p)]
    print(f"done: step {result.step} of {steps} in {os.path.abspath(workdir)}; samples: "
          f"{' and '.join(shown) if shown else 'none'}; tensorboard --logdir "
          f"{os.path.join(workdir, 'tensorboard')}")


def main(argv):
    del argv
    from tfmeta.training import Diverged
    common.apply_verbosity(FLAGS.verbose)
    progress = None
    try:
        strategy = common.make_strategy(FLAGS.distribute, FLAGS.cpu_devices)
        gpu = common.gpu_visible()
        config, preset, how = resolve_settings(gpu)
        lib.check_workdir(config, FLAGS.workdir)
        common.say(banner(config, preset, how, FLAGS.workdir))
        if strategy is not None:
            common.say(common.distribute_line(strategy))
        progress = Progress(config, warn_cpu=not gpu and preset == "paper")
        with common.StopOnSignal(on_signal=lambda: common.say(
                "stopping after the running meta-update; Ctrl-C again quits at once "
                "(the last checkpoint is kept)")) as stop:
            result = lib.run(config, FLAGS.workdir, progress.step, on_event=progress.event,
                             stop=stop.event, preset=preset, strategy=strategy)
        progress.close()
    except (ValueError, FileNotFoundError, Diverged) as e:
        if progress is not None:
            progress.close()
        sys.exit(f"error: {e}")
    finish(result, FLAGS.workdir, config.steps)


if __name__ == "__main__":
    app.run(main)
