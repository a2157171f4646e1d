r"""``python -m trainers.hsml``: HSML against MAML on heterogeneous regression (paper 002).

Meta-trains a 1-40-40-1 regressor on tasks drawn from four families of
functions -- sinusoids, lines, quadratics and cubics (HSML, Yao et al. 2019) --
with HSML (``--algorithm=hsml``: a task representation from the support set,
hierarchical soft clustering, a gate that tailors the initialization per task)
or plain MAML with the same settings (``--algorithm=maml``). The defaults are
the HSML code's toy-group settings (5 inner steps of 0.001, 70,000
meta-updates); ``--steps`` sets the budget. Every ``--eval_every``
meta-updates it scores the first ``--curve_tasks`` held-out tasks
(``curve.json``, ``curve.png``); at the end ``results.json`` holds the MSE
after 0..``--eval_steps`` inner steps on ``--eval_tasks`` held-out tasks
(mean and 95% interval, overall and per family) and, for HSML, each family's
mean soft assignment to the first-level clusters and how many of its tasks
each one dominates (``assignments.png``). Rerunning a finished run evaluates
it again.
Held-out tasks are the same for every run of a ``--seed``, so two runs
compare on the same tasks. Rerunning in the same ``--workdir`` resumes from
the last checkpoint; Ctrl-C (or SIGTERM) checkpoints after the running
meta-update and exits with status 130.

Example:
    python -m trainers.hsml --algorithm=hsml --shots=5 --steps=10000 --workdir=runs/hsml_5shot
    python -m trainers.hsml --algorithm=maml --shots=5 --steps=10000 --workdir=runs/maml_5shot
"""

from __future__ import annotations

import os
import sys
import time

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

with common.native_logs_filtered():
    from tfmeta.experiments import hsml as lib  # noqa: E402
    from tfmeta.algorithms.hsml import ACTIVATIONS, GATES  # noqa: E402

_D = lib.HSMLConfig()
flags.DEFINE_string("workdir", None, "(required) Run directory: config, checkpoints, curve, "
                    "results.json and figures; an existing run there is resumed.",
                    required=True)
flags.DEFINE_enum("algorithm", _D.algorithm, lib.ALGORITHMS,
                  "hsml: MAML from a per-task gated initialization; maml: the baseline.")
flags.DEFINE_integer("shots", _D.shots, "K: support points per task (the paper: 5 or 10).")
flags.DEFINE_integer("query", _D.query, "Query points of a training task.")
flags.DEFINE_integer("steps", _D.steps, "Total meta-updates of the run (the paper: 70,000).")
flags.DEFINE_integer("meta_batch_size", _D.meta_batch_size, "Tasks per meta-update.")
flags.DEFINE_integer("inner_steps", _D.inner_steps, "Inner SGD steps in meta-training.")
flags.DEFINE_float("inner_lr", _D.inner_lr, "Inner SGD step size (training and evaluation).")
flags.DEFINE_float("outer_lr", _D.outer_lr, "Adam learning rate of the meta-update.")
flags.DEFINE_float("clip", _D.clip, "Clip each outer gradient entry to [-clip, clip] (the "
                   "HSML code: 3); 0 turns clipping off.")
flags.DEFINE_bool("first_order", _D.first_order, "First-order meta-gradient (FOMAML).")
flags.DEFINE_bool("jit_compile", _D.jit_compile, "XLA-compile the meta-update (same numbers "
                  "to float precision, several times faster on a CPU).")
flags.DEFINE_list("hidden", [str(h) for h in _D.hidden], "Hidden layer widths of the "
                  "regressor, e.g. 40,40.")
flags.DEFINE_enum("activation", _D.activation, sorted(ACTIVATIONS),
                  "Activation of the regressor and of HSML's autoencoder.")
flags.DEFINE_integer("task_hidden", _D.task_hidden, "HSML: size of the task representation "
                     "and of the cluster nodes.")
flags.DEFINE_integer("encoder_hidden", _D.encoder_hidden, "HSML: the autoencoder's middle "
                     "layer.")
flags.DEFINE_list("clusters", [str(k) for k in _D.clusters], "HSML: clusters per level, "
                  "bottom up (the paper: 4,2).")
flags.DEFINE_float("sigma", _D.sigma, "HSML: length scale of the soft cluster assignment.")
flags.DEFINE_float("reconstruction_weight", _D.reconstruction_weight, "HSML: weight xi of "
                   "the autoencoder's reconstruction loss in the meta-loss.")
flags.DEFINE_enum("gate", _D.gate, list(GATES), "HSML: a gate per parameter entry "
                  "(the paper's code) or per output unit.")
