"""The meta-training loop: checkpoints with exact resume, summaries, divergence stop.

:func:`meta_train` drives a :class:`tfmeta.algorithms.MetaLearner` over a
deterministic task stream ``sampler(step)``. Because the tasks of step ``s`` are
a pure function of ``s`` and the learner's step counter, weights, outer
optimizer state and meta-variables are all in the checkpoint, a run killed and
restarted continues exactly where its last checkpoint left it.

Checkpoints are written by ``tf.train.CheckpointManager``: the data files are
written first and the ``checkpoint`` index is replaced atomically afterwards,
so a kill during a save leaves the previous checkpoint as the latest.

A non-finite meta-loss or meta-gradient stops training with :class:`Diverged`
before any variable is changed; the last good checkpoint stays the latest.

Example:
    >>> meta_train(learner, sampler, workdir="runs/x", steps=1000,
    ...            checkpoint=tf.train.Checkpoint(g=g, d=d, **learner.checkpoint_items()))
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping

import tensorflow as tf
from absl import logging

from tfmeta.algorithms import MetaLearner
from tfmeta.types import Task


class Diverged(RuntimeError):
    """Raised when a meta-update produced a non-finite loss or gradient."""


def checkpoint_manager(checkpoint: tf.train.Checkpoint, workdir: str,
                       step_counter: tf.Variable | None = None,
                       max_to_keep: int = 3) -> tf.train.CheckpointManager:
    """The manager of ``workdir/checkpoints``."""
    return tf.train.CheckpointManager(checkpoint, os.path.join(workdir, "checkpoints"),
                                      max_to_keep=max_to_keep, step_counter=step_counter)


def restore_latest(checkpoint: tf.train.Checkpoint, workdir: str) -> str | None:
    """Restores the latest checkpoint of ``workdir`` if there is one; returns its path."""
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        logging.info("restored %s", latest)
    return latest


def meta_train(learner: MetaLearner, sampler: Callable[[tf.Tensor], Task], *,
               workdir: str, steps: int, checkpoint: tf.train.Checkpoint,
               checkpoint_every: int = 100, summary_every: int = 10,
               on_step: Callable[[int, Mapping[str, float]], None] | None = None,
               on_checkpoint: Callable[[int], None] | None = None,
               every: int = 0, max_to_keep: int = 3) -> dict[str, float]:
    """Meta-trains until ``learner.step == steps``, resuming from ``workdir``.

    Args:
      learner: owns the variables and the step counter.
      sampler: ``step (int64 tensor) -> Task`` meta-batch, deterministic in step.
      workdir: run directory; ``checkpoints/`` and ``tensorboard/`` go there.
      steps: total meta-updates of the run (not additional ones).
      checkpoint: holds everything that must survive a restart (must contain
        ``learner.step``).
      checkpoint_every: meta-updates between checkpoints (and a final one).
      summary_every: meta-updates between TensorBoard scalar summaries.
      on_step: called after every update with ``(step, metrics)``.
      on_checkpoint: called as ``on_checkpoint(step)`` every ``every`` steps and
        at the end (sample grids, image summaries); the summary writer is the
        default writer while it runs.
      every: period of ``on_checkpoint`` (0: only at the end).
      max_to_keep: checkpoints kept.

    Returns:
      The metrics of the last meta-update (empty if nothing was left to do).

    Raises:
      Diverged: on a non-finite meta-loss or meta-gradient.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    os.makedirs(workdir, exist_ok=True)
    manager = checkpoint_manager(checkpoint, workdir, learner.step, max_to_keep)
    restore_latest(checkpoint, workdir)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
    sample = tf.function(sampler)
    metrics: dict[str, float] = {}
    start_step = int(learner.step.numpy())
    if start_step == 0 and manager.latest_checkpoint is None:
        manager.save(checkpoint_number=0)
    last_time, last_step = time.perf_counter(), start_step
    with writer.as_default():
        for step in range(start_step, steps):
            tasks = sample(tf.constant(step, tf.int64))
            try:
                out = learner.train_step(tasks)
            except tf.errors.InvalidArgumentError as e:
                kept = manager.latest_checkpoint or "none"
                raise Diverged(
                    f"meta-update {step} diverged ({_first_line(e.message)}); no variable was "
                    f"updated and the last good checkpoint is kept: {kept}. Lower the "
                    "learning rates or use --loss=wgan-gp.") from None
            metrics = {k: float(v) for k, v in out.items()}
            done = step + 1
            if done % summary_every == 0 or done == steps:
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                last_time, last_step = now, done
                for key, value in metrics.items():
                    tf.summary.scalar(key, value, step=done)
                tf.summary.scalar("meta_updates_per_sec", rate, step=done)
                for player, optimizer in learner.outer.items():
                    tf.summary.scalar(f"outer_lr/{player}", float(optimizer.learning_rate),
                                      step=done)
            if on_step is not None:
                on_step(done, metrics)
            if done % checkpoint_every == 0 or done == steps:
                manager.save(checkpoint_number=done)
            if on_checkpoint is not None and ((every and done % every == 0) or done == steps):
                on_checkpoint(done)
        writer.flush()
    return metrics


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if "non-finite" in line:
            return line.strip()
    return message.splitlines()[0].strip() if message else "non-finite value"
