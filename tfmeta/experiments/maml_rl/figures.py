"""The MAML-RL figure: return against policy-gradient steps (the paper's Figures 5 and 6),
MAML's mean-action rollouts before and after adaptation for a few tasks (paths in the plane for
navigation; the running mean forward velocity for the half-cheetah, the goal dashed), and the
training curve.

Example:
    >>> write_figure("runs/nav/maml_rl.png", results, paths, curve)
"""

from __future__ import annotations

from tfmeta import io

LABELS = {"maml": "MAML", "pretrain": "pretrained", "random": "random init"}
COLORS = {"maml": "C0", "pretrain": "C2", "random": "C1"}


def write_figure(path: str, results: dict, paths: dict, curve: list[dict]) -> None:
    """Three panels: returns after 0..k steps, MAML's traces, held-out return while training."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    for name, returns in results["returns"].items():
        steps = sorted(returns, key=int)
        ci = results["returns_ci95"][name]
        sizes = results["step_sizes"][name]
        label = LABELS[name] + (f" (first step {sizes[0]:g})" if sizes else "")
        ax.errorbar([int(k) for k in steps], [returns[k] for k in steps],
                    yerr=[ci[k] for k in steps], marker="o", capsize=3, label=label,
                    color=COLORS[name])
    paper = results.get("paper_maml")
    if paper:
        ax.plot([int(k) for k in paper], list(paper.values()), "k--", alpha=0.5,
                label="MAML (paper)")
    ax.set_xlabel("number of gradient steps")
    ax.set_ylabel("average return")
    ax.set_title(f"{paths.get('title', '2D navigation')}, {results['tasks']} held-out tasks")
    ax.legend(fontsize=8)

    _draw_traces(axes[1], paths, plt.rcParams["axes.prop_cycle"].by_key()["color"])

    ax = axes[2]
    config = results.get("config", {})
    shared = config.get("eval_lr") or config.get("inner_lr")
    of = f" of {shared:g}" if shared else ""
    for name in ("maml", "pretrain"):
        points = [p for p in curve if name in p]
        if points:
            line, = ax.plot([p["minutes"] for p in points], [p[name][1] for p in points],
                            marker=".", color=COLORS[name], label=f"{LABELS[name]}, 1 step{of}")
            ax.plot([p["minutes"] for p in points], [p[name][0] for p in points], ":",
                    color=line.get_color(), label=f"{LABELS[name]}, 0 steps")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("held-out return")
    ax.set_title(f"while training ({config['meta_batch_size']} held-out tasks, one shared "
                 "step)" if "meta_batch_size" in config else "while training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    io.write_figure(path, fig)


def _draw_traces(ax, paths: dict, colors: list) -> None:
    """Each task's trace after 0..k steps: a path (``[T + 1, 2]``, the goal a star) or one
    quantity against time (``[T, 1]``, the goal a dashed line)."""
    for g, goal in enumerate(paths["goals"]):
        color = colors[g % len(colors)]
        for k, trace in paths["steps"].items():
            style = dict(color=color, linestyle=":" if k == "0" else "-",
                         alpha=0.35 + 0.65 * int(k) / max(len(paths["steps"]) - 1, 1),
                         label=f"{k} steps" if g == 0 else None)
            if trace.shape[-1] == 2:
                ax.plot(trace[g, :, 0], trace[g, :, 1], **style)
            else:
                ax.plot(trace[g, :, 0], **style)
        if len(goal) == 2:
            ax.plot(*goal, marker="*", markersize=14, color=color)
        else:
            ax.axhline(goal[0], color=color, linestyle="--", linewidth=0.8)
    if len(paths["goals"][0]) == 2:
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.set_xlabel("time step")
        ax.set_ylabel("mean forward velocity so far")
    ax.set_title(paths.get("label", "MAML mean paths after 0..k steps (stars: goals)"))
    ax.legend(fontsize=8)
