"""The meta-training loop: checkpoints with exact resume, summaries, interrupt, divergence stop.

:func:`meta_train` drives a learner -- any object with an int64 ``step``
variable and ``train_step(batch) -> metrics``, e.g. a
:class:`tfmeta.algorithms.MetaLearner` or a learner without an inner loop --
over a deterministic task stream ``sampler(step)``. Because the tasks of step ``s`` are
a pure function of ``s`` and the learner's step counter, weights, outer
optimizer state and meta-variables are all in the checkpoint, a run killed and
restarted continues exactly where its last checkpoint left it.

A ``stop`` predicate (or ``threading.Event``), checked before every update,
ends the loop early: a checkpoint is saved at the current step and the result
says ``interrupted``; rerunning continues from there exactly (a signal handler
sets the event, so the running update always finishes first). ``until`` ends
it as complete (a time budget). ``tf.train.CheckpointManager`` replaces the
``checkpoint`` index after the data files: a kill during a save leaves the
previous checkpoint as the latest. A non-finite meta-loss or meta-gradient
stops training with :class:`Diverged` before any variable is changed.

Example:
    >>> stop = threading.Event()   # set by a SIGINT handler
    >>> result = meta_train(learner, sampler, workdir="runs/x", steps=1000, stop=stop,
    ...                     checkpoint=tf.train.Checkpoint(g=g, d=d, step=learner.step),
    ...                     callbacks=[Periodic(100, draw_samples)])
    >>> result.step, result.interrupted
    (1000, False)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf
from absl import logging

from tfmeta import checkpoint_state, distribute
from tfmeta.types import Learner, learning_rates


class TrainResult(dict):
    """The metrics of the last update, plus where the loop stopped.

    Attributes:
      step: the learner's step when the loop returned.
      interrupted: True when ``stop`` ended the loop before ``steps``.
      checkpoint: the latest checkpoint's path (None if none was written).
    """

    def __init__(self, metrics: Mapping[str, float], step: int, interrupted: bool,
                 checkpoint: str | None):
        super().__init__(metrics)
        self.step, self.interrupted, self.checkpoint = step, interrupted, checkpoint


class Diverged(RuntimeError):
    """Raised when a meta-update produced a non-finite loss or gradient."""


class Callback:
    """What :func:`meta_train` calls, as ``keras.callbacks.Callback``: override what you need.
    ``chief_only`` callbacks run only on the chief of a multi-worker strategy."""
    chief_only = False
    steps = 0   # the run's total meta-updates, set by meta_train (`until` may lower it)

    def on_start(self, step: int) -> None:
        """Before the first meta-update of this call (it traces and compiles the update)."""

    def on_update(self, step: int, metrics: Mapping[str, float]) -> None:
        """After each meta-update; ``step`` counts the meta-updates done."""

    def on_saved(self, step: int) -> None:
        """After each checkpoint."""

    def on_interrupted(self, step: int) -> None:
        """When ``stop`` ended the loop (after its checkpoint)."""


class LambdaCallback(Callback):
    """A :class:`Callback` of plain functions; ``on_event(name, step)`` gets ``"start"``,
    ``"saved"`` and ``"interrupted"``."""

    def __init__(self, on_update: Callable[[int, Mapping[str, float]], None] | None = None,
                 on_event: Callable[[str, int], None] | None = None):
        self._update, self._event = on_update, on_event

    def on_update(self, step, metrics):
        if self._update is not None:
            self._update(step, metrics)

    def on_start(self, step):
        if self._event is not None:
            self._event("start", step)

    def on_saved(self, step):
        if self._event is not None:
            self._event("saved", step)

    def on_interrupted(self, step):
        if self._event is not None:
            self._event("interrupted", step)


class Periodic(Callback):
    """Calls ``fn(step)`` every ``period`` meta-updates and after the run's last one.

    For curve points and sample grids: chief only; the run's TensorBoard writer
    is the default writer while ``fn`` runs; not called when ``stop`` ended the
    loop. ``period`` 0: only after the last meta-update.
    """
    chief_only = True

    def __init__(self, period: int, fn: Callable[[int], None]):
        self.period, self.fn = period, fn

    def on_update(self, step, metrics):
        if (self.period and step % self.period == 0) or step == self.steps:
            self.fn(step)


def checkpoint_manager(checkpoint: tf.train.Checkpoint, workdir: str,
                       step_counter: tf.Variable | None = None,
                       max_to_keep: int = 3) -> tf.train.CheckpointManager:
    """The manager of ``workdir/checkpoints``."""
    return tf.train.CheckpointManager(checkpoint, os.path.join(workdir, "checkpoints"),
                                      max_to_keep=max_to_keep, step_counter=step_counter)


def restore_latest(checkpoint: tf.train.Checkpoint, workdir: str) -> str | None:
    """Restores the latest checkpoint of ``workdir`` if there is one; returns its path."""
    latest = checkpoint_state.latest_checkpoint(workdir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        logging.info("restored %s", latest)
    return latest


def meta_train(learner: Learner, sampler: Callable[[tf.Tensor], Any], *,
               workdir: str, steps: int, checkpoint: tf.train.Checkpoint,
               checkpoint_every: int = 100, summary_every: int = 10, max_to_keep: int = 3,
               callbacks: Sequence[Callback] = (),
               stop: Callable[[], bool] | Any | None = None,
               strategy: tf.distribute.Strategy | None = None,
               until: Callable[[], bool] | None = None,
               diverged_hint: str = "Lower the learning rates.") -> TrainResult:
    """Meta-trains until ``learner.step == steps``, resuming from ``workdir``.

    Args:
      learner: owns the variables and the step counter: ``step`` (int64
        variable) and ``train_step(batch) -> metrics``; if it has
        ``learning_rates() -> {name: float}``, those are summarized as
        ``outer_lr/<name>``.
      sampler: ``step (int64 tensor) -> batch`` (a ``Task`` meta-batch, an
        episode...), deterministic in step.
      workdir: run directory; ``checkpoints/`` and ``tensorboard/`` go there.
      steps: total updates of the run (not additional ones).
      checkpoint: holds everything that must survive a restart (must contain
        ``learner.step``).
      checkpoint_every: updates between checkpoints (and a final one).
      summary_every: updates between TensorBoard scalar summaries.
      max_to_keep: checkpoints kept.
      callbacks: :class:`Callback` objects, called in order (progress, curve points...).
      stop: a zero-argument predicate or anything with ``is_set()`` (a
        ``threading.Event``), checked before every update; when true, a
        checkpoint is saved at the current step and the loop returns.
      until: a predicate checked before the first update and after each (a
        spent :class:`tfmeta.budget.TimeBudget`): when true, the run ends there
        as at its last update (checkpoint, callbacks' final work), completed.
      strategy: the learner's ``tf.distribute`` strategy, if any. Only the
        chief writes TensorBoard summaries, calls ``chief_only`` callbacks and writes
        ``workdir/checkpoints``; every worker saves (the others to a scratch
        directory they delete at the end) and restores from there. Under a
        multi-worker strategy the workers agree on ``stop`` before every
        update (one worker's Ctrl-C or SIGTERM stops them all at the same step).
      diverged_hint: the last sentence of a :class:`Diverged` error, what to change.

    Returns:
      A :class:`TrainResult`: the metrics of the last update (empty if
      nothing was done), with ``step``, ``interrupted`` and ``checkpoint``.

    Raises:
      Diverged: on a non-finite meta-loss or meta-gradient.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    stopped = _stop_predicate(stop)
    chief = distribute.is_chief(strategy)
    stopped = _agreed(stopped, strategy)
    callbacks = [c for c in callbacks if chief or not c.chief_only]
    for callback in callbacks:
        callback.steps = steps
    os.makedirs(workdir, exist_ok=True)
    directory = distribute.worker_checkpoint_dir(workdir, strategy)
    if not chief:   # a scratch directory: what a killed worker left there is stale
        shutil.rmtree(directory, ignore_errors=True)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                         step_counter=learner.step)
    restore_latest(checkpoint, workdir)
    writer = (tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")) if chief
              else tf.summary.create_noop_writer())
    sample = tf.function(sampler)
    metrics: dict[str, float] = {}
    start_step = int(learner.step.numpy())
    saved = start_step if manager.latest_checkpoint is not None else None
    if start_step == 0 and saved is None:
        manager.save(checkpoint_number=0)
        saved = 0
    last_time, last_step = time.perf_counter(), start_step
    done = start_step
    if until is not None and until():
        steps = start_step
    interrupted = False
    with writer.as_default():
        if start_step < steps:
            for callback in callbacks:
                callback.on_start(start_step)
        for step in range(start_step, steps):
            if stopped():
                interrupted = True
                break
            tasks = sample(tf.constant(step, tf.int64))
            try:
                out = learner.train_step(tasks)
            except tf.errors.InvalidArgumentError as e:
                kept = manager.latest_checkpoint or "none"
                raise Diverged(f"meta-update {step} diverged ({_first_line(e.message)}); no "
                               "variable was updated and the last good checkpoint is kept: "
                               f"{kept}. {diverged_hint}") from None
            metrics = {k: float(v) for k, v in out.items()}
            done = step + 1
            if until is not None and until():
                steps = done   # this update is the run's last
                for callback in callbacks:
                    callback.steps = done
            if done % summary_every == 0 or done == steps:
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                last_time, last_step = now, done
                for key, value in metrics.items():
                    tf.summary.scalar(key, value, step=done)
                tf.summary.scalar("meta_updates_per_sec", rate, step=done)
                for name, value in learning_rates(learner).items():
                    tf.summary.scalar(f"outer_lr/{name}", float(value), step=done)
            if done % checkpoint_every == 0 or done == steps:
                manager.save(checkpoint_number=done)
                saved = done
            for callback in callbacks:
                callback.on_update(done, metrics)
                if saved == done:
                    callback.on_saved(done)
            if done == steps:
                break
        if interrupted and saved != done:
            manager.save(checkpoint_number=done)
            saved = done
        writer.flush()
    if interrupted:
        for callback in callbacks:
            callback.on_interrupted(done)
    if not chief:
        shutil.rmtree(manager.directory, ignore_errors=True)
        with contextlib.suppress(OSError):   # the last worker out removes .workers/
            os.rmdir(os.path.dirname(manager.directory))
    return TrainResult(metrics, done, interrupted,
                       checkpoint_state.latest_checkpoint(workdir))


def _agreed(stopped: Callable[[], bool], strategy) -> Callable[[], bool]:
    """``stopped`` as one decision of all workers of a multi-worker strategy (any one stops all)."""
    if strategy is None or distribute.is_single_process(strategy):
        return stopped
    count = tf.function(lambda flag: strategy.run(
        lambda f: tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM,
                                                                 tf.identity(f)), args=(flag,)))

    def agreed() -> bool:
        total = count(tf.constant(1.0 if stopped() else 0.0, tf.float32))
        return int(strategy.experimental_local_results(total)[0].numpy()) > 0

    return agreed


def _stop_predicate(stop) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return lambda: bool(stop())
    raise TypeError(f"stop must be a predicate or have is_set(), got {type(stop).__name__}")


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if "non-finite" in line:
            return line.strip()
    return message.splitlines()[0].strip() if message else "non-finite value"
