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
with (``--ways``, ``--shots``).

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
flags.DEFINE_string("plot", None, "Also write this PNG: held-out accuracy against training "
                    "time (or --plot_against=updates) of every run (its curve.json points and "
                    "the final score).")
flags.DEFINE_enum("plot_against", "time", ["time", "updates"], "--plot's x axis: training "
                  "time (learners at equal wall-clock) or meta-updates (at equal updates, "
                  "like paper 001's Figure 6).")
flags.DEFINE_integer("seed", 0, "Seed of the episodes (the same episodes for every run of a "
                     "dataset).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the one each run was "
                    "trained with).")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table: accuracy (%) with its 95% interval."""
    lines = ["| Run | Algorithm | Dataset | Setting | Step | Training time | Inner steps | "
             "Episodes | Accuracy (%) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        seconds = r.get("train_seconds")
        took = "-" if seconds is None else f"{seconds / 60:.1f} min"
        inner = "-" if r["inner_steps"] is None else r["inner_steps"]
        lines.append(f"| {r['run']} | {r['algorithm']} | {r['dataset']} | "
                     f"{r['ways']}-way {r['shots']}-shot | {r['step']} | {took} | {inner} | "
                     f"{r['episodes']} | {percent(r)} |")
    lines += ["", "Mean query accuracy over held-out episodes (test classes) +- 95% interval "
              "(1.96 standard errors). Training time: wall clock of the updates up to the run's "
              "last curve point (its curve.json), compilation included, evaluation excluded; "
              "'-' inner steps: a metric learner (no inner loop)."]
    return "\n".join(lines) + "\n"


def percent(row: dict) -> str:
    return f"{100 * row['accuracy']:.2f} +- {100 * row['ci95']:.2f}"


def plot(rows: list[dict], curves: list[list[dict]], path: str, against: str = "time") -> None:
    """Held-out accuracy (%) against training minutes or updates: each run's curve and score."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def x_of(point: dict):
        return point["seconds"] / 60 if against == "time" else point["step"]

    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for i, (row, curve) in enumerate(zip(rows, curves)):
        color = f"C{i % 10}"
        timed = [p for p in curve if "seconds" in p] if against == "time" else curve
        label = f"{row['algorithm']} ({os.path.basename(os.path.normpath(row['run']))})"
        if timed:
            ax.plot([x_of(p) for p in timed], [100 * p["accuracy"] for p in timed],
                    color=color, alpha=0.6, marker="o", markersize=2, label=label)
            label = None
        final = {"seconds": row.get("train_seconds"), "step": row["step"]}
        if against == "updates" or final["seconds"] is not None:
            ax.errorbar([x_of(final)], [100 * row["accuracy"]],
                        yerr=[100 * row["ci95"]], color=color, marker="*", markersize=10,
                        capsize=3, label=label)
    first = rows[0]
    what = "training time" if against == "time" else "meta-updates"
    ax.set_title(f"held-out {first['ways']}-way {first['shots']}-shot accuracy against "
                 f"{what}\n(lines: curve points; stars: {first['episodes']} episodes, "
                 "95% interval)", fontsize=9)
    ax.set_xlabel("training time (minutes, this machine)" if against == "time"
                  else "meta-updates (updates: metric learners)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta import checks
    from tfmeta import io as tfmeta_io
    from tfmeta.experiments import few_shot as lib

    try:
        checks.count("episodes", FLAGS.episodes, flag=True)
        if FLAGS.inner_steps is not None:
            checks.count("inner_steps", FLAGS.inner_steps, minimum=0, flag=True)
        for name in ("queries", "ways", "shots"):
            if getattr(FLAGS, name) is not None:
                checks.count(name, getattr(FLAGS, name), minimum=2 if name == "ways" else 1,
                             flag=True)
        runs = [r for r in FLAGS.runs if r]
        if not runs:
            raise ValueError("--runs names no run directory")
        if os.path.isdir(FLAGS.out):
            raise ValueError(f"--out={FLAGS.out} is a directory; give a .json file path")
        overrides = {"data_dir": FLAGS.data_dir} if FLAGS.data_dir else {}
        configs = [lib.read_config(run) for run in runs]   # every run readable before any work
        data: dict[tuple, object] = {}
        rows, curves = [], []
        for run, config in zip(runs, configs):
            key = (config.dataset, config.split, config.folder, config.image_size,
                   overrides.get("data_dir", config.data_dir))
            if key not in data:
                common.say(f"{run}: loading {config.folder or config.dataset}")
            setup, splits = lib.load_run(run, splits=data.get(key), **overrides)
            data[key] = splits
            steps = config.eval_inner_steps if FLAGS.inner_steps is None else FLAGS.inner_steps
            ways = FLAGS.ways or config.ways
            shots = FLAGS.shots or config.shots
            bar = common.progress_bar(FLAGS.episodes, os.path.basename(os.path.normpath(run)))

            def progress(done, total, bar=bar):
                bar.update(done - bar.n)

            try:
                accuracies = lib.episode_accuracies(setup, splits.test, episodes=FLAGS.episodes,
                                                    steps=steps, seed=FLAGS.seed,
                                                    ways=ways, shots=shots,
                                                    queries=FLAGS.queries, progress=progress)
            except ValueError as e:
                raise ValueError(f"{run}: {e}") from None
            finally:
                bar.close()
            score = lib.summary(accuracies)
            curves.append(lib.read_curve(run))
            timed = [p for p in curves[-1] if "seconds" in p]
            rows.append({"run": run, "algorithm": config.algorithm, "dataset": config.dataset,
                         "ways": ways, "shots": shots,
                         "queries": FLAGS.queries or config.queries,
                         "step": int(setup.learner.step.numpy()),
                         "train_seconds": timed[-1]["seconds"] if timed else None,
                         "inner_steps": None if config.metric else steps,
                         "episodes": score["episodes"], "accuracy": score["accuracy"],
                         "ci95": score["ci95"], "seed": FLAGS.seed})
            common.say(f"{run}: {percent(rows[-1])}%")
        tfmeta_io.write_json(FLAGS.out, rows)
        table = markdown(rows)
        tfmeta_io.write_text(os.path.splitext(FLAGS.out)[0] + ".md", table)
        if FLAGS.plot:
            plot(rows, curves, FLAGS.plot, FLAGS.plot_against)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {e}")
    print(table)


if __name__ == "__main__":
    app.run(main)
