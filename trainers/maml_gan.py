"""``python -m trainers.maml_gan``: meta-train a GAN for few-shot image generation.

Paper 000 (MAML-GAN): a DCGAN is meta-trained on the meta-train classes of a
dataset so that a few steps on images of an unseen class yield a generator for
it. Defaults are the paper's settings. Rerunning the same command resumes the
run in ``--workdir`` from its last checkpoint (same step counter, optimizer
state, weights and task stream).

Example:
    python -m trainers.maml_gan --dataset=mnist --workdir=runs/mnist_maml
"""

from __future__ import annotations

import sys

from absl import app, flags

from tfmeta.experiments import maml_gan as lib

_D = lib.MamlGanConfig()
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
FLAGS = flags.FLAGS


def config_from_flags() -> lib.MamlGanConfig:
    from trainers.common import default_data_dir
    names = [f.name for f in lib.dataclasses.fields(lib.MamlGanConfig)]
    values = {n: getattr(FLAGS, n) for n in names}
    if values["inner_steps"] is None:
        values["inner_steps"] = 1 if FLAGS.algorithm == "metasgd" else 10
    values["data_dir"] = values["data_dir"] or default_data_dir()
    # Numbers become ints; anything else is left for the config to refuse, naming the flag.
    values["grid_steps"] = tuple(int(k) if k.strip().lstrip("-").isdigit() else k
                                 for k in values["grid_steps"])
    return lib.MamlGanConfig(**values)


def main(argv):
    del argv
    from tfmeta.training import Diverged
    from trainers.common import progress_bar
    try:
        config = config_from_flags()
        lib.check_workdir(config, FLAGS.workdir)
        bar = None

        def progress(step, metrics):
            nonlocal bar
            if bar is None:
                bar = progress_bar(config.steps, config.algorithm, initial=step - 1)
            bar.update(1)
            bar.set_postfix({"D": f"{metrics['meta_loss/discriminator']:.3f}",
                             "G": f"{metrics['meta_loss/generator']:.3f}"}, refresh=False)

        lib.run(config, FLAGS.workdir, progress)
        if bar is not None:
            bar.close()
    except (ValueError, FileNotFoundError, Diverged) as e:
        sys.exit(f"error: {e}")
    print(f"run in {FLAGS.workdir}: samples in {FLAGS.workdir}/samples/latest.png")


if __name__ == "__main__":
    app.run(main)
