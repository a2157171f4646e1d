"""Meta-trains (or resumes) a CMAML or MAML run in its run directory, then scores it.

:func:`run` checks the directory, loads the data, builds the run, writes
``config.json`` and hands the learner to :func:`tfmeta.training.meta_train`
(checkpoints with exact resume, TensorBoard, stop). When training reaches
``steps`` it scores the held-out episodes and, for CMAML, the sparsity and the
mask overlap of similar and dissimilar tasks, and writes ``results.json``.

Example:
    >>> results = run(CmamlConfig(steps=100, data_dir="../shared/tensorflow_datasets"), "runs/c")
    >>> results["accuracy"]["mean"], results["sparsity"]["kept_prunable"]["mean"]
"""

from __future__ import annotations

import os
from typing import Callable


from tfmeta import io
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import skeleton
from tfmeta.experiments.cmaml.build import build, load_data, training_episodes, training_sampler
from tfmeta.experiments.cmaml.config import RESUMABLE_FIELDS, CmamlConfig
from tfmeta.experiments.cmaml.evaluate import (check_sharing, episode_scores, interval,
                                                sharing)

RESULTS_FILE = "results.json"
TIME_FILE = "train_time.json"


def check_workdir(config: CmamlConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run with another config."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)


def _check_data(config: CmamlConfig, splits) -> EpisodeSampler:
    """The training episodes; refuses settings the data cannot serve, naming the fields."""
    if config.pretrain_steps > config.steps and config.algorithm == "cmaml":
        raise ValueError(f"`pretrain_steps`={config.pretrain_steps} exceeds `steps`="
                         f"{config.steps}; CMAML would never prune")
    samplers = []
    for name, dataset in (("meta-train", splits.train), ("meta-test", splits.test)):
        try:
            samplers.append(training_episodes(config, dataset))
        except ValueError as e:
            raise ValueError(f"`ways`/`shots`/`queries` ({name} split): {e}") from None
    if config.algorithm == "cmaml":
        check_sharing(config, splits.test)
    return samplers[0]


def run(config: CmamlConfig, workdir: str,
        progress: Callable[[int, dict], None] | None = None, *,
        on_event: Callable[[str, int], None] | None = None, stop=None,
        splits=None) -> dict:
    """Trains or resumes the run in ``workdir``; scores it when training is complete.

    Args:
      config: the run's settings.
      workdir: the run directory (created; a run there is resumed).
      progress: ``(step, metrics)`` after every meta-update.
      on_event: ``(name, step)``: :func:`tfmeta.training.meta_train`'s events and
        ``"data"`` (data loaded), ``"scoring"`` (evaluation began).
      stop: predicate or ``threading.Event``; when set, the run checkpoints and
        returns ``{"interrupted": True, "step": ...}``.
      splits: the loaded data (default: loaded from ``config``).

    Returns:
      The results (also written to ``workdir/results.json``): ``config``,
      ``step``, ``train_seconds`` (training time of all sessions, compilation
      included), ``accuracy`` (mean, ci95, n), and for CMAML ``sparsity``
      (``kept_prunable``: fraction of the prunable private edges kept, per
      held-out task) and ``sharing``; or ``{"interrupted": True, "step"}``.
    """
    time_path = os.path.join(workdir, TIME_FILE)
    before = io.read_json(time_path)["seconds"] if os.path.exists(time_path) else 0.0
    return skeleton.train(EXPERIMENT, config, workdir, progress, splits=splits,
                          on_event=on_event, stop=stop, extra={"before": before})


def _time(run: skeleton.Run, name: str, step: int) -> None:
    """Keeps ``train_time.json``: the training seconds of every session so far."""
    if name in ("saved", "interrupted") and run.clock.started is not None:
        io.write_json(os.path.join(run.workdir, TIME_FILE),
                      {"seconds": run.extra["before"] + run.clock.seconds()})


def _finish(run: skeleton.Run, result) -> dict:
    config, setup, workdir = run.config, run.setup, run.workdir
    if result.interrupted:
        return {"interrupted": True, "step": result.step}
    time_path = os.path.join(workdir, TIME_FILE)
    seconds = io.read_json(time_path)["seconds"] if os.path.exists(time_path) else 0.0
    run.event("scoring", result.step)
    scores = episode_scores(setup, run.splits.test, episodes=config.eval_episodes)
    results = {"config": config.to_json(), "algorithm": config.algorithm, "step": result.step,
               "train_seconds": round(seconds, 1),
               "accuracy": interval(scores["accuracy"]),
               "eval_inner_steps": config.eval_inner_steps}
    if setup.modules is not None:
        results["sparsity"] = {"kept_prunable": interval(scores["kept"]),
                               "threshold": config.threshold, "l1": config.l1}
        results["sharing"] = sharing(setup, run.splits.test, pairs=config.sharing_pairs)
    io.write_json(os.path.join(workdir, RESULTS_FILE), results)
    return results


EXPERIMENT = skeleton.Experiment(
    build=lambda config, splits: build(config, splits.train.image_shape),
    sampler=lambda run: training_sampler(run.setup, run.splits.train, episodes=run.checked),
    resumable=lambda config: RESUMABLE_FIELDS, load_data=load_data, check_data=_check_data,
    on_event=_time, finish=_finish)
