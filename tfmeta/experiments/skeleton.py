"""One run skeleton for every experiment that meta-trains in a run directory.

An experiment declares what is its own (:class:`Experiment`): its data, the
check that the data can serve the settings, its training sampler (made from
what the check built, so it is built once), how it builds its run, the periodic work along the way (curve points, sample
grids) and what it does when training completes (scores, ``results.json``,
figures). :func:`train` does the rest, the same way for all of them:

1. refuses a strategy the experiment cannot use or a meta-batch its replicas
   cannot split, and a run directory holding an incompatible run;
2. loads the data and checks it can serve the settings (keeping what the check
   returns as ``run.checked``); turns on op determinism;
3. builds the run (under the strategy's scope), makes its training sampler and
   writes ``config.json`` (the chief only; a resumed run keeps the name of the
   preset it started from);
4. reports ``"data"``, does the periodic work at step 0 for a new run, and
   hands the learner to :func:`tfmeta.training.meta_train` (checkpoints,
   TensorBoard, stop, callbacks), with the periodic work as
   :class:`tfmeta.training.Periodic` callbacks;
5. finishes.

The training clock (:class:`Clock`) counts the seconds of meta-updates of this
session, without the periodic work, for curves and results that report
training time.

Example:
    >>> EXPERIMENT = Experiment(
    ...     load_data=load_data, build=lambda config, splits: build(config, splits),
    ...     check_data=lambda config, splits: training_sampler(config, splits.train),
    ...     sampler=lambda run: run.checked,   # the sampler the data check built
    ...     resumable=lambda config: RESUMABLE_FIELDS)
    >>> result = train(EXPERIMENT, config, "runs/x", progress)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from typing import Any, Callable, Iterable, Sequence

import tensorflow as tf

from tfmeta import checkpoint_state, distribute
from tfmeta.budget import TimeBudget
from tfmeta.experiments import rundir
from tfmeta.training import LambdaCallback, Periodic, TrainResult, meta_train


class Clock:
    """Seconds of training in this session: from the first update's start, without pauses."""

    def __init__(self):
        self.started: float | None = None
        self.paused_for = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        """Training seconds so far (0 before the first update started)."""
        if self.started is None:
            return 0.0
        return time.perf_counter() - self.started - self.paused_for

    def pausing(self, fn: Callable[[int], None]) -> Callable[[int], None]:
        """``fn``, with the time it takes not counted as training."""
        @functools.wraps(fn)
        def paused(step: int) -> None:
            began = time.perf_counter()
            try:
                fn(step)
            finally:
                if self.started is not None:
                    self.paused_for += time.perf_counter() - began
        return paused


@dataclasses.dataclass
class Run:
    """What an experiment's periodic work and finish see of the running run."""
    config: Any
    workdir: str
    splits: Any
    setup: Any
    chief: bool
    strategy: Any
    event: Callable[[str, int], None]
    clock: Clock
    extra: dict = dataclasses.field(default_factory=dict)   # the experiment's own state
    checked: Any = None   # what the experiment's ``check_data`` returned


