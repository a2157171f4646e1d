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
it again. Held-out tasks are the same for every run of a ``--seed``, so two
runs compare on the same tasks. Rerunning in the same ``--workdir`` resumes
from the last checkpoint; Ctrl-C (or SIGTERM) checkpoints after the running
meta-update and exits with status 130.

Example:
    python -m trainers.hsml --algorithm=hsml --shots=5 --steps=10000 --workdir=runs/hsml_5shot
    python -m trainers.hsml --algorithm=maml --shots=5 --steps=10000 --workdir=runs/maml_5shot
"""

from __future__ import annotations

import os

from trainers import shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import hsml as experiment  # noqa: E402
    from tfmeta.experiments import rundir  # noqa: E402


def describe(config) -> str:
    return (f"hsml: {config.algorithm}, K={config.shots}, {config.steps} meta-updates of "
            f"{config.meta_batch_size} tasks, {config.inner_steps} inner steps of "
            f"{config.inner_lr}")


def report(result, config, workdir: str) -> str:
    """The held-out MSE table."""
    results = result.results
    k, last = str(config.inner_steps), str(config.eval_steps)
    lines = [f"{results['algorithm']} held-out MSE over {results['tasks']} tasks "
             f"(mean ± 95% CI) after 0 / {k} / {last} inner steps:"]
    rows = [("all", results["mse"], results["mse_ci95"])] + [
        (name, f["mse"], f["mse_ci95"]) for name, f in results["per_family"].items()]
    for name, mse, ci in rows:
        lines.append(f"  {name:10s} " + "  ".join(f"{mse[s]:8.3f} ± {ci[s]:.3f}"
                                                  for s in ("0", k, last)))
    for name, p in results.get("assignments", {}).items():
        lines.append(f"  {name:10s} clusters " + " ".join(f"{v:.2f}" for v in p)
                     + "  dominant in " + " ".join(str(n) for n in results["dominant"][name])
                     + " tasks")
    lines.append(f"wrote {os.path.join(workdir, experiment.RESULTS_FILE)}")
    return "\n".join(lines)


TRAINER = shell.Trainer(
    name="hsml", doc=__doc__, config=experiment.HSMLConfig,
    run=lambda config, workdir, hooks, preset, strategy: experiment.run(
        config, workdir, hooks.step, on_event=hooks.event, stop=hooks.stop,
        on_curve=hooks.curve),
    describe=describe, report=report,
    workdir_help="config.json, checkpoints/, curve.json, curve.png, results.json, "
    "assignments.png",
    check_workdir=experiment.check_workdir,
    latest_checkpoint=rundir.latest_checkpoint,
    stored=rundir.stored_settings, postfix={"loss": "meta_loss/model"},
    curve_postfix=lambda p: {"mse": f"{p['mean']:.3f}"},
    curve_line=lambda p: f"step {p['step']}: scored {p['tasks']} held-out tasks, MSE "
    f"{p['mean']:.3f}")
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
