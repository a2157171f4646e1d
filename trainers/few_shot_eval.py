r"""``python -m trainers.few_shot_eval``: held-out N-way K-shot accuracy of few-shot runs.

Each run (a ``trainers.few_shot`` run directory) is restored from its latest
checkpoint, adapted to each of ``--episodes`` held-out episodes (drawn from its
dataset's test classes, deterministically in ``--seed``) and scored on the
query images: mean accuracy with a 95% interval, as the papers report. Writes a
JSON list of rows to ``--out`` and a Markdown table beside it (``.md``), and
prints the table; ``--plot`` draws every run's held-out accuracy against its
training time (the learning curve and the final score), the comparison of
learners at equal wall-clock. Runs on the same data share one load. Metric
learners (no head) can be scored at other ways and shots than they trained
with (``--ways``, ``--shots``), a baseline run with any head and fine-tuning
(``--baseline_head``, ``--finetune_steps``, ``--finetune_lr``).

Example:
    python -m trainers.few_shot_eval --runs=runs/omniglot_5w1s,runs/omniglot_5w1s_fomaml \
        --episodes=600 --out=runs/omniglot_5w1s.json
"""

from __future__ import annotations

import os
import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402
flags.DEFINE_list("runs", None, "(required) Run directories of trainers.few_shot, "
                  "comma-separated.", required=True)
flags.DEFINE_string("out", None, "(required) Output JSON file; the Markdown table goes to the "
                    "same path with .md.", required=True)
flags.DEFINE_integer("episodes", 600, "Held-out episodes per run (papers: 600; the interval "
                     "shrinks as 1/sqrt(episodes)).")
flags.DEFINE_integer("inner_steps", None, "Inner steps of adaptation (default: each run's "
                     "--eval_inner_steps; MAML reports 3 and 10; 0 scores the initialization "
                     "unadapted).")
flags.DEFINE_integer("queries", None, "Query images per class of each episode (default: each "
                     "run's --queries).")
flags.DEFINE_integer("ways", None, "Classes per episode (default: each run's --ways; a "
                     "gradient-based run's head fixes it, metric learners take any).")
flags.DEFINE_integer("shots", None, "Support images per class (default: each run's --shots).")
flags.DEFINE_bool("transductive", None, "Batch norm at test (default: the training curve's "
                  "way). Gradient-based learners: --transductive (default) normalizes by the "
                  "statistics of all the queries (MAML's way); --notransductive each query by "
                  "those of the support set and itself alone (the Reptile paper's "
                  "non-transductive setting). Metric learners: --notransductive (default) by "
                  "the moving averages; --transductive by the statistics of the episode's "
                  "support and query images together (as they train, and as the Relation "
                  "reference code tests).")
flags.DEFINE_string("plot", None, "Also write this PNG: held-out accuracy against training "
                    "time (or --plot_against=updates) of every run (its curve.json points and "
                    "the final score).")
flags.DEFINE_enum("plot_against", "time", ["time", "updates"], "--plot's x axis: training "
                  "time (learners at equal wall-clock) or meta-updates (at equal updates, "
                  "like paper 001's Figure 6).")
flags.DEFINE_integer("seed", 0, "Seed of the episodes (the same episodes for every run of a "
                     "dataset).")
common.define_head_flags("score")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the one each run was "
                    "trained with).")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta import checks
    from tfmeta import io as tfmeta_io
    from tfmeta.experiments import few_shot as experiment
    from tfmeta.experiments.few_shot import curve

    try:
        checks.count("episodes", FLAGS.episodes)
        if FLAGS.inner_steps is not None:
            checks.count("inner_steps", FLAGS.inner_steps, minimum=0)
        for name in ("queries", "ways", "shots"):
            if getattr(FLAGS, name) is not None:
                checks.count(name, getattr(FLAGS, name), minimum=2 if name == "ways" else 1)
        runs = [r for r in FLAGS.runs if r]
        if not runs:
            raise ValueError("--runs names no run directory")
        if os.path.isdir(FLAGS.out):
            raise ValueError(f"--out={FLAGS.out} is a directory; give a .json file path")
        overrides = {"data_dir": FLAGS.data_dir} if FLAGS.data_dir else {}
        configs = [experiment.read_config(run) for run in runs]   # all readable before any work
        overrides.update(experiment.scoring_overrides(runs, configs, **common.head_values(FLAGS)))
        data: dict[tuple, object] = {}
        rows, curves = [], []
        for run, config in zip(runs, configs):
            key = (config.dataset, config.split, config.folder, config.image_size,
                   overrides.get("data_dir", config.data_dir))
            if key not in data:
                common.say(f"{run}: loading {config.folder or config.dataset}")
            setup, splits = experiment.load_run(run, splits=data.get(key), **overrides)
            data[key] = splits
            spec = experiment.learners.get(config.algorithm)
            steps = config.eval_inner_steps if FLAGS.inner_steps is None else FLAGS.inner_steps
            ways = FLAGS.ways or config.ways
            shots = FLAGS.shots or config.shots
            bar = common.progress_bar(FLAGS.episodes, os.path.basename(os.path.normpath(run)))

            def progress(done, total, bar=bar):
                bar.update(done - bar.n)

            try:
                accuracies = experiment.episode_accuracies(
                    setup, splits.test, episodes=FLAGS.episodes, inner_steps=steps,
                    seed=FLAGS.seed, ways=ways, shots=shots, queries=FLAGS.queries,
                    transductive=FLAGS.transductive, progress=progress)
            except ValueError as e:
                raise ValueError(f"{run}: {e}") from None
            finally:
                bar.close()
            score = experiment.summary(accuracies)
            used = setup.config   # with --baseline_head applied
            head = {"adapt": used.adapt} if used.adapt != "all" else {}   # ANIL
            if used.algorithm == "baseline":   # its head, and the fine-tuning's settings
                head = {k: getattr(used, k) for k in common.HEAD_FLAGS[
                    :3 if used.baseline_head == "finetune" else 1]}
            curves.append(experiment.read_curve(run))
            timed = [p for p in curves[-1] if "seconds" in p]
            transductive = (spec.inner_loop if FLAGS.transductive is None
                            else FLAGS.transductive)
            rows.append({"run": run, "algorithm": config.algorithm, "dataset": config.dataset,
                         "ways": ways, "shots": shots,
                         "queries": FLAGS.queries or config.queries,
                         "transductive": transductive,
                         "step": int(setup.learner.step.numpy()),
                         "train_seconds": timed[-1]["seconds"] if timed else None,
                         "inner_steps": steps if spec.inner_loop else None,
                         "episodes": score["episodes"], "accuracy": score["accuracy"],
                         "ci95": score["ci95"], "seed": FLAGS.seed, **head})
            common.say(f"{run}: {curve.percent(rows[-1])}%")
        tfmeta_io.write_json(FLAGS.out, rows)
        table = curve.markdown_table(rows)
        tfmeta_io.write_text(os.path.splitext(FLAGS.out)[0] + ".md", table)
        if FLAGS.plot:
            curve.plot_comparison(rows, curves, FLAGS.plot, FLAGS.plot_against)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")
    print(table)


if __name__ == "__main__":
    app.run(main)
