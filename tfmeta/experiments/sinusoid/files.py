"""The sinusoid experiment's files: ``results.json`` and the paper's figure ``sinusoid.png``.

Example:
    >>> save(run(SinusoidConfig(steps=100)), "/tmp/sinusoid")
"""

from __future__ import annotations

import os

from tfmeta import io

RESULTS_FILE = "results.json"
FIGURE_FILE = "sinusoid.png"


def save(results: dict, workdir: str) -> dict:
    """Writes the figure and ``results.json`` (without the figure's data) into ``workdir``.

    Returns the results as written.
    """
    os.makedirs(workdir, exist_ok=True)
    plot(results, os.path.join(workdir, FIGURE_FILE))
    written = {k: v for k, v in results.items() if k != "figure"}
    io.write_json(os.path.join(workdir, RESULTS_FILE), written)
    return written


def plot(results: dict, path: str) -> None:
    """The paper's figure: true curve, support points, pre-update, 1 and k steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_data = results["figure"]
    k = max(fig_data["maml"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, name, title in ((axes[0], "maml", "MAML"), (axes[1], "pretrain", "pre-trained")):
        ax.plot(fig_data["x"], fig_data["true"], color="red", lw=2, label="ground truth")
        ax.scatter(*fig_data["support"], marker="^", color="purple", zorder=5,
                   label="K points used for gradient")
        styles = {0: ("--", "pre-update"), 1: ("-", "1 grad step"), k: ("-.", f"{k} grad steps")}
        for steps, (style, label) in styles.items():
            ax.plot(fig_data["x"], fig_data[name][steps], style, color="green", lw=1.5,
                    alpha=0.4 + 0.6 * steps / k, label=label)
        mse = results[name]["mse"]
        ax.set_title(f"{title}, K={results['config']['shots']}: MSE "
                     f"{mse['0']:.2f} / {mse['1']:.2f} / {mse[str(k)]:.2f} (0/1/{k} steps)")
        ax.set_xlabel("x")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("y")
    fig.tight_layout()
    io.write_figure(path, fig)
