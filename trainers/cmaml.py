"""``python -m trainers.cmaml``: CMAML (Song et al. 2020) or plain MAML, few-shot Omniglot.

CMAML's model is the MAML Conv-4 (the shared module) plus a gate and a private
MLP pruned per task by Algorithm 1 of paper 002 (L1 fine-tuning on the support
set, up-to-bottom pruning at --threshold); ``--algorithm=maml`` trains Conv-4
alone. Both are scored on the same held-out episodes. Writes
``WORKDIR/results.json`` (accuracy with a 95% interval; for CMAML the fraction
of private edges kept and the mask overlap of similar vs. dissimilar tasks).
Rerunning the same command resumes the run exactly; Ctrl-C saves and stops.

Example:
    python -m trainers.cmaml --workdir=runs/cmaml --algorithm=cmaml --steps=1000
    python -m trainers.cmaml --workdir=runs/maml --algorithm=maml --steps=1000
"""

from __future__ import annotations

import os

from trainers import shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import cmaml as experiment  # noqa: E402
    from tfmeta.experiments import rundir  # noqa: E402


def describe(config) -> str:
    return (f"cmaml: {config.algorithm}, {config.ways}-way {config.shots}-shot "
            f"{config.dataset}, {config.steps} meta-updates")


def report(results: dict, config, workdir: str) -> str:
    """The result lines."""
    acc = results["accuracy"]
    lines = [f"{results['algorithm']}: held-out accuracy {100 * acc['mean']:.2f} +- "
             f"{100 * acc['ci95']:.2f}% ({acc['n']} episodes, {results['eval_inner_steps']} "
             f"inner steps) after {results['step']} meta-updates, "
             f"{results['train_seconds']:.0f} s"]
    if "sparsity" in results:
        kept, share = results["sparsity"]["kept_prunable"], results["sharing"]
        lines.append(f"private edges kept (layers 2..L-1): {100 * kept['mean']:.1f} +- "
                     f"{100 * kept['ci95']:.1f}%")
        lines.append("mask overlap (Jaccard): " + ", ".join(
            f"{k} {share[k]['mean']:.3f} +- {share[k]['ci95']:.3f}"
            for k in ("similar", "dissimilar", "difference")))
    lines.append(f"wrote {os.path.join(workdir, experiment.RESULTS_FILE)}")
    return "\n".join(lines)


TRAINER = shell.Trainer(
    name="cmaml", doc=__doc__, config=experiment.CmamlConfig,
    run=lambda config, workdir, hooks, preset, strategy: experiment.run(
        config, workdir, hooks.step, on_event=hooks.event, stop=hooks.stop),
    describe=describe, report=report,
    workdir_help="config.json, checkpoints/, tensorboard/, results.json",
    check_workdir=experiment.check_workdir,
    latest_checkpoint=rundir.latest_checkpoint,
    stored=rundir.stored_settings, postfix={"loss": "meta_loss/model"})
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
