"""HSML's pictures: the learning curve and the first-level clusters by function family.

Example:
    >>> write_figures(workdir, results, read_curve(workdir))   # curve.png, assignments.png
"""

from __future__ import annotations

import os

from tfmeta import io
from tfmeta.data.functions import FAMILIES


def write_figures(workdir: str, results: dict, curve: list[dict]) -> None:
    """``curve.png`` (held-out MSE by meta-update) and, for HSML, ``assignments.png``: per
    family, the mean soft assignment to each first-level cluster and the share of its tasks
    that each cluster dominates."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    title = f"{results['algorithm']}, K={results['config']['shots']}"
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    steps = [p["step"] for p in curve]
    mean, half = np.array([p["mean"] for p in curve]), np.array([p["ci95"] for p in curve])
    ax.plot(steps, mean, marker="o")
    ax.fill_between(steps, mean - half, mean + half, alpha=0.25)
    ax.set(xlabel="meta-update", ylabel=f"held-out MSE after {curve[-1]['inner_steps']} steps",
           yscale="log", title=title)
    fig.tight_layout()
    io.write_figure(os.path.join(workdir, "curve.png"), fig)
    if "assignments" not in results:
        return
    families = [f for f in FAMILIES if f in results["assignments"]]   # JSON sorts the keys
    dominant = np.array([results["dominant"][f] for f in families], float)
    tables = (np.array([results["assignments"][f] for f in families]),
              dominant / dominant.sum(axis=1, keepdims=True))
    fig, axes = plt.subplots(1, 2, figsize=(2.8 + 1.5 * tables[0].shape[1], 3.2))
    for ax, table, what in zip(axes, tables, ("mean soft assignment",
                                              "share of tasks it dominates")):
        image = ax.imshow(table, cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(table):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v <
                    table.min() + 0.6 * (table.max() - table.min()) else "black")
        ax.set_xticks(range(table.shape[1]), [f"c{k + 1}" for k in range(table.shape[1])])
        ax.set_yticks(range(len(families)), families)
        ax.set_title(what, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"HSML first-level clusters by function family ({title})", fontsize=10)
    fig.tight_layout()
    io.write_figure(os.path.join(workdir, "assignments.png"), fig)
