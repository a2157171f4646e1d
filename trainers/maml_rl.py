r"""``python -m trainers.maml_rl``: MAML for reinforcement learning (the MAML paper, 5.3).

Meta-trains a 2x100 ReLU Gaussian policy on 2D navigation (``--env=navigation2d``:
a point agent, goals uniform in [-0.5, 0.5]^2, reward minus the distance, 100
steps) or on the half-cheetah (gymnasium's HalfCheetah-v5; ``--env=cheetah_dir``:
run forward or backward, ``--env=cheetah_vel``: run at a goal velocity in [0, 2];
the paper: ``--horizon=200 --meta_batch_size=40``) so that one vanilla
policy-gradient step (lr ``--inner_lr``) on ``--rollouts`` rollouts of a new task
solves it; the meta-optimizer is TRPO
(``--outer=trpo``, max KL ``--max_kl``) or PPO-clip. Alongside, with the same
outer update on the same goals, it trains the paper's pre-trained baseline
(``--pretrain``). Every ``--eval_every`` meta-updates ``curve.json`` gets the
held-out return after 0 and 1 steps; at the end ``results.json`` holds the
return after 0..``--eval_steps`` steps on ``--eval_tasks`` held-out tasks for
MAML, the pre-trained policy and the random initialization (mean and 95%
interval; the paper's Figures 5 and 6), each policy's first step its best of
``--eval_lr_grid`` on separate selection tasks, later ones ``--eval_lr_decay`` times
it, on ``--eval_rollouts`` rollouts (by default 4000 time steps, as the authors'
test), and MAML's lead over the others paired by task; ``maml_rl.png`` draws them with
MAML's mean-action rollouts before and after adaptation. The half-cheetah tasks
need gymnasium[mujoco] (``pip install -e ".[rl]"``). Rerunning in the same ``--workdir`` resumes
exactly from the last checkpoint; Ctrl-C (or SIGTERM) checkpoints after the
running meta-update and exits with status 130.

Example:
    python -m trainers.maml_rl --env=navigation2d --max_minutes=30 --workdir=runs/nav
"""

from __future__ import annotations

import os

from trainers import shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import maml_rl as experiment  # noqa: E402
    from tfmeta.experiments import rundir  # noqa: E402


def describe(config) -> str:
    order = "first-order" if config.first_order else "second-order"
    return (f"maml_rl: {config.env}, {config.steps} meta-updates of {config.meta_batch_size} "
            f"tasks x {config.rollouts} rollouts, {config.inner_steps} inner step(s) of "
            f"{config.inner_lr}, {order} {config.outer.upper()}"
            + (" + pre-trained baseline" if config.pretrain else ""))


def report(result, config, workdir: str) -> str:
    """The return table of the paper's Figures 5 and 6."""
    results = result.results
    steps = sorted(results["returns"]["maml"], key=int)
    chosen = results.get("first_step_selection")
    how = (f"each policy's first step its best on {chosen['tasks']} selection tasks"
           if chosen else "one shared first step")
    lines = [f"average return on {results['tasks']} held-out tasks (mean ± 95% CI; "
             f"{results['rollouts']} rollouts a step; {how}) after "
             + " / ".join(steps) + " policy-gradient steps:"]
    for name, returns in results["returns"].items():
        ci = results["returns_ci95"][name]
        sizes = " / ".join(f"{v:g}" for v in results["step_sizes"][name])
        lines.append(f"  {name:9s} " + "  ".join(f"{returns[k]:8.2f} ± {ci[k]:.2f}"
                                                 for k in steps)
                     + (f"   (steps of {sizes})" if sizes else ""))
    for name, lead in results.get("maml_minus", {}).items():
        lines.append(f"  MAML lead over {name}, paired by task: " + "  ".join(
            f"{lead[k]['mean']:+.2f} ± {lead[k]['ci95']:.2f}" for k in steps))
    if results["paper_maml"]:
        lines.append("  paper MAML " + "  ".join(f"{v:8.2f}"
                                                 for v in results["paper_maml"].values()))
    lines.append(f"wrote {os.path.join(workdir, experiment.RESULTS_FILE)} and "
                 f"{experiment.FIGURE_FILE}")
    return "\n".join(lines)


TRAINER = shell.Trainer(
    name="maml_rl", doc=__doc__, config=experiment.MamlRLConfig,
    run=lambda config, workdir, hooks, preset, strategy: experiment.run(
        config, workdir, hooks.step, on_event=hooks.event, stop=hooks.stop,
        on_curve=hooks.curve),
    describe=describe, report=report,
    workdir_help="config.json, checkpoints/, curve.json, results.json, maml_rl.png",
    check_workdir=experiment.check_workdir,
    latest_checkpoint=rundir.latest_checkpoint,
    stored=experiment.stored_settings, postfix={"return": "maml/return/post"},
    curve_postfix=lambda p: {"held-out": f"{p['maml'][1]:.1f}"},
    curve_line=lambda p: f"step {p['step']}: held-out return after 1 step: MAML "
    f"{p['maml'][1]:.2f}" + (f", pretrained {p['pretrain'][1]:.2f}" if "pretrain" in p else ""))
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
