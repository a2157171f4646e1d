"""How a trainer's run stops short: Ctrl-C (a checkpoint, exit 130) and a user's error (exit 1).

The shell (:mod:`trainers.shell`) runs an experiment inside :func:`stop_on_signal`;
an interrupted result is said by :func:`interrupted_status`, and an error a user
can fix (a bad value, a missing file, a diverged run) by :func:`error_status`, as
one line with the library's backticked field names shown as ``--flags``.
"""

from __future__ import annotations

import os
import sys

from trainers import common

INTERRUPTED_EXIT = common.INTERRUPTED_EXIT
ERROR_EXIT = 1


def refuse_file_workdir(config, workdir: str) -> None:
    """``check_workdir`` of trainers without resume: the run directory must not be a file."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"`workdir`={workdir} is a file, not a directory")


def stop_on_signal(unit: str) -> common.StopOnSignal:
    """Ctrl-C or SIGTERM sets the context's ``event``: the run stops after the running ``unit``.

    The run checkpoints and returns an interrupted result; a second Ctrl-C quits at once.
    """
    return common.StopOnSignal(on_signal=lambda: common.say(
        f"stopping after the running {unit}; Ctrl-C again quits at once (the last checkpoint "
        "is kept)"))


def interrupted_status(result) -> int | None:
    """:data:`INTERRUPTED_EXIT`, said with the step to resume from, if ``result`` was interrupted.

    None for a run that finished.
    """
    if not _get(result, "interrupted"):
        return None
    common.say(f"interrupted at step {_get(result, 'step')}; saved; rerun the same command to "
               "resume")
    return INTERRUPTED_EXIT


def error_status(error: Exception, names, progress=None) -> int:
    """:data:`ERROR_EXIT` after ``error`` as one line on stderr, if a user can fix it.

    A user can fix a ``ValueError``, ``OSError``, ``FloatingPointError`` or a diverged
    run (:class:`tfmeta.training.Diverged`); any other error is raised again. The
    progress bar, if any, is closed first. Backticked names in ``names`` are shown as
    ``--flags``.
    """
    from tfmeta.training import Diverged
    if progress is not None:
        progress.close()
    if not isinstance(error, (ValueError, OSError, FloatingPointError, Diverged)):
        raise error
    sys.stderr.write(f"error: {common.to_flags(str(error), names)}\n")
    return ERROR_EXIT


def _get(result, name):
    """``result.name``, or ``result[name]`` for a plain results dict."""
    if hasattr(result, name):
        return getattr(result, name)
    return result.get(name) if isinstance(result, dict) else None
