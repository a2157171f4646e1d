"""``python -m trainers.sinusoid``: MAML vs. pre-training on sinusoid regression.

Reproduces section 5.1 of the MAML paper (Finn et al. 2017): amplitude
U[0.1, 5.0], phase U[0, pi], x U[-5, 5], a 1-40-40-1 ReLU network, K shots,
inner SGD lr 0.01, meta-batch 25, Adam outer lr 1e-3. Writes
``WORKDIR/results.json`` (held-out MSE after 0, 1 and 10 steps with 95%
intervals, for MAML and pre-training) and ``WORKDIR/sinusoid.png``.

Example:
    python -m trainers.sinusoid --workdir=/tmp/sinusoid --steps=10000 --shots=10
"""

from __future__ import annotations

import os
import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Output directory for results.json and "
                    "sinusoid.png.",
                    required=True)
flags.DEFINE_integer("steps", 70000, "Meta-updates of MAML (and updates of the pre-training "
                     "baseline, which gets the same number).", lower_bound=1)
flags.DEFINE_integer("shots", 10, "K: support points per task (the paper uses 5 or 10).",
                     lower_bound=1)
flags.DEFINE_integer("meta_batch_size", 25, "Tasks per meta-update.", lower_bound=1)
flags.DEFINE_float("inner_lr", 0.01, "SGD step size of adaptation (training and evaluation).")
flags.DEFINE_float("outer_lr", 1e-3, "Adam learning rate of the meta-update and pre-training.")
flags.DEFINE_integer("eval_tasks", 600, "Held-out tasks scored (>= 100 for tight intervals).",
                     lower_bound=2)
flags.DEFINE_integer("eval_steps", 10, "Fine-tuning steps scored at evaluation.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of initialization and of the task stream.")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def plot(results: dict, path: str) -> None:
    """The paper's figure: true curve, support points, pre-update, 1 and k steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfmeta import io

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
    try:
        io.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    finally:
        plt.close(fig)


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta import io
    from tfmeta.experiments.sinusoid import SinusoidConfig, run

    try:
        config = SinusoidConfig(steps=FLAGS.steps, shots=FLAGS.shots,
                                meta_batch_size=FLAGS.meta_batch_size, inner_lr=FLAGS.inner_lr,
                                outer_lr=FLAGS.outer_lr, eval_tasks=FLAGS.eval_tasks,
                                eval_steps=FLAGS.eval_steps, seed=FLAGS.seed)
    except ValueError as e:
        sys.exit(f"error: {e}")
    common.refuse_file_workdir(FLAGS.workdir)
    bars = {}

    def progress(phase, step, metrics):
        if phase not in bars:
            for bar in bars.values():
                bar.close()
            bars[phase] = common.progress_bar(config.steps, phase)
        bars[phase].update(1)
        if step % 50 == 0:
            bars[phase].set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)

    results = run(config, progress)
    for bar in bars.values():
        bar.close()
    plot(results, os.path.join(FLAGS.workdir, "sinusoid.png"))
    results.pop("figure")
    io.write_json(os.path.join(FLAGS.workdir, "results.json"), results)
    for name in ("maml", "pretrain"):
        mse, ci = results[name]["mse"], results[name]["mse_ci95"]
        print(f"{name:9s} held-out MSE  " + "  ".join(
            f"{k} steps: {mse[k]:.3f} ± {ci[k]:.3f}" for k in mse))
    print(f"wrote {FLAGS.workdir}")


if __name__ == "__main__":
    app.run(main)
