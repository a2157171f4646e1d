"""Meta-trains (or resumes) an HSML or MAML regression run and scores it on held-out tasks.

:func:`run` checks the run directory, writes ``config.json`` and hands the
learner to :func:`tfmeta.training.meta_train` (checkpoints with exact
resume, TensorBoard, stop). Every ``eval_every`` meta-updates (and before the
first) it appends the mean held-out MSE after ``inner_steps`` steps on the
first ``curve_tasks`` held-out tasks to ``curve.json``. At the end,
:func:`evaluate` scores ``eval_tasks`` held-out tasks and ``results.json``
holds the MSE after 0..``eval_steps`` steps (mean and 95% interval), per
family, and for HSML each family's mean soft assignment to the first-level
clusters and how many of its tasks each cluster dominates. Rerunning a
finished run only evaluates it again.

Example:
    >>> result = run(HSMLConfig(steps=2000), "runs/hsml")
    >>> read_results("runs/hsml")["mse"]["5"]
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import tensorflow as tf

from tfmeta import io
from tfmeta.algorithms import adaptation_trajectory
from tfmeta.algorithms.maml import modulate
from tfmeta.data.functions import FAMILIES
from tfmeta.eval.table import interval
from tfmeta.experiments import rundir, skeleton
from tfmeta.experiments.hsml.build import PLAYER, HSMLSetup, build, held_out_tasks, training_tasks
from tfmeta.experiments.hsml.config import RESUMABLE_FIELDS, HSMLConfig
from tfmeta.experiments.hsml.figures import write_figures
from tfmeta.training import TrainResult, restore_latest
from tfmeta.types import Reused, task_at

CURVE_FILE = "curve.json"
RESULTS_FILE = "results.json"


def check_workdir(config: HSMLConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run with an incompatible config."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)


def read_config(workdir: str) -> HSMLConfig:
    """The config of the run in ``workdir``."""
    return rundir.read_config(HSMLConfig, workdir, what="HSML regression run")


def read_curve(workdir: str) -> list[dict]:
    """``[{"step", "mse", "ci95", "tasks"}, ...]`` of the run ([] if none)."""
    return rundir.read_points(workdir, CURVE_FILE)


def task_curves(setup: HSMLSetup, tasks,
                inner_steps: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``([tasks, k + 1] query MSE after 0..k inner steps, [tasks, K_1] first-level
    cluster assignments or None)`` of a stacked meta-batch of held-out tasks, k being
    ``inner_steps``."""

    @tf.function
    def one(task):
        support = (task.inner[0][0], task.inner[1][0])   # step 0 of the one stacked step
        query = (task.val[0][0], task.val[1][0])
        params = {PLAYER: [tf.convert_to_tensor(v) for v in setup.model.trainable_variables]}
        params, _ = modulate({PLAYER: setup.modulation} if setup.modulation else None,
                             params, support)
        trajectory = adaptation_trajectory(setup.objective, params, Reused(support), setup.inner,
                                           inner_steps=inner_steps, seed=task.seed)
        mse = tf.stack([setup.objective(p, query, task.seed)[PLAYER] for p in trajectory])
        if setup.modulation is None:
            return mse, tf.zeros([0], mse.dtype)
        return mse, setup.modulation.inspect(support)[0][0]

    curves, assignments = [], []
    for i in range(int(tasks.seed.shape[0])):
        mse, p = one(task_at(tasks, i))
        curves.append(mse.numpy())
        assignments.append(p.numpy())
    return np.stack(curves), (np.stack(assignments) if setup.modulation else None)


def evaluate(setup: HSMLSetup, count: int | None = None) -> dict:
    """Held-out MSE after 0..``eval_steps`` steps over ``count`` tasks (default
    ``eval_tasks``): overall and per family; HSML: per family, the mean first-level
    assignment (``assignments``) and the count of tasks whose largest assignment is
    each cluster (``dominant``)."""
    config = setup.config
    count = config.eval_tasks if count is None else count
    tasks, families = held_out_tasks(config, count)
    families = families.numpy()
    curves, assignments = task_curves(setup, tasks, config.eval_steps)
    steps = range(config.eval_steps + 1)
    out = {"tasks": count, "mse": {}, "mse_ci95": {}, "per_family": {}}
    for s in steps:
        stats = interval(curves[:, s])
        out["mse"][str(s)], out["mse_ci95"][str(s)] = stats["mean"], stats["ci95"]
    for f, name in enumerate(FAMILIES):
        mine = curves[families == f]
        if len(mine):
            out["per_family"][name] = {"tasks": int(len(mine)), **{
                key: {str(s): interval(mine[:, s])[stat] for s in steps}
                for key, stat in (("mse", "mean"), ("mse_ci95", "ci95"))}}
    if assignments is not None:
        present = [(f, name) for f, name in enumerate(FAMILIES) if np.any(families == f)]
        out["assignments"] = {name: assignments[families == f].mean(axis=0).tolist()
                              for f, name in present}
        dominant = np.argmax(assignments, axis=1)
        out["dominant"] = {name: np.bincount(dominant[families == f],
                                             minlength=assignments.shape[1]).tolist()
                           for f, name in present}
    return out


def load_run(workdir: str) -> HSMLSetup:
    """Rebuilds the run in ``workdir`` and restores its latest checkpoint."""
    setup = build(read_config(workdir))
    if restore_latest(setup.checkpoint, workdir) is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    return setup


def run(config: HSMLConfig, workdir: str, progress: Callable[[int, dict], None] | None = None,
        *, on_event: Callable[[str, int], None] | None = None, stop=None,
        on_curve: Callable[[list], None] | None = None) -> TrainResult:
    """Meta-trains (or resumes) the run in ``workdir``; when it completes, writes
    ``results.json`` (:func:`evaluate`) and its figures and returns the training result with
    ``results`` added (absent when ``stop`` interrupted it)."""
    return skeleton.train(EXPERIMENT, config, workdir, progress, on_event=on_event, stop=stop,
                          extra={"on_curve": on_curve})


def _every(run: skeleton.Run):
    config, workdir = run.config, run.workdir
    curve_tasks, _ = held_out_tasks(config, config.curve_tasks)

    def curve_point(step: int) -> None:
        stats = interval(task_curves(run.setup, curve_tasks, config.inner_steps)[0][:, -1])
        point = {"step": int(step), "tasks": config.curve_tasks,
                 "inner_steps": config.inner_steps, "mean": stats["mean"],
                 "ci95": stats["ci95"]}
        points = rundir.write_point(workdir, CURVE_FILE, point, algorithm=config.algorithm,
                                    shots=config.shots)
        tf.summary.scalar("eval/mse", point["mean"], step=step)
        run.event("eval", step)
        if run.extra["on_curve"] is not None:
            run.extra["on_curve"](points)

    return [(config.eval_every, curve_point)]


def _finish(run: skeleton.Run, result: TrainResult) -> TrainResult:
    if not result.interrupted:
        config = run.config
        results = dict(evaluate(run.setup), algorithm=config.algorithm, step=result.step,
                       config=config.to_json())
        io.write_json(os.path.join(run.workdir, RESULTS_FILE), results)
        write_figures(run.workdir, results, read_curve(run.workdir))
        result.results = results
    return result


EXPERIMENT = skeleton.Experiment(
    build=lambda config, splits: build(config),
    sampler=lambda run: training_tasks(run.config),
    resumable=lambda config: RESUMABLE_FIELDS, every=_every,
    first_point=skeleton.new_curve(read_curve),
    finish=_finish)