def new_curve(read_curve: Callable[[str], list]) -> Callable[["Run"], bool]:
    """An :attr:`Experiment.first_point`: a curve point at step 0 for a run with neither a
    curve (``read_curve(workdir)`` empty) nor a checkpoint."""
    return lambda run: (not read_curve(run.workdir)
                        and rundir.latest_checkpoint(run.workdir) is None)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An experiment, declared for :func:`train`.

    Attributes:
      build: ``(config, splits) -> setup`` with ``learner`` and ``checkpoint``.
      sampler: ``run -> sampler``: ``step -> batch``, made once the run is built.
      resumable: ``config -> fields`` that may change when the run is resumed.
      load_data: ``config -> splits`` (None: the experiment makes its own tasks).
      check: ``(config, strategy) -> None``: settings refused before anything runs.
      check_data: ``(config, splits) -> checked``: raises ValueError (naming the
        fields) when the data cannot serve the settings, before the run is built;
        what it returns (e.g. the training sampler it made to check) is
        ``run.checked``, so ``sampler`` need not make it again.
      every: ``run -> [(period, fn(step))]``: the periodic work (see
        :class:`tfmeta.training.Periodic`; chief only, TensorBoard writer set).
      first_point: ``run -> bool``: whether to do the periodic work at step 0
        before training (default: a new run, one with no checkpoint).
      on_event: ``(run, name, step) -> None``: the experiment's own use of the
        events (``"start"``, ``"saved"``, ``"interrupted"``...), before the caller's.
      finish: ``(run, result) -> anything``: after training (also when it was
        interrupted); its return is what :func:`train` returns.
      diverged_hint: ``config -> str``: the last sentence of a diverged run's error,
        what to change (default: :func:`tfmeta.training.meta_train`'s, the rates).
      legacy: values of fields that runs made before those fields existed did not
        store, or a function of the stored settings
        (:func:`tfmeta.experiments.rundir.stored_settings`).
    """
    build: Callable[[Any, Any], Any]
    sampler: Callable[[Run], Callable]
    resumable: Callable[[Any], Iterable[str]]
    load_data: Callable[[Any], Any] | None = None
    check: Callable[[Any, Any], None] | None = None
    check_data: Callable[[Any, Any], Any] | None = None
    every: Callable[[Run], Sequence[tuple[int, Callable[[int], None]]]] = lambda run: ()
    first_point: Callable[[Run], bool] | None = None
    on_event: Callable[[Run, str, int], None] | None = None
    finish: Callable[[Run, TrainResult], Any] | None = None
    diverged_hint: Callable[[Any], str] | None = None
    legacy: rundir.Legacy = None


def check_workdir(experiment: Experiment, config, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run with an incompatible config."""
    rundir.check_workdir(config, workdir, experiment.resumable(config), experiment.legacy)


def train(experiment: Experiment, config, workdir: str,
          progress: Callable[[int, dict], None] | None = None, *, splits=None,
          on_event: Callable[[str, int], None] | None = None, stop=None,
          preset: str | None = None, strategy: tf.distribute.Strategy | None = None,
          extra: dict | None = None) -> Any:
    """Meta-trains (or resumes) ``experiment``'s run of ``config`` in ``workdir``.

    Args:
      experiment: what the experiment declares.
      config: the run's settings (with ``steps`` and ``checkpoint_every``;
        ``keep_checkpoints`` and ``summary_every`` where it has them).
      workdir: the run directory (created; a run there is resumed).
      progress: ``(step, metrics)`` after every meta-update.
      splits: the loaded data (default: ``experiment.load_data(config)``).
      on_event: ``(name, step)``: :func:`tfmeta.training.meta_train`'s events
        plus ``"data"`` (data loaded, run built) and the experiment's own.
      stop: predicate or ``threading.Event``; when set, the run checkpoints and
        returns interrupted.
      preset: the name of the preset the settings came from, stored in
        ``config.json``; None keeps the one a resumed run stored.
      strategy: a ``tf.distribute`` strategy whose replicas split each
        meta-batch (see :mod:`tfmeta.distribute`); only its chief writes
        ``config.json``, the periodic work and summaries.
      extra: the experiment's own state, as ``run.extra``.

    Returns:
      ``experiment.finish(run, result)``, or the :class:`TrainResult`.
    """
    clock, run = Clock(), None

    def event(name: str, step: int) -> None:
        if name == "start":
            clock.start()
        if experiment.on_event is not None and run is not None:
            experiment.on_event(run, name, step)
        if on_event is not None:
            on_event(name, step)

    if experiment.check is not None:
        experiment.check(config, strategy)
    if strategy is not None and getattr(config, "max_minutes", 0):
        raise ValueError("`max_minutes` needs one clock: use it with `distribute`=none")
    if strategy is not None:
        distribute.check_meta_batch_size(config.meta_batch_size, strategy,
                                         "`meta_batch_size`={}")
    check_workdir(experiment, config, workdir)
    if splits is None and experiment.load_data is not None:
        splits = experiment.load_data(config)
    checked = (experiment.check_data(config, splits) if experiment.check_data is not None
               else None)
    tf.config.experimental.enable_op_determinism()
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        setup = experiment.build(config, splits)
    chief = distribute.is_chief(strategy)
    os.makedirs(workdir, exist_ok=True)
    if preset is None:   # a resumed run keeps the preset name it recorded
        preset = (rundir.stored_settings(workdir) or {}).get(rundir.PRESET_KEY)
    if chief:
        rundir.write_config(config, workdir, preset=preset)
    run = Run(config, workdir, splits, setup, chief, strategy, event, clock, dict(extra or {}),
              checked)
    sampler = experiment.sampler(run)
    event("data", int(setup.checkpoint.step.numpy()))
    periodic = [(period, clock.pausing(fn)) for period, fn in experiment.every(run)]
    first = (experiment.first_point(run) if experiment.first_point is not None
             else rundir.latest_checkpoint(workdir) is None)
    if chief and periodic and first:
        with tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")).as_default():
            for _, fn in periodic:
                fn(0)
    hint = ({} if experiment.diverged_hint is None
            else {"diverged_hint": experiment.diverged_hint(config)})
    result = meta_train(setup.learner, sampler, workdir=workdir, steps=config.steps,
                        until=_budget(config, setup, workdir, clock),
                        checkpoint=setup.checkpoint, checkpoint_every=config.checkpoint_every,
                        max_to_keep=getattr(config, "keep_checkpoints", 3),
                        summary_every=getattr(config, "summary_every", 10),
                        callbacks=[LambdaCallback(progress, event),
                                   *[Periodic(period, fn) for period, fn in periodic]],
                        stop=stop, strategy=strategy, **hint)
    return experiment.finish(run, result) if experiment.finish is not None else result


def _budget(config, setup, workdir: str, clock: Clock) -> Callable[[], bool] | None:
    """``meta_train``'s ``until`` for a config with `max_minutes` > 0 (else None): a
    :class:`tfmeta.budget.TimeBudget` on the run's outer schedules and in its checkpoint."""
    minutes = getattr(config, "max_minutes", 0)
    if not minutes:
        return None
    budget = TimeBudget(minutes, config.steps)
    budget.attach(setup.learner)
    joined = []

    def until() -> bool:
        if not joined:   # meta_train restored the run's checkpoint before its first call
            budget.join(setup.checkpoint,
                        checkpoint_state.latest_checkpoint(workdir))
            joined.append(True)
        return budget.spent(clock.seconds())
    return until
