"""Meta-trains (or resumes) a MAML-GAN run in its run directory; reads and reloads runs.

:func:`run` declares the experiment to the run skeleton
(:mod:`tfmeta.experiments.skeleton`): the data, the meta-batches, the build, a
sample grid every ``sample_every`` updates and at the end. :func:`check_workdir`,
:func:`read_config` and :func:`load_run` read a run directory back.

Example:
    >>> result = run(MamlGanConfig(steps=100, data_dir="../shared/tensorflow_datasets"),
    ...              "runs/mnist")
    >>> result.step, result.interrupted
    (100, False)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import tensorflow as tf

from tfmeta.data import MetaBatchSampler
from tfmeta.experiments import rundir, skeleton
from tfmeta.experiments.maml_gan.build import MamlGanSetup, adapting, build, load_data
from tfmeta.experiments.maml_gan.config import RESUMABLE_FIELDS, MamlGanConfig, legacy
from tfmeta.experiments.maml_gan.figures import grid_classes, grid_image, sample_grid, write_grid
from tfmeta.training import TrainResult, checkpoint_manager, restore_latest


def check_workdir(config: MamlGanConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run whose config is incompatible."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)


def read_config(workdir: str) -> MamlGanConfig:
    """The config of the run in ``workdir`` (an older run's as this version means it)."""
    return rundir.read_config(MamlGanConfig, workdir, what="MAML-GAN run", legacy=legacy)


def stored_settings(workdir: str) -> dict | None:
    """The run's stored settings as this version means them (:func:`.config.legacy`)."""
    return rundir.stored_settings(workdir, legacy)


def load_run(workdir: str, **overrides) -> tuple[MamlGanSetup, Any]:
    """Rebuilds a run from ``workdir`` to adapt, and restores its latest checkpoint.

    Its inner rates are the ones it adapts with (``MamlGanConfig.adapting``).

    Returns:
      ``(setup, splits)``. Raises FileNotFoundError if there is no checkpoint.
    """
    config = dataclasses.replace(read_config(workdir), **overrides).adapting()
    splits = load_data(config)
    setup = build(config, splits.train.image_shape)
    if restore_latest(setup.checkpoint, workdir) is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    return setup, splits


def run(config: MamlGanConfig, workdir: str,
        progress: Callable[[int, dict], None] | None = None, splits=None, *,
        on_event: Callable[[str, int], None] | None = None, stop=None,
        preset: str | None = None, strategy: tf.distribute.Strategy | None = None
        ) -> TrainResult:
    """Meta-trains (or resumes) a run in ``workdir``; returns the last metrics.

    Writes ``config.json``, ``checkpoints/``, ``tensorboard/`` (scalars and
    sample images) and ``samples/step_XXXXXX.png`` grids (paper 000, Figure 5);
    ``samples/latest.png`` always exists when the run returns (a run that had
    nothing to do, e.g. ``steps=0``, draws its current step's grid).

    Args:
      config: the run's settings.
      workdir: the run directory (created; an existing run there is resumed).
      progress: called after every meta-update with ``(step, metrics)``.
      splits: the loaded data (default: loaded from ``config``).
      on_event: ``(name, step)`` callbacks of :func:`tfmeta.training.meta_train`
        plus ``"data"`` (data loaded) and ``"grid"`` (a sample grid was written).
      stop: predicate or ``threading.Event``: when set, the run checkpoints at
        the current step and returns with ``interrupted=True``.
      preset: the name of the preset the settings came from, stored in
        ``config.json`` for the record.
      strategy: a ``tf.distribute`` strategy whose replicas split each
        meta-batch (see :mod:`tfmeta.distribute`); only its chief writes
        ``config.json``, grids and summaries. The run directory does not record
        it: a run resumes under any strategy with the same meta-batch.

    Raises:
      ValueError: on an incompatible existing run or bad settings.
      tfmeta.training.Diverged: when a meta-update is non-finite.
    """
    if config.algorithm == "scratch":
        _check(config, strategy)
        return _scratch(config, workdir, splits, on_event, preset)
    return skeleton.train(EXPERIMENT, config, workdir, progress, splits=splits,
                          on_event=on_event, stop=stop, preset=preset, strategy=strategy)


def _check(config: MamlGanConfig, strategy) -> None:
    if strategy is not None and config.algorithm == "scratch":
        raise ValueError("`distribute`: algorithm scratch does not train; use `distribute`=none")


def _sampler(config: MamlGanConfig, splits) -> MetaBatchSampler | None:
    """The training meta-batches; checks that every class can serve a batch."""
    sampler = None
    if config.algorithm != "scratch":
        try:
            sampler = MetaBatchSampler(splits.train, tasks=config.meta_batch_size,
                                       inner_steps=config.inner_steps,
                                       batch_size=config.batch_size, seed=config.seed)
        except ValueError as e:
            raise ValueError(f"`batch_size`/`meta_batch_size`: {e}") from None
    if splits.test.counts.numpy().min() < config.batch_size:
        raise ValueError(
            f"`batch_size`={config.batch_size} is larger than the smallest held-out class "
            f"({int(splits.test.counts.numpy().min())} images); lower `batch_size`")
    return sampler


def _grid(run: skeleton.Run) -> Callable[[int], None]:
    """``grid(step)``: writes the sample grid of ``step`` (paper 000, Figure 5)."""
    config, splits = run.config, run.splits
    # Both rows adapt as trainers.evaluate and the exports do (`adapt_lr_scale`).
    random_setup = adapting(build(dataclasses.replace(config, algorithm="scratch"),
                                  splits.train.image_shape, seed=config.seed + 1))
    samples_dir = os.path.join(run.workdir, "samples")
    os.makedirs(samples_dir, exist_ok=True)
    classes = grid_classes(splits.test)

    def grid(step: int) -> None:
        blocks, rows, cols = sample_grid(adapting(run.setup), random_setup, splits.test, classes,
                                         samples=config.grid_samples, seed=config.seed,
                                         steps=config.grid_steps)
        image = grid_image(blocks, rows, cols)
        write_grid(samples_dir, step, image)
        tf.summary.image("samples/figure5", image[None], step=step)
        run.event("grid", step)
    return grid


def _every(run: skeleton.Run):
    run.extra["grid"] = _grid(run)
    return [(run.config.sample_every, run.extra["grid"])]


def _finish(run: skeleton.Run, result: TrainResult) -> TrainResult:
    """The last grid, when the run completed without drawing one (e.g. nothing to do)."""
    if run.chief and not result.interrupted and \
            not os.path.exists(os.path.join(run.workdir, "samples", "latest.png")):
        with tf.summary.create_file_writer(os.path.join(run.workdir, "tensorboard")).as_default():
            run.extra["grid"](result.step)
    return result


def _diverged_hint(config: MamlGanConfig) -> str:
    """What a diverged run's error says to change: the rates, and a minimax or
    non-saturating loss for WGAN-GP (paper 000's loss)."""
    if config.loss in ("minimax", "non-saturating"):
        return "Lower the learning rates or use `loss`=wgan-gp."
    return "Lower the learning rates."


EXPERIMENT = skeleton.Experiment(
    build=lambda config, splits: build(config, splits.train.image_shape),
    check_data=_sampler, sampler=lambda run: run.checked,   # the sampler _sampler made
    load_data=load_data, check=_check, every=_every,
    resumable=lambda config: rundir.resumable_fields(RESUMABLE_FIELDS, config),
    first_point=lambda run: False, finish=_finish, diverged_hint=_diverged_hint, legacy=legacy)


def _scratch(config: MamlGanConfig, workdir: str, splits, on_event, preset) -> TrainResult:
    """A run that does not train: its random initialization, checkpoint 0 and its grid."""
    skeleton.check_workdir(EXPERIMENT, config, workdir)
    splits = splits if splits is not None else load_data(config)
    _sampler(config, splits)
    tf.config.experimental.enable_op_determinism()
    setup = build(config, splits.train.image_shape)
    rundir.write_config(config, workdir, preset=preset)
    run = skeleton.Run(config, workdir, splits, setup, True, None,
                       on_event or (lambda name, step: None), skeleton.Clock())
    run.event("data", int(setup.checkpoint.step.numpy()))
    grid = _grid(run)
    manager = checkpoint_manager(setup.checkpoint, workdir, setup.checkpoint.step)
    if manager.latest_checkpoint is None:
        manager.save(checkpoint_number=0)
    with tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")).as_default():
        grid(0)
    return TrainResult({}, 0, False, manager.latest_checkpoint)
