"""Meta-trains (or resumes) a MAML-RL run and scores it as the paper's Figures 5 and 6.

:func:`run` hands the pair learner (MAML and the pre-trained baseline) to
:func:`tfmeta.experiments.skeleton.train` (checkpoints with exact resume,
TensorBoard, stop, time budget). Every ``eval_every`` meta-updates (and before
the first) ``curve.json`` gets the mean return after 0 and 1 policy-gradient
steps on ``meta_batch_size`` held-out tasks, for both policies, with the training
minutes. At the end, :func:`evaluate` scores MAML, the baseline and the random
initialization after 0..``eval_steps`` steps on ``eval_tasks`` held-out tasks
(``results.json``; ``maml_rl.png``: the curves and MAML's mean-action rollouts
before and after adaptation for a few tasks: paths in the plane for navigation,
running mean forward velocity for the half-cheetah).

Example:
    >>> result = run(MamlRLConfig(steps=100), "runs/nav")
    >>> result.results["returns"]["maml"]["1"]
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import tensorflow as tf

from tfmeta import io
from tfmeta.eval.table import interval
from tfmeta.experiments import rundir, skeleton
from tfmeta.experiments.maml_rl.build import (MamlRLSetup, build, held_out_tasks, policy_learner,
                                              training_batches)
from tfmeta.experiments.maml_rl.config import LEGACY, RESUMABLE_FIELDS, MamlRLConfig
from tfmeta.experiments.maml_rl.figures import write_figure
from tfmeta.training import TrainResult

CURVE_FILE = "curve.json"
RESULTS_FILE = "results.json"
FIGURE_FILE = "maml_rl.png"
PATH_GOALS = 3
# The MAML paper's 2D navigation numbers (its appendix table, quoted in paper 003's slides):
# average return after 0, 1, 2, 3 policy-gradient steps. The half-cheetah curves (its
# Figure 6) are given only as plots.
PAPER_MAML = {"navigation2d": {"0": -40.41, "1": -11.68, "2": -3.33, "3": -3.23}}


def check_workdir(config: MamlRLConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run with an incompatible config."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)


def stored_settings(workdir: str) -> dict | None:
    """The run's stored settings, a field it predates at its :data:`LEGACY` value."""
    return rundir.stored_settings(workdir, LEGACY)


def read_curve(workdir: str) -> list[dict]:
    return rundir.read_points(workdir, CURVE_FILE)


def adaptation_returns(setup: MamlRLSetup, params, count: int, steps: int,
                       first_step: float | None = None, selection: bool = False):
    """``([count, steps + 1] mean return per held-out task after 0..steps steps,
    per-step parameters of the first chunk's tasks)``, in chunks of ``meta_batch_size``; the
    first step ``first_step`` (default: the shared one); ``selection``: on the selection tasks."""
    config = setup.config
    tasks, seed = held_out_tasks(config, count, selection)
    out, first = [], None
    for c, start in enumerate(range(0, count, config.meta_batch_size)):
        chunk = tasks[start:start + config.meta_batch_size]
        if int(chunk.shape[0]) < config.meta_batch_size:   # keep one traced size
            chunk = tf.concat([chunk, tasks[:config.meta_batch_size - int(chunk.shape[0])]], 0)
        _, means, history = setup.maml._collect(
            params, chunk, tf.random.experimental.stateless_fold_in(seed, c), steps,
            rollouts=config.evaluation_rollouts(),
            step_sizes=tf.constant(config.evaluation_step_sizes(steps, first_step), tf.float64))
        out.append(means.numpy().T[:min(config.meta_batch_size, count - start)])
        first = first if first is not None else history
    return np.concatenate(out), first


def first_steps(setup: MamlRLSetup, policies: dict) -> tuple[dict, dict]:
    """``({policy: first evaluation step}, {policy: {step: mean one-step return}})``: each
    policy's best of :meth:`MamlRLConfig.first_step_candidates` on ``meta_batch_size``
    selection tasks (a step whose return is not finite never wins), else the shared step."""
    config = setup.config
    candidates = config.first_step_candidates()
    if not candidates or not config.eval_steps:
        return {name: config.evaluation_step_sizes(1)[0] for name in policies}, {}
    chosen, tried = {}, {}
    for name, params in policies.items():
        returns = {}
        for lr in candidates:
            curves, _ = adaptation_returns(setup, params, config.meta_batch_size, 1, lr, True)
            returns[lr] = float(curves[:, 1].mean())
        chosen[name] = max(candidates, key=lambda lr: (np.isfinite(returns[lr]),
                                                       np.nan_to_num(returns[lr])))
        tried[name] = {f"{lr:g}": v for lr, v in returns.items()}
    return chosen, tried


