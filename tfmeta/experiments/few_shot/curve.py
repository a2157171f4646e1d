"""Few-shot results for people: the learning curve (``curve.png``) with the published number,
the score table of several runs in Markdown, and their accuracy against time or updates.

Example:
    >>> plot_curve(read_curve(workdir), config, os.path.join(workdir, "curve.png"))
"""

from __future__ import annotations

import os

from tfmeta import io
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.config import FewShotConfig

CURVE_FIGURE = "curve.png"

# Published Omniglot accuracies, percent, by algorithm and (ways, shots): MAML (Finn et al. 2017),
# Prototypical (Snell et al. 2017), Matching (Vinyals et al. 2016), Relation (Sung et al. 2018),
# Siamese (Koch et al. 2015, as reported by Vinyals et al.).
_SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
PUBLISHED = {
    "maml": ("MAML (Finn et al. 2017)", (98.7, 99.9, 95.8, 98.9)),
    "protonet": ("Prototypical (Snell et al. 2017)", (98.8, 99.7, 96.0, 98.9)),
    "matching": ("Matching (Vinyals et al. 2016)", (98.1, 98.9, 93.8, 98.5)),
    "relation": ("Relation (Sung et al. 2018)", (99.6, 99.8, 97.6, 99.1)),
    "siamese": ("Siamese (Koch et al. 2015, by Vinyals et al.)", (97.3, 98.4, 88.2, 97.0)),
}


def published(algorithm: str, ways: int, shots: int) -> tuple[str, float] | None:
    """``(who, percent)`` published on Omniglot for the algorithm's setting, or None."""
    who, values = PUBLISHED.get(algorithm, PUBLISHED["maml"] if algorithm in (
        "fomaml", "metasgd", "reptile", "megan") else (None, ()))
    table = dict(zip(_SETTINGS, values))
    return (who, table[(ways, shots)]) if (ways, shots) in table else None


def plot_curve(points: list[dict], config: FewShotConfig, path: str) -> None:
    """``curve.png``: held-out accuracy (%) against meta-updates, 95% band, published number."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    steps = np.array([p["step"] for p in points], np.float64)
    accuracy = 100.0 * np.array([p["accuracy"] for p in points])
    ci95 = 100.0 * np.array([p["ci95"] for p in points])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.fill_between(steps, accuracy - ci95, np.minimum(accuracy + ci95, 100.0), alpha=0.25,
                    color="C0", label="95% interval")
    inner_loop = learners.get(config.algorithm).inner_loop
    adapted = "" if not inner_loop else (
        f", {points[-1].get('inner_steps', config.eval_inner_steps)} inner steps")
    ax.plot(steps, accuracy, marker="o", markersize=3, color="C0",
            label=f"held-out accuracy ({points[-1]['episodes']} episodes{adapted})")
    reference = published(config.algorithm, config.ways, config.shots)
    if config.dataset == "omniglot" and reference is not None:
        ax.axhline(reference[1], linestyle="--", color="gray",
                   label=f"published {reference[0]}: {reference[1]}%")
    name = "Omniglot" if config.dataset == "omniglot" else config.dataset
    ax.set_title(f"{name} {config.ways}-way {config.shots}-shot, {config.algorithm}")
    ax.set_xlabel("meta-updates" if inner_loop else "updates")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    io.write_figure(path, fig)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table: accuracy (%) with its 95% interval."""
    lines = ["| Run | Algorithm | Dataset | Setting | Step | Training time | Inner steps | "
             "Episodes | Accuracy (%) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        seconds = r.get("train_seconds")
        took = "-" if seconds is None else f"{seconds / 60:.1f} min"
        inner = "-" if r["inner_steps"] is None else r["inner_steps"]
        norm = {None: "", True: ", transductive", False: ", non-transductive"}[
            r.get("transductive")]
        head = (f" ({r['baseline_head']})" if r.get("baseline_head")
                else f" (adapt={r['adapt']})" if r.get("adapt") else "")
        lines.append(f"| {r['run']} | {r['algorithm']}{head} | {r['dataset']} | "
                     f"{r['ways']}-way {r['shots']}-shot{norm} | {r['step']} | {took} | {inner} | "
                     f"{r['episodes']} | {percent(r)} |")
    lines += ["", "Mean query accuracy over held-out episodes (test classes) +- 95% interval "
              "(1.96 standard errors). Training time: wall clock of the updates up to the run's "
              "last curve point (its curve.json), compilation included, evaluation excluded; "
              "'-' inner steps: a metric learner (no inner loop). Transductive: batch norm "
              "by the statistics of the episode's images (gradient learners: the queries'; "
              "metric learners: support and queries together); non-transductive: by the moving "
              "averages (metric) or the support set and one query (gradient)."]
    return "\n".join(lines) + "\n"


def percent(row: dict) -> str:
    return f"{100 * row['accuracy']:.2f} +- {100 * row['ci95']:.2f}"


def plot_comparison(rows: list[dict], curves: list[list[dict]], path: str, against: str = "time") -> None:
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
    io.write_figure(path, fig)
