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
import os
from typing import Any

import tensorflow as tf

from tfmeta import io
from tfmeta.experiments.maml_gan.build import Setup, build, load_data
from tfmeta.experiments.maml_gan.config import RESUMABLE_FIELDS, MamlGanConfig
from tfmeta.training import restore_latest

CONFIG_FILE = "config.json"
PRESET_KEY = "preset"   # stored beside the config's fields; not a config field


def config_path(workdir: str) -> str:
    return os.path.join(workdir, CONFIG_FILE)


def stored_settings(workdir: str) -> dict | None:
    """The raw ``config.json`` of ``workdir`` (with ``preset`` if stored); None if no run."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"--workdir={workdir} is a file; give a directory (a new one, or one "
                         "holding a run to resume)")
    path = config_path(workdir)
    return io.read_json(path) if os.path.exists(path) else None


def check_workdir(config: MamlGanConfig, workdir: str) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run whose config is incompatible."""
    stored = stored_settings(workdir)
    if stored is None:
        return
    stored = {k: v for k, v in stored.items() if k != PRESET_KEY}
    current = config.to_json()
    default = MamlGanConfig().to_json()  # a field older runs did not store has its default
    unknown = sorted(set(stored) - set(current))
    if unknown:
        raise ValueError(f"{config_path(workdir)} has settings this version does not know: "
                         f"{unknown}")
    resumable = set(RESUMABLE_FIELDS)
    if current["outer_lr_schedule"] != "constant":
        resumable.discard("steps")  # the schedule's length is the run's length
    stored = {k: stored.get(k, default[k]) for k in current}
    diff = {k: (stored[k], current[k]) for k in current
            if k not in resumable and stored[k] != current[k]}
    if diff:
        detail = ", ".join(f"--{k}={new!r} (the run has {old!r})" for k, (old, new) in diff.items())
        raise ValueError(
            f"--workdir={workdir} holds a run with another config: {detail}. Use the run's "
            "settings to resume it, or another --workdir for a new run.")


def write_config(config: MamlGanConfig, workdir: str, preset: str | None = None) -> None:
    """Writes ``workdir/config.json`` atomically (with the preset's name if given)."""
    data = config.to_json()
    if preset is not None:
        data[PRESET_KEY] = preset
    io.write_json(config_path(workdir), data)


def read_config(workdir: str) -> MamlGanConfig:
    """The config of the run in ``workdir``."""
    stored = stored_settings(workdir)
    if stored is None:
        raise FileNotFoundError(f"{workdir} holds no MAML-GAN run (no config.json)")
    stored.pop(PRESET_KEY, None)
    return MamlGanConfig(**stored)


def latest_checkpoint(workdir: str) -> tuple[str, int] | None:
    """``(path, step)`` of the newest checkpoint of ``workdir``, or None.

    Checkpoints are numbered by the meta-update they were taken after.
    """
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if not latest:
        return None
    return latest, int(latest.rsplit("-", 1)[-1])


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
