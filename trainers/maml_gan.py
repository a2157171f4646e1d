"""``python -m trainers.maml_gan``: meta-train a GAN for few-shot image generation.

Paper 000 (MAML-GAN): a DCGAN is meta-trained on the meta-train classes of a
dataset so that a few steps on images of an unseen class yield a generator for
it. ``--preset`` picks the settings: ``paper`` (paper 000's; for a GPU) or
``cpu`` (the CPU recipe, 8-45 minutes on 2 cores); ``auto`` (default) is
``paper`` when TensorFlow sees a GPU and ``cpu`` otherwise. A flag given on the
command line always wins. Rerunning the same command resumes the run in
``--workdir`` from its last checkpoint with the settings it started with (same
step counter, optimizer state, weights and task stream). Ctrl-C (or SIGTERM)
checkpoints after the running meta-update and exits with status 130. A run whose
discriminator wins the meta-game (its meta-loss below 0.2 over 300 updates, with the
cross-entropy losses) says so once, in a warning line above the bar.

Example:
    python -m trainers.maml_gan --dataset=mnist --workdir=runs/mnist_maml
"""

from __future__ import annotations

import collections
import os

from trainers import shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import maml_gan as experiment  # noqa: E402


def describe(config: experiment.MamlGanConfig) -> str:
    inner, outer = config.inner_lrs(), config.outer_lrs()
    step = config.algorithm == "reptile" and config.reptile_outer == "sgd"   # one step size
    shared = (f" reptile_step_size={config.reptile_step_size:g}" if step else
              f" reptile_outer={config.reptile_outer}" if config.algorithm == "reptile" else "")
    outer = "" if step else f" outer_lr={outer['generator']:g}/{outer['discriminator']:g}"
    if config.discriminator_meta_steps is not None:
        outer += f" (discriminator held after {config.discriminator_meta_steps} meta-updates)"
    if config.discriminator_loss_floor is not None:
        outer += (f" (discriminator held while its meta-loss averages below "
                  f"{config.discriminator_loss_floor:g})")
    order = (f" (first order for the first {config.first_order_steps} meta-updates)"
             if config.first_order_steps else "")
    if config.first_order_player != "none":
        order += f" (the {config.first_order_player}'s meta-gradient first order)"
    return (f"maml_gan: algorithm={config.algorithm}{order} loss={config.loss} "
            f"steps={config.steps} "
            f"k={config.inner_steps} N={config.meta_batch_size} B={config.batch_size} "
            f"dataset={config.dataset}{shared} (outer: {config.outer_lr_schedule}); "
            f"generator/discriminator: "
            f"widths={config.generator_width}/{config.discriminator_width} "
            f"{'(discriminator spectrally normalized) ' if config.spectral_norm else ''}"
            f"{'' if config.algorithm == 'metasgd' else 'inner=' + config.inner_optimizer + ' '}"
            f"inner_lr={inner['generator']:g}/{inner['discriminator']:g}{outer}"
            f"{' (inner steps scaled per layer, meta-learned)' if config.layer_scales else ''}"
            + _adapts(config.adapt_scales()))


def _adapts(scales: dict) -> str:
    g, d = scales["generator"], scales["discriminator"]
    if g == d:
        return "" if g == 1 else (f"; adapts after meta-training at {g:g}x the inner rates "
                                  "(--adapt_lr_scale)")
    return (f"; adapts after meta-training at {g:g}x/{d:g}x the inner rates "
            "(--adapt_lr_scale, --discriminator_adapt_lr_scale)")


def report(result, config: experiment.MamlGanConfig, workdir: str) -> str:
    """The last line: where the run is and which of its files to open."""
    latest = os.path.join(workdir, "samples", "latest.png")
    grid = os.path.join(workdir, "samples", f"step_{result.step:06d}.png")
    shown = [p for p in (latest, grid) if os.path.exists(p)]
    held = ("" if "discriminator_held" not in result else
            f"; the discriminator's initialization held in {int(result['discriminator_held'])} "
            f"updates (--discriminator_loss_floor)")
    return (f"done: step {result.step} of {config.steps} in {os.path.abspath(workdir)}{held}; "
            f"samples: {' and '.join(shown) if shown else 'none'}; tensorboard --logdir "
            f"{os.path.join(workdir, 'tensorboard')}")


def cpu_hint(config, preset: str | None, workdir: str) -> str | None:
    if preset != "paper":
        return None
    return ("These are GPU-sized settings (preset paper); the CPU recipe ends in about 30 "
            f"minutes: python -m trainers.maml_gan --preset=cpu --dataset={config.dataset} "
            f"--workdir={workdir}_cpu")


class CollapseWatch:
    """Says once when the discriminator wins the meta-game (a collapse, not a slow start).

    Its meta-loss (after the inner steps, real and fake terms) averaged over the last
    ``window`` updates below ``below``: on Omniglot the CPU preset's collapsed run crossed
    0.2 about 1800 updates in, when its 10 steps read 0.002; its healthy runs' stay above
    0.33 over any 300 updates, and MNIST's runs never warn (docs/results/omniglot_maml_gan.md).
    The GAN losses whose
    discriminator term is a cross-entropy only (not WGAN-GP's critic values).
    """

    def __init__(self, config: experiment.MamlGanConfig, window: int = 300,
                 below: float = 0.2):
        self.on = config.loss in ("non-saturating", "minimax")
        self.below, self.said = below, False
        self.losses = {p: collections.deque(maxlen=window)
                       for p in ("discriminator", "generator")}

    def __call__(self, step: int, metrics) -> str | None:
        if not self.on or self.said:
            return None
        for player, kept in self.losses.items():
            if f"meta_loss/{player}" in metrics:
                kept.append(float(metrics[f"meta_loss/{player}"]))
        means = {p: sum(v) / len(v) if v else float("nan") for p, v in self.losses.items()}
        kept = self.losses["discriminator"]
        if len(kept) < kept.maxlen or not means["discriminator"] < self.below:
            return None
        self.said = True
        return (f"warning: the discriminator is winning at step {step}: its meta-loss averaged "
                f"{means['discriminator']:.4f} over the last {kept.maxlen} updates (the "
                f"generator's {means['generator']:.2f}); the generator has likely collapsed "
                f"(the run's samples/ shows it). On Omniglot one of four CPU-preset runs "
                f"did; another --seed or --discriminator_outer_lr=2.5e-4 avoided it "
                f"(docs/results/omniglot_maml_gan.md)")


TRAINER = shell.Trainer(
    name="maml_gan", doc=__doc__, config=experiment.MamlGanConfig, presets=experiment.PRESETS,
    default_preset="auto", auto=experiment.AUTO,
    run=lambda config, workdir, hooks, preset, strategy: experiment.run(
        config, workdir, hooks.step, on_event=hooks.event, stop=hooks.stop, preset=preset,
        strategy=strategy),
    describe=describe, report=report, distribute=True, workdir="runs/maml_gan",
    workdir_help="config.json, checkpoints/, tensorboard/, samples/",
    check_workdir=experiment.check_workdir,
    latest_checkpoint=experiment.latest_checkpoint,
    stored=experiment.stored_settings,
    postfix={"D": "meta_loss/discriminator", "G": "meta_loss/generator"}, cpu_hint=cpu_hint,
    watch=CollapseWatch)
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
