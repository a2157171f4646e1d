"""The run directory of a MAML-GAN run: its stored config, checks on resume, reloading.

A run directory holds ``config.json`` (the :class:`MamlGanConfig`, plus the
name of the preset it started from when the trainer used one),
``checkpoints/``, ``tensorboard/`` and ``samples/``. Rerunning in the same
directory resumes the run; :func:`check_workdir` refuses settings that would
make the resumed run a different one.

Example:
    >>> setup, splits = load_run("runs/mnist_maml")   # latest checkpoint restored
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfmeta.experiments import rundir as _rundir
from tfmeta.experiments.maml_gan.build import Setup, build, load_data
from tfmeta.experiments.maml_gan.config import RESUMABLE_FIELDS, MamlGanConfig
from tfmeta.experiments.rundir import (CONFIG_FILE, PRESET_KEY, config_path,  # noqa: F401
                                       latest_checkpoint, stored_settings, write_config)
from tfmeta.training import restore_latest


def check_workdir(config: MamlGanConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run whose config is incompatible."""
    _rundir.check_workdir(config, workdir, _rundir.resumable_fields(RESUMABLE_FIELDS, config))


def read_config(workdir: str) -> MamlGanConfig:
    """The config of the run in ``workdir``."""
    return _rundir.read_config(MamlGanConfig, workdir, what="MAML-GAN run")


def load_run(workdir: str, **overrides) -> tuple[Setup, Any]:
    """Rebuilds a run from ``workdir`` and restores its latest checkpoint.

    Returns:
      ``(setup, splits)``. Raises FileNotFoundError if there is no checkpoint.
    """
    config = dataclasses.replace(read_config(workdir), **overrides)
    splits = load_data(config)
    setup = build(config, splits.train.image_shape)
    if restore_latest(setup.checkpoint, workdir) is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    return setup, splits