flags.DEFINE_integer("eval_tasks", _D.eval_tasks, "Held-out tasks of the final evaluation.")
flags.DEFINE_integer("eval_query", _D.eval_query, "Query points of a held-out task.")
flags.DEFINE_integer("eval_steps", _D.eval_steps, "Inner steps scored at evaluation.")
flags.DEFINE_integer("eval_every", _D.eval_every, "Meta-updates between curve points.")
flags.DEFINE_integer("curve_tasks", _D.curve_tasks, "Held-out tasks of a curve point.")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Meta-updates between "
                     "checkpoints.")
flags.DEFINE_integer("seed", _D.seed, "Seed of initialization, training tasks and the "
                     "held-out tasks.")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def make_config() -> "lib.HSMLConfig":
    """The run's config from the flags (ValueError names the flag)."""
    def ints(name):
        try:
            return tuple(int(v) for v in getattr(FLAGS, name))
        except ValueError:
            raise ValueError(f"--{name} must be integers separated by commas, got "
                             f"{','.join(getattr(FLAGS, name))!r}") from None
    names = [f for f in lib.HSMLConfig.__dataclass_fields__ if f not in ("hidden", "clusters")]
    return lib.HSMLConfig(hidden=ints("hidden"), clusters=ints("clusters"),
                          **{n: getattr(FLAGS, n) for n in names})


def plot(workdir: str, results: dict, curve: list[dict]) -> None:
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
    common.save_figure(fig, os.path.join(workdir, "curve.png"))
    if "assignments" not in results:
        return
    from tfmeta.data.functions import FAMILIES
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
    common.save_figure(fig, os.path.join(workdir, "assignments.png"))


def report(results: dict) -> None:
    """The held-out MSE table on stdout."""
    k, last = str(FLAGS.inner_steps), str(FLAGS.eval_steps)
    print(f"{results['algorithm']} held-out MSE over {results['tasks']} tasks "
          f"(mean ± 95% CI) after 0 / {k} / {last} inner steps:")
    rows = [("all", results["mse"], results["mse_ci95"])] + [
        (name, f["mse"], f["mse_ci95"]) for name, f in results["per_family"].items()]
    for name, mse, ci in rows:
        print(f"  {name:10s} " + "  ".join(f"{mse[s]:8.3f} ± {ci[s]:.3f}" for s in
                                           ("0", k, last)))
    for name, p in results.get("assignments", {}).items():
        print(f"  {name:10s} clusters " + " ".join(f"{v:.2f}" for v in p) + "  dominant in "
              + " ".join(str(n) for n in results["dominant"][name]) + " tasks")


def main(argv):
    del argv
    from tfmeta.experiments import rundir
    from tfmeta.training import Diverged
    common.apply_verbosity(FLAGS.verbose)
    bar = None
    try:
        config = make_config()
        common.refuse_file_workdir(FLAGS.workdir)
        lib.check_workdir(config, FLAGS.workdir)
        latest = rundir.latest_checkpoint(FLAGS.workdir)
        how = f"resuming at step {latest[1]}" if latest else "new run"
        common.say(f"workdir: {FLAGS.workdir} ({how}); {config.algorithm}, K={config.shots}, "
                   f"{config.steps} meta-updates of {config.meta_batch_size} tasks, "
                   f"{config.inner_steps} inner steps of {config.inner_lr}")
        started, state = time.perf_counter(), {}

        def event(name, step):
            nonlocal bar
            if name == "start":
                bar = common.progress_bar(config.steps, "compiling the meta-update",
                                          initial=step)
                bar.refresh()
            elif name == "eval" and bar is None:
                common.say(f"step {step}: scored {config.curve_tasks} held-out tasks "
                           f"({time.perf_counter() - started:.0f} s)")

        def progress(step, metrics):
            bar.set_description(config.algorithm, refresh=False)
            bar.update(1)
            state["loss"] = float(metrics["meta_loss/model"])
            if step % 50 == 0 or step < 4:
                bar.set_postfix(loss=f"{state['loss']:.3f}", refresh=step < 4)

        def curve(points):
            p = points[-1]
            if bar is not None:
                bar.set_postfix(loss=f"{state.get('loss', float('nan')):.3f}",
                                mse=f"{p['mean']:.3f}", refresh=True)

        with common.StopOnSignal(on_signal=lambda: common.say(
                "stopping after the running meta-update; Ctrl-C again quits at once (the "
                "last checkpoint is kept)")) as stop:
            result = lib.run(config, FLAGS.workdir, progress, on_event=event, stop=stop.event,
                             on_curve=curve)
        if bar is not None:
            bar.close()
    except (ValueError, FileNotFoundError, Diverged) as e:
        if bar is not None:
            bar.close()
        sys.exit(f"error: {e}")
    if result.interrupted:
        common.say(f"interrupted at step {result.step}; saved; rerun the same command to resume")
        sys.exit(common.INTERRUPTED_EXIT)
    plot(FLAGS.workdir, result.results, lib.read_curve(FLAGS.workdir))
    report(result.results)
    print(f"wrote {os.path.join(FLAGS.workdir, lib.RESULTS_FILE)}")


if __name__ == "__main__":
    app.run(main)
