"""Numbered, atomic model versions: the directory layout TF Serving watches.

TF Serving serves ``BASE/NAME/<version>/`` where ``<version>`` is an integer,
and by default the largest one. A new version is written beside the others
under a name the server ignores (``.tmp-<version>-<pid>``) and renamed to
``<version>`` only when complete, so a watcher never sees half a model. If
another writer takes the same number first, the finished directory is renamed
to the next free number instead.

Example:
    >>> path = write_new_version("exports/mnist", lambda tmp: tf.saved_model.save(m, tmp))
    >>> os.path.basename(path)
    '1'
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import Callable

_MAX_RENAME_ATTEMPTS = 100


def versions(model_dir: str) -> list[int]:
    """The numeric version subdirectories of ``model_dir``, ascending."""
    if not os.path.isdir(model_dir):
        return []
    found = []
    for entry in os.listdir(model_dir):
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry)):
            found.append(int(entry))
    return sorted(found)


def next_version(model_dir: str) -> int:
    """One more than the largest existing version (1 for a new model)."""
    existing = versions(model_dir)
    return existing[-1] + 1 if existing else 1


def write_new_version(model_dir: str, write: Callable[[str], None]) -> str:
    """Calls ``write(tmp_dir)`` and atomically publishes ``tmp_dir`` as the next version.

    Args:
      model_dir: ``BASE/NAME``; created if missing.
      write: fills the (not yet existing) directory it is given.

    Returns:
      The published directory ``model_dir/<version>``.

    Raises:
      Whatever ``write`` raises (nothing is published then, and the temporary
      directory is removed); OSError if no version number could be taken.
    """
    os.makedirs(model_dir, exist_ok=True)
    version = next_version(model_dir)
    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        for _ in range(_MAX_RENAME_ATTEMPTS):
            final = os.path.join(model_dir, str(version))
            if not os.path.exists(final):
                try:
                    os.rename(tmp, final)
                    return final
                except OSError as e:   # another writer published this number meanwhile
                    if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            version = max(version + 1, next_version(model_dir))
        raise OSError(f"could not publish a new version in {model_dir} after "
                      f"{_MAX_RENAME_ATTEMPTS} attempts (concurrent writers?)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
