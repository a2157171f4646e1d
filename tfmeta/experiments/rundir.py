"""Run directories of every experiment: the stored config, checks on resume, checkpoints.

A run directory holds ``config.json`` (the experiment's frozen config
dataclass as JSON, plus the name of the preset it started from when one was
used), ``checkpoints/`` and ``tensorboard/``. Rerunning in the same directory
resumes the run; :func:`check_workdir` refuses settings that would make the
resumed run a different one.

Example:
    >>> check_workdir(config, "runs/x", resumable=("steps",))
    >>> write_config(config, "runs/x")
    >>> read_config(FewShotConfig, "runs/x") == config
    True
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable, Union

import tensorflow as tf

from tfmeta import checkpoint_state, io

CONFIG_FILE = "config.json"
PRESET_KEY = "preset"   # stored beside the config's fields; not a config field
# What runs made by older versions stored, read as this version means it: the values of
# fields they did not store, or a function of their stored settings.
Legacy = Union[dict, Callable[[dict], dict], None]


def config_path(workdir: str) -> str:
    return os.path.join(workdir, CONFIG_FILE)


def stored_settings(workdir: str, legacy: Legacy = None) -> dict | None:
    """The raw ``config.json`` of ``workdir`` (with ``preset`` if stored); None if no run.
    ``legacy``: values of fields that runs made before those fields existed did not store,
    or a function from the stored settings to the ones this version reads."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"`workdir`={workdir} is a file; give a directory (a new one, or one "
                         "holding a run to resume)")
    path = config_path(workdir)
    if not os.path.exists(path):
        return None
    stored = io.read_json(path)
    return legacy(stored) if callable(legacy) else {**(legacy or {}), **stored}


def read_points(workdir: str, name: str) -> list[dict]:
    """The ``points`` list of the JSON curve file ``workdir/name`` ([] if there is none)."""
    path = os.path.join(workdir, name)
    return list(io.read_json(path)["points"]) if os.path.exists(path) else []


def write_point(workdir: str, name: str, point: dict, **header) -> list[dict]:
    """Adds ``point`` to the JSON curve file ``workdir/name`` (replacing a point of the same
    ``step``), with ``header``'s keys beside ``points``; returns the points by step."""
    points = [p for p in read_points(workdir, name) if p["step"] != point["step"]]
    points = sorted(points + [point], key=lambda p: p["step"])
    io.write_json(os.path.join(workdir, name), {**header, "points": points})
    return points


def resumable_fields(fields: Iterable[str], config) -> set[str]:
    """``fields`` that may change when ``config``'s run is resumed; not ``steps`` nor
    ``max_minutes`` when the outer learning rate follows a schedule over the run's length."""
    out = set(fields)
    if getattr(config, "outer_lr_schedule", "constant") != "constant":
        out -= {"steps", "max_minutes"}
    return out


def check_workdir(config, workdir: str, resumable: Iterable[str],
                  legacy: Legacy = None) -> None:
    """Raises ValueError if ``workdir`` is a file or holds a run with an incompatible config.

    Fields in ``resumable`` may differ; a field an older run did not store is
    compared with its ``legacy`` value if given, else with its default.
    """
    stored = stored_settings(workdir, legacy)
    if stored is None:
        return
    stored = {k: v for k, v in stored.items() if k != PRESET_KEY}
    current = config.to_json()
    default = type(config)().to_json()
    unknown = sorted(set(stored) - set(current))
    if unknown:
        raise ValueError(f"{config_path(workdir)} has settings this version does not know: "
                         f"{unknown}")
    resumable = set(resumable)
    stored = {k: stored.get(k, default[k]) for k in current}
    diff = {k: (stored[k], current[k]) for k in current
            if k not in resumable and stored[k] != current[k]}
    if diff:
        detail = ", ".join(f"`{k}`={new!r} (the run has {old!r})" for k, (old, new) in diff.items())
        raise ValueError(
            f"`workdir`={workdir} holds a run with another config: {detail}. Use the run's "
            "settings to resume it, or another `workdir` for a new run.")


def write_config(config, workdir: str, preset: str | None = None) -> None:
    """Writes ``workdir/config.json`` atomically (with the preset's name if given)."""
    data = config.to_json()
    if preset is not None:
        data[PRESET_KEY] = preset
    io.write_json(config_path(workdir), data)


def read_config(config_class, workdir: str, what: str = "run", legacy: Legacy = None):
    """The ``config_class`` instance stored in ``workdir`` (``legacy``: as
    :func:`stored_settings`)."""
    stored = stored_settings(workdir, legacy)
    if stored is None:
        raise FileNotFoundError(f"{workdir} holds no {what} (no config.json)")
    stored.pop(PRESET_KEY, None)
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(stored) - names)
    if unknown:
        raise ValueError(f"{config_path(workdir)} is not a {what}: unknown settings {unknown}")
    return config_class(**stored)


def checkpoint_paths(workdir: str) -> list[str]:
    """Every checkpoint a run in ``workdir`` kept, oldest first (``[]`` if none)."""
    state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    return list(state.all_model_checkpoint_paths) if state else []


def latest_checkpoint(workdir: str) -> tuple[str, int] | None:
    """``(path, step)`` of the newest checkpoint of ``workdir``, or None.

    Checkpoints are numbered by the meta-update they were taken after.
    """
    latest = checkpoint_state.latest_checkpoint(workdir)
    if not latest:
        return None
    return latest, int(latest.rsplit("-", 1)[-1])


def checkpoint_steps(checkpoints: str) -> list[int]:
    """The meta-update counts of ``checkpoints`` ("900,3600"), checked."""
    try:
        steps = [int(s) for s in checkpoints.split(",")]
    except ValueError:
        steps = []
    if not steps or any(s < 0 for s in steps):
        raise ValueError(f"`checkpoints`={checkpoints!r}; expected 'latest', 'all' or "
                         f"meta-update counts separated by commas, e.g. '900,3600'")
    return steps


def selected_checkpoints(workdir: str, checkpoints: str) -> list[str | None]:
    """The checkpoint paths of ``workdir`` that ``checkpoints`` names (None: the latest).

    Raises:
      ValueError: a named meta-update count the run did not keep.
    """
    if checkpoints == "latest":
        return [None]
    kept = checkpoint_paths(workdir)
    if checkpoints == "all":
        return kept
    by_step = {int(p.rsplit("-", 1)[-1]): p for p in kept}
    steps = sorted(set(checkpoint_steps(checkpoints)))
    missing = [s for s in steps if s not in by_step]
    if missing:
        raise ValueError(f"`checkpoints`={checkpoints!r}: run {workdir} kept no checkpoint "
                         f"at {', '.join(map(str, missing))} (it kept "
                         f"{', '.join(map(str, sorted(by_step))) or 'none'})")
    return [by_step[s] for s in steps]
