"""``python -m trainers.evaluate``: Table 1 of paper 000 for your runs.

Scores each run or export (adapted for ``--adapt_steps`` steps on ``--support_size``
images of each of ``--tasks`` held-out tasks, ``--samples`` samples per task)
and real images with a pretrained critic (``python -m trainers.critic``), and
writes a JSON list of rows to ``--out`` (each with its scores task by task,
``per_task``: rows of one ``--seed`` compare pairwise with
``tfmeta.eval.paired_difference``) and the Markdown table beside it (``.md``).
With several ``--adapt_steps`` or ``--checkpoints=all`` it also draws accuracy
and NLL against meta-updates, one line per step count (``.png`` beside it).

Example:
    python -m trainers.evaluate --runs=runs/maml,runs/scratch --critic=runs/critic \
        --out=runs/table1.json
    python -m trainers.evaluate --exports=exports/mnist_gan/1 --critic=runs/critic \
        --tasks=48 --samples=256 --out=runs/served.json    # what a served request gets
    python -m trainers.evaluate --runs=runs/fomaml --critic=runs/critic --checkpoints=all \
        --adapt_steps=1,5,10,20,40,80 --tasks=32 --samples=256 --noreal --out=runs/curves.json
"""

from __future__ import annotations

import os
import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_list("runs", [], "Run directories of trainers.maml_gan, comma-separated "
                  "(this or --exports is required).")
flags.DEFINE_list("exports", [], "Version folders of export.saved_model exports of MAML-GAN "
                  "runs (e.g. exports/mnist_gan/1), comma-separated: each is scored through "
                  "its own served adaptation (adapt_and_generate_from_z) at the steps fixed "
                  "in it, as a served request gets it; row '<algorithm> (served)'. The run it "
                  "was exported from must still exist (its dataset).")
flags.DEFINE_string("critic", None, "(required) Directory of a critic from trainers.critic, "
                    "trained on the runs' dataset.", required=True)
flags.DEFINE_string("out", None, "(required) Output JSON file; the Markdown table goes to the "
                    "same path with .md.", required=True)
flags.DEFINE_integer("tasks", 256, "Test tasks, drawn with replacement (paper: 256). Lower it "
                     "for quick checks.", lower_bound=1)
flags.DEFINE_integer("samples", 4096, "Generated samples scored per task (paper: 4096).",
                     lower_bound=1)
flags.DEFINE_list("adapt_steps", ["10"], "Adaptation steps per task (paper: 10); several, "
                  "comma-separated (e.g. 1,5,10,20,40,80), score each task at every count "
                  "along one adaptation to the largest.")
flags.DEFINE_string("checkpoints", "latest", "latest, all, or meta-update counts separated "
                    "by commas (e.g. 900,3600): score each run's latest checkpoint, every "
                    "checkpoint it kept (train with --keep_checkpoints and --checkpoint_every "
                    "to keep them: how quality grows with meta-updates), or those named.")
flags.DEFINE_integer("support_size", 32, "Number of images of a task available for "
                     "adaptation (a count, not a folder; each step draws the run's batch_size "
                     "of them; capped at the class size, e.g. Omniglot's 20).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of tasks, supports and latents.")
flags.DEFINE_bool("real", True, "Include the Real row (real images scored by the same code).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, else "
                    "../shared/tensorflow_datasets next to the project if present, else "
                    "TFDS's own default).")
flags.DEFINE_bool("download", True, "Let TFDS download a missing dataset.")
flags.DEFINE_float("adapt_lr_scale", None, "Adapt every run at this multiple of the inner "
                   "rates it was meta-trained with, in place of its own --adapt_lr_scale "
                   "(unset: the run's). Not for exports, which adapt at the rate fixed in them.")
flags.DEFINE_float("discriminator_adapt_lr_scale", None, "The same for the discriminator alone, "
                   "in place of the run's own --discriminator_adapt_lr_scale (unset: the run's; "
                   "--adapt_lr_scale=1 --discriminator_adapt_lr_scale=1: the meta-trained rates).")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta import io
    from tfmeta.eval import markdown_table
    from tfmeta.experiments.maml_gan.evaluate import EvaluationRequest, evaluate_runs
    from tfmeta.experiments.maml_gan.figures import quality_curves
    from trainers.common import default_data_dir, progress_bar

    bars = {}

    def progress(name, done, total):
        bar = bars.get(name) or bars.setdefault(name, progress_bar(total, name))
        bar.update(done - bar.n)
        if done == total:
            bar.close()   # now, so that its time is this row's alone

    try:
        adapt_steps = _step_counts(FLAGS.adapt_steps)
        request = EvaluationRequest(
            runs=tuple(FLAGS.runs), exports=tuple(FLAGS.exports), critic=FLAGS.critic,
            tasks=FLAGS.tasks, samples=FLAGS.samples, adapt_steps=adapt_steps,
            checkpoints=FLAGS.checkpoints, support_size=FLAGS.support_size, seed=FLAGS.seed,
            real=FLAGS.real, data_dir=FLAGS.data_dir or default_data_dir(), download=FLAGS.download,
            adapt_lr_scale=FLAGS.adapt_lr_scale,
            discriminator_adapt_lr_scale=FLAGS.discriminator_adapt_lr_scale)
        rows = evaluate_runs(request, progress)
        for bar in bars.values():
            bar.close()
        io.write_json(FLAGS.out, rows)
        table = markdown_table(rows)
        io.write_text(os.path.splitext(FLAGS.out)[0] + ".md", table)
        if len(adapt_steps) > 1 or FLAGS.checkpoints == "all" or "," in FLAGS.checkpoints:
            quality_curves(rows, os.path.splitext(FLAGS.out)[0] + ".png")
    except (ValueError, OSError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")
    print(table)


def _step_counts(values: list[str]) -> tuple:
    try:
        counts = tuple(int(v) for v in values)
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise ValueError(f"`adapt_steps`={','.join(values)}; expected integers >= 1, "
                         f"comma-separated")
    return counts


if __name__ == "__main__":
    app.run(main)