def evaluate(setup: MamlRLSetup) -> dict:
    """Return after 0..``eval_steps`` steps on ``eval_tasks`` held-out tasks (mean and 95%
    interval) for MAML, the baseline and the random initialization, each at its first step
    (:func:`first_steps`), and MAML's lead over the others paired task by task; MAML's
    traces."""
    config = setup.config
    policies = {"maml": setup.maml.params(),
                "random": policy_learner(config, 0).params()}
    if setup.pretrain is not None:
        policies["pretrain"] = setup.pretrain.params()
    first, tried = first_steps(setup, policies)
    out = {"tasks": config.eval_tasks, "rollouts": config.evaluation_rollouts(),
           "step_sizes": {name: list(config.evaluation_step_sizes(config.eval_steps, lr))
                          for name, lr in first.items()},
           "returns": {}, "returns_ci95": {}, "paper_maml": PAPER_MAML.get(config.env, {})}
    if tried:
        out["first_step_selection"] = {"tasks": config.meta_batch_size, "returns": tried}
    paths, per_task = {}, {}
    for name, params in policies.items():
        curves, history = adaptation_returns(setup, params, config.eval_tasks, config.eval_steps,
                                             first[name])
        per_task[name] = curves
        stats = [interval(curves[:, k]) for k in range(config.eval_steps + 1)]
        out["returns"][name] = {str(k): s["mean"] for k, s in enumerate(stats)}
        out["returns_ci95"][name] = {str(k): s["ci95"] for k, s in enumerate(stats)}
        if name == "maml":
            paths = mean_traces(setup, history)
    # Paired over the same tasks and rollout seeds: MAML's lead over each other policy.
    out["maml_minus"] = {}
    for name in (n for n in policies if n != "maml"):
        stats = [interval(per_task["maml"][:, k] - per_task[name][:, k])
                 for k in range(config.eval_steps + 1)]
        out["maml_minus"][name] = {str(k): {"mean": s["mean"], "ci95": s["ci95"]}
                                   for k, s in enumerate(stats)}
    return out, paths


def mean_traces(setup: MamlRLSetup, history) -> dict:
    """What the figure draws of the mean policy after 0..k steps, for the first few held-out
    tasks: the environment's ``trace`` of one mean-action rollout per task."""
    n = min(PATH_GOALS, len(history[0]))
    tasks, _ = held_out_tasks(setup.config, n)
    env = setup.config.environment()
    traces = {}
    for k, per_task in enumerate(history):
        traj = env.rollout(setup.maml.policy_of(per_task[:n]), tasks, seed=tf.constant([0, 0]),
                           horizon=setup.config.horizon, deterministic=True)
        traces[str(k)] = env.trace(traj).numpy()
    return {"goals": tasks.numpy(), "steps": traces, "title": env.title,
            "label": env.trace_label}


def run(config: MamlRLConfig, workdir: str, progress: Callable[[int, dict], None] | None = None,
        *, on_event: Callable[[str, int], None] | None = None, stop=None,
        on_curve: Callable[[list], None] | None = None) -> TrainResult:
    """Meta-trains (or resumes) the run in ``workdir``; when it completes, writes
    ``results.json`` and ``maml_rl.png`` and returns the training result with ``results``
    added (absent when ``stop`` interrupted it)."""
    return skeleton.train(EXPERIMENT, config, workdir, progress, on_event=on_event, stop=stop,
                          extra={"on_curve": on_curve})


def _every(run: skeleton.Run):
    config, setup = run.config, run.setup

    def curve_point(step: int) -> None:
        point = {"step": int(step), "minutes": run.clock.seconds() / 60.0,
                 "tasks": config.meta_batch_size}
        learners = {"maml": setup.maml, "pretrain": setup.pretrain}
        for name, learner in learners.items():
            if learner is not None:
                curves, _ = adaptation_returns(setup, learner.params(), config.meta_batch_size, 1)
                point[name] = [float(v) for v in curves.mean(axis=0)]
                tf.summary.scalar(f"eval/{name}_return_1_step", point[name][1], step=step)
        points = rundir.write_point(run.workdir, CURVE_FILE, point, env=config.env)
        run.event("eval", step)
        if run.extra["on_curve"] is not None:
            run.extra["on_curve"](points)

    return [(config.eval_every, curve_point)]


def _finish(run: skeleton.Run, result: TrainResult) -> TrainResult:
    if not result.interrupted:
        config = run.config
        scores, paths = evaluate(run.setup)
        results = dict(scores, env=config.env, step=result.step, config=config.to_json())
        io.write_json(os.path.join(run.workdir, RESULTS_FILE), results)
        write_figure(os.path.join(run.workdir, FIGURE_FILE), results, paths,
                     read_curve(run.workdir))
        result.results = results
    return result


EXPERIMENT = skeleton.Experiment(
    build=lambda config, splits: build(config),
    sampler=lambda run: training_batches(run.config),
    resumable=lambda config: RESUMABLE_FIELDS, every=_every,
    first_point=skeleton.new_curve(read_curve),
    finish=_finish, legacy=LEGACY)
