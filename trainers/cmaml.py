"""``python -m trainers.cmaml``: CMAML (Song et al. 2020) or plain MAML, few-shot Omniglot.

CMAML's model is the MAML Conv-4 (the shared module) plus a gate and a private
MLP pruned per task by Algorithm 1 of paper 002 (L1 fine-tuning on the support
set, up-to-bottom pruning at --threshold); ``--algorithm=maml`` trains Conv-4
alone. Both are scored on the same held-out episodes. Writes
``WORKDIR/results.json`` (accuracy with a 95% interval; for CMAML the fraction
of private edges kept and the mask overlap of similar vs. dissimilar tasks).
Rerunning the same command resumes the run exactly; Ctrl-C saves and stops.

Example:
    python -m trainers.cmaml --workdir=runs/cmaml --algorithm=cmaml --steps=1000
    python -m trainers.cmaml --workdir=runs/maml --algorithm=maml --steps=1000
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Run directory: config.json, checkpoints/, "
                    "tensorboard/, results.json. An existing run there is resumed.",
                    required=True)
flags.DEFINE_enum("algorithm", "cmaml", ["cmaml", "maml"], "cmaml: shared Conv-4 + gate + "
                  "pruned private MLP; maml: the same Conv-4 alone.")
flags.DEFINE_enum("dataset", "omniglot", ["omniglot", "folder"], "omniglot (offline TFDS copy, "
                  "classification split, rotations as classes) or folder (--folder).")
flags.DEFINE_string("folder", "", "With --dataset=folder: a folder of class sub-folders "
                    "(70% of the classes meta-train, 30% meta-test).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or "
                    "../shared/tensorflow_datasets).")
flags.DEFINE_integer("ways", 5, "N: classes per episode.")
flags.DEFINE_integer("shots", 1, "K: support images per class.")
flags.DEFINE_integer("queries", 5, "Query images per class (training and evaluation).")
flags.DEFINE_integer("filters", 32, "Channels of Conv-4's convolutions (64 in the papers).")
flags.DEFINE_list("private_hidden", ["32", "32", "32"], "Hidden widths of the private MLP; "
                  "its layers 2..L-1 are the prunable ones.")
flags.DEFINE_integer("meta_batch_size", 4, "Episodes per meta-update.")
flags.DEFINE_integer("inner_steps", 1, "SGD steps of adaptation in meta-training.")
flags.DEFINE_float("inner_lr", 0.4, "SGD step size of adaptation.")
flags.DEFINE_float("outer_lr", 1e-3, "Adam learning rate of the meta-update.")
flags.DEFINE_integer("steps", 1000, "Meta-updates in all (CMAML: --pretrain_steps included); "
                     "may be raised when resuming.")
flags.DEFINE_integer("pretrain_steps", 200, "CMAML: first meta-updates without pruning "
                     "(the paper's MAML pre-training).")
flags.DEFINE_integer("prune_steps", 5, "Algorithm 1: proximal L1 fine-tuning steps of the "
                     "private MLP on the support set.")
flags.DEFINE_float("prune_lr", 0.1, "Step size of the L1 fine-tuning.")
flags.DEFINE_float("l1", 0.1, "Weight of the L1 penalty of the fine-tuning (>= 0).")
flags.DEFINE_float("threshold", 0.1, "gamma: a private edge of layers 2..L-1 is kept iff its "
                   "fine-tuned |weight| exceeds it and it reaches the output (>= 0).")
flags.DEFINE_integer("eval_inner_steps", 3, "SGD steps of adaptation on held-out episodes.")
flags.DEFINE_integer("eval_episodes", 200, "Held-out episodes scored (>= 200 for a tight "
                     "interval).")
flags.DEFINE_integer("sharing_pairs", 100, "CMAML: task pairs of each kind (similar, "
                     "dissimilar) whose masks are compared.")
flags.DEFINE_integer("checkpoint_every", 100, "Meta-updates between checkpoints.")
flags.DEFINE_integer("seed", 0, "Seed of the initialization and of the training episodes.")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def make_config():
    """The flags as a CmamlConfig (ValueError with one line on a bad value)."""
    from tfmeta.experiments.cmaml import CmamlConfig
    try:
        hidden = tuple(int(w) for w in FLAGS.private_hidden)
    except ValueError:
        raise ValueError(f"--private_hidden must be integers, got "
                         f"{','.join(FLAGS.private_hidden)!r}") from None
    names = ("algorithm", "dataset", "folder", "ways", "shots", "queries", "filters",
             "meta_batch_size", "inner_steps", "inner_lr", "outer_lr", "steps", "pretrain_steps",
             "prune_steps", "prune_lr", "l1", "threshold", "eval_inner_steps", "eval_episodes",
             "sharing_pairs", "checkpoint_every", "seed")
    return CmamlConfig(private_hidden=hidden, data_dir=FLAGS.data_dir or common.default_data_dir(),
                       **{n: getattr(FLAGS, n) for n in names})


def report(results: dict) -> None:
    """The result lines on stdout."""
    acc = results["accuracy"]
    print(f"{results['algorithm']}: held-out accuracy {100 * acc['mean']:.2f} +- "
          f"{100 * acc['ci95']:.2f}% ({acc['n']} episodes, {results['eval_inner_steps']} inner "
          f"steps) after {results['step']} meta-updates, {results['train_seconds']:.0f} s")
    if "sparsity" in results:
        kept, share = results["sparsity"]["kept_prunable"], results["sharing"]
        print(f"private edges kept (layers 2..L-1): {100 * kept['mean']:.1f} +- "
              f"{100 * kept['ci95']:.1f}%")
        print("mask overlap (Jaccard): " + ", ".join(
            f"{k} {share[k]['mean']:.3f} +- {share[k]['ci95']:.3f}"
            for k in ("similar", "dissimilar", "difference")))


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    bar = {}
    common.say(f"{FLAGS.algorithm}: {FLAGS.ways}-way {FLAGS.shots}-shot {FLAGS.dataset}, "
               f"{FLAGS.steps} meta-updates in {FLAGS.workdir}; loading TensorFlow...")
    common.import_tensorflow_quietly()
    try:
        config = make_config()
        from tfmeta.experiments import cmaml
        cmaml.check_workdir(config, FLAGS.workdir)

        def event(name, step):
            if name == "start":
                bar["bar"] = common.progress_bar(config.steps, "compiling", initial=step)
            elif name == "scoring":
                if "bar" in bar:
                    bar.pop("bar").close()
                common.say(f"scoring {config.eval_episodes} held-out episodes...")
            elif name == "data":
                common.say("data loaded; building the models, compiling the meta-update")

        def progress(step, metrics):
            bar["bar"].set_description(config.algorithm, refresh=False)
            bar["bar"].set_postfix(loss=f"{metrics['meta_loss/model']:.3f}", refresh=False)
            bar["bar"].update(1)

        with common.StopOnSignal(on_signal=lambda: common.say(
                "stopping after the running meta-update; Ctrl-C again quits at once")) as stop:
            results = cmaml.run(config, FLAGS.workdir, progress, on_event=event, stop=stop.event)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if results.get("interrupted"):
        common.say(f"interrupted at step {results['step']}; saved; rerun the same command "
                   "to resume")
        sys.exit(common.INTERRUPTED_EXIT)
    report(results)
    print(f"wrote {FLAGS.workdir}/results.json")


if __name__ == "__main__":
    app.run(main)
