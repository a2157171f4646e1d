"""``python -m trainers.evaluate``: Table 1 of paper 000 for your runs.

Scores each run (adapted for ``--adapt_steps`` steps on ``--support`` images of
each of ``--tasks`` held-out tasks, ``--samples`` samples per task) and real
images with a pretrained critic (``python -m trainers.critic``), and writes a
JSON list of rows to ``--out`` and the Markdown table beside it (``.md``).

Example:
    python -m trainers.evaluate --runs=runs/maml,runs/scratch --critic=runs/critic \
        --out=runs/table1.json
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

flags.DEFINE_list("runs", None, "Run directories of trainers.maml_gan, comma-separated.",
                  required=True)
flags.DEFINE_string("critic", None, "Directory of a critic from trainers.critic, trained on "
                    "the runs' dataset.", required=True)
flags.DEFINE_string("out", None, "Output JSON file; the Markdown table goes to the same path "
                    "with .md.", required=True)
flags.DEFINE_integer("tasks", 256, "Test tasks, drawn with replacement (paper: 256). Lower it "
                     "for quick checks.")
flags.DEFINE_integer("samples", 4096, "Generated samples scored per task (paper: 4096).")
flags.DEFINE_integer("adapt_steps", 10, "Adaptation steps per task (paper: 10).")
flags.DEFINE_integer("support", 32, "Images of a task available for adaptation (each step "
                     "draws the run's batch_size of them; capped at the class size for "
                     "Omniglot's 20).")
flags.DEFINE_integer("seed", 0, "Seed of tasks, supports and latents.")
flags.DEFINE_bool("real", True, "Include the Real row (real images scored by the same code).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default as in trainers.maml_gan).")
flags.DEFINE_bool("download", True, "Let TFDS download a missing dataset.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfmeta.eval.table import EvaluationRequest, evaluate_runs, markdown_table
    from trainers.common import default_data_dir, progress_bar, write_json_atomic

    request = EvaluationRequest(runs=tuple(FLAGS.runs), critic=FLAGS.critic, tasks=FLAGS.tasks,
                                samples=FLAGS.samples, adapt_steps=FLAGS.adapt_steps,
                                support=FLAGS.support, seed=FLAGS.seed, real=FLAGS.real,
                                data_dir=FLAGS.data_dir or default_data_dir(),
                                download=FLAGS.download)
    bars = {}

    def progress(name, done, total):
        bar = bars.get(name) or bars.setdefault(name, progress_bar(total, name))
        bar.update(done - bar.n)
        if done == total:
            bar.close()   # now, so that its time is this row's alone

    try:
        rows = evaluate_runs(request, progress)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    for bar in bars.values():
        bar.close()
    write_json_atomic(FLAGS.out, rows)
    table = markdown_table(rows)
    md = os.path.splitext(FLAGS.out)[0] + ".md"
    with open(md + ".tmp", "w") as f:
        f.write(table)
    os.replace(md + ".tmp", md)
    print(table)


if __name__ == "__main__":
    app.run(main)
