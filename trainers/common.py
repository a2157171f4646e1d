"""Helpers shared by the command-line trainers (progress bars, JSON, atomic files)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

import numpy as np


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_data_dir() -> str | None:
    """The TFDS data directory the trainers use when ``--data_dir`` is not given.

    ``TFDS_DATA_DIR`` if set; else the offline copy ``../shared/tensorflow_datasets``
    next to the project root when it exists (this workplace, CI); else None, which
    lets TFDS use its own default (``~/tensorflow_datasets``) and download there.
    """
    if os.environ.get("TFDS_DATA_DIR"):
        return os.environ["TFDS_DATA_DIR"]
    shared = os.path.join(PROJECT_ROOT, "..", "shared", "tensorflow_datasets")
    return os.path.normpath(shared) if os.path.isdir(shared) else None


def write_json_atomic(path: str, data: Any) -> None:
    """Writes ``data`` as JSON to ``path`` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=_jsonable)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def progress_bar(total: int, desc: str, initial: int = 0):
    """A tqdm bar on stderr (elapsed, rate and time left); quiet when not a TTY in CI."""
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, dynamic_ncols=True,
                mininterval=1.0 if sys.stderr.isatty() else 30.0)
