"""Meta-trains (or resumes) a few-shot classification run in its run directory.

:func:`run` checks the directory, loads the data, builds the run, writes
``config.json`` and hands the learner to :func:`tfmeta.training.meta_train`
(checkpoints with exact resume, TensorBoard, stop). Every ``eval_every``
meta-updates (and before the first) it scores ``eval_episodes`` held-out
episodes -- the same episodes every time -- and appends the accuracy to
``curve.json``: the run's learning curve, each point with ``seconds``, the
wall-clock training time up to it (curve points excluded, compilation
included; a resumed run continues from its last point's). A learner with
``samples`` (MeGAN) also writes ``samples.png`` at each point: the
generator's images of a few held-out support sets
(:mod:`tfmeta.experiments.few_shot.figures`).

Example:
    >>> result = run(FewShotConfig(steps=100, data_dir="../shared/tensorflow_datasets"),
    ...              "runs/omniglot_5w1s")
    >>> read_curve("runs/omniglot_5w1s")[-1]["step"]
    100
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import tensorflow as tf

from tfmeta import io
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import rundir, skeleton
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.build import FewShotSetup, build, load_data, training_sampler
from tfmeta.experiments.few_shot.config import RESUMABLE_FIELDS, FewShotConfig
from tfmeta.experiments.few_shot.curve import CURVE_FIGURE, plot_curve
from tfmeta.experiments.few_shot.evaluate import CURVE_SEED, episode_accuracies, summary
from tfmeta.experiments.few_shot.figures import SAMPLES_FILE
from tfmeta.training import TrainResult, restore_latest

CURVE_FILE = "curve.json"


def check_workdir(config: FewShotConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` holds a run with an incompatible config."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)


def read_config(workdir: str) -> FewShotConfig:
    """The config of the few-shot run in ``workdir``."""
    return rundir.read_config(FewShotConfig, workdir, what="few-shot classification run")


def read_curve(workdir: str) -> list[dict]:
    """``[{"step", "accuracy", "ci95", "episodes"}, ...]`` of the run, by step ([] if none)."""
    return rundir.read_points(workdir, CURVE_FILE)


def load_run(workdir: str, splits=None, **overrides) -> tuple[FewShotSetup, Any]:
    """Rebuilds the run in ``workdir`` and restores its latest checkpoint: ``(setup, splits)``."""
    config = dataclasses.replace(read_config(workdir), **overrides)
    splits = splits if splits is not None else load_data(config)
    setup = build(config, splits.train.image_shape, classes=splits.train.num_classes)
    if restore_latest(setup.checkpoint, workdir) is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    return setup, splits


def run(config: FewShotConfig, workdir: str,
        progress: Callable[[int, dict], None] | None = None, splits=None, *,
        on_event: Callable[[str, int], None] | None = None, stop=None,
        on_curve: Callable[[list], None] | None = None,
        preset: str | None = None, strategy: tf.distribute.Strategy | None = None
        ) -> TrainResult:
    """Meta-trains (or resumes) the run in ``workdir``.

    Args:
      config: the run's settings.
      workdir: the run directory (created; a run there is resumed).
      progress: ``(step, metrics)`` after every meta-update.
      splits: the loaded data (default: loaded from ``config``).
      on_event: ``(name, step)``: :func:`tfmeta.training.meta_train`'s events
        plus ``"data"`` (data loaded) and ``"eval"`` (a curve point written).
      stop: predicate or ``threading.Event``; when set, the run checkpoints
        and returns with ``interrupted=True``.
      on_curve: called with the whole curve after each new point (figures).
      preset: the name of the preset the settings came from, stored in
        ``config.json`` for the record.
      strategy: a ``tf.distribute`` strategy whose replicas split each
        meta-batch of episodes (gradient-based algorithms; see
        :mod:`tfmeta.distribute`); only its chief writes ``config.json``, the
        curve and summaries. A run resumes under any strategy.

    Raises:
      ValueError: on an incompatible existing run or settings the data cannot
        meet (more ways than classes, more shots + queries than images).
    """
    return skeleton.train(EXPERIMENT, config, workdir, progress, splits=splits,
                          on_event=on_event, stop=stop, preset=preset, strategy=strategy,
                          extra={"on_curve": on_curve})


def _check(config: FewShotConfig, strategy) -> None:
    if strategy is not None and not learners.get(config.algorithm).inner_loop:
        raise ValueError(f"`distribute` applies to the gradient-based algorithms "
                         f"({', '.join(learners.names('gradient'))}), not `algorithm`="
                         f"{config.algorithm}; use `distribute`=none")


def _check_data(config: FewShotConfig, splits) -> Callable[[Any], Any]:
    """The training sampler; refuses episodes the classes cannot fill, naming the fields."""
    try:
        sampler = training_sampler(config, splits.train)
    except ValueError as e:
        names = ("`train_ways`/`shots`/`train_queries` (training episodes)"
                 if "train_ways" in learners.get(config.algorithm).fields
                 else "`ways`/`shots`/`queries`")
        message = str(e)   # one that names its field already is the learner's own
        raise ValueError(message if message.startswith("`") else f"{names}: {message}") from None
    try:
        EpisodeSampler(splits.test, ways=config.ways, shots=config.shots,
                       queries=config.queries)
    except ValueError as e:
        raise ValueError(f"`ways`/`shots`/`queries`: {e}") from None
    return sampler


def _every(run: skeleton.Run):
    """The curve point: held-out accuracy, the training seconds so far, the figures."""
    config, workdir, setup, splits = run.config, run.workdir, run.setup, run.splits
    spec = learners.get(config.algorithm)
    previous = read_curve(workdir)
    base = float(previous[-1].get("seconds", 0.0)) if previous else 0.0

    def curve_point(step: int) -> None:
        seconds = base + run.clock.seconds()
        accuracies = episode_accuracies(setup, splits.test, episodes=config.eval_episodes,
                                        inner_steps=config.eval_inner_steps, seed=CURVE_SEED)
        point = dict(summary(accuracies), step=step, inner_steps=config.eval_inner_steps,
                     seconds=round(seconds, 1))
        if not spec.inner_loop:
            del point["inner_steps"]
        points = rundir.write_point(workdir, CURVE_FILE, point, ways=config.ways,
                                    shots=config.shots)
        plot_curve(points, config, os.path.join(workdir, CURVE_FIGURE))
        tf.summary.scalar("eval/accuracy", point["accuracy"], step=step)
        if spec.samples is not None:
            io.write_png(os.path.join(workdir, SAMPLES_FILE),
                         spec.samples(setup, splits.test, seed=CURVE_SEED))
        run.event("eval", step)
        if run.extra["on_curve"] is not None:
            run.extra["on_curve"](points)

    return [(config.eval_every, curve_point)]


EXPERIMENT = skeleton.Experiment(
    build=lambda config, splits: build(config, splits.train.image_shape,
                                       classes=splits.train.num_classes),
    sampler=lambda run: run.checked,   # the training sampler _check_data made
    resumable=lambda config: rundir.resumable_fields(RESUMABLE_FIELDS, config),
    load_data=load_data, check=_check, check_data=_check_data, every=_every,
    first_point=skeleton.new_curve(read_curve))
