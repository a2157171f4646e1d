"""Draws fidelity.md's figure of every learner's held-out accuracy against training minutes.

    python docs/results/fidelity_figure.py [--out=docs/results/fidelity_all_minutes.png]

The points are those fidelity.md quotes, kept in fidelity_curves.json beside this script; a
point without its own minutes is placed at its updates times the run's mean minutes per update.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))   # the project root

from tfmeta.experiments.few_shot.curve import plot_comparison  # noqa: E402


def point_minutes(run: dict) -> list[float]:
    """Minutes of each curve point: quoted, else updates at the run's mean rate."""
    if "point_minutes" in run:
        return list(run["point_minutes"])
    per_update = run["minutes"] / run["updates"]
    return [updates * per_update for updates, _ in run["points"]]


def rows_and_curves(runs: list[dict]) -> tuple[list[dict], list[list[dict]]]:
    """plot_comparison's rows (600-episode scores) and curves (100-episode points)."""
    rows, curves = [], []
    for run in runs:
        rows.append({"algorithm": run["learner"], "run": run["run"], "step": run["updates"],
                     "train_seconds": 60 * run["minutes"], "accuracy": run["score"] / 100,
                     "ci95": run["ci95"] / 100, "ways": 5, "shots": 1, "episodes": 600})
        curves.append([{"seconds": 60 * minutes, "step": updates, "accuracy": accuracy / 100}
                       for minutes, (updates, accuracy) in zip(point_minutes(run), run["points"])])
    return rows, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", default=os.path.join(HERE, "fidelity_curves.json"),
                        help="the runs' points (default: fidelity_curves.json beside this script)")
    parser.add_argument("--out", default=os.path.join(HERE, "fidelity_all_minutes.png"),
                        help="the figure (default: fidelity_all_minutes.png beside this script)")
    args = parser.parse_args()
    with open(args.curves) as f:
        runs = json.load(f)["runs"]
    rows, curves = rows_and_curves(runs)
    plot_comparison(rows, curves, args.out, "time")
    print(f"{len(runs)} runs drawn to {args.out}")


if __name__ == "__main__":
    main()
