"""A disk cache of prepared image pools, so that a process does not decode a dataset again.

Decoding and resizing a TFDS dataset costs seconds at every start (MNIST's
70000 PNGs about 7 s, Omniglot about 8 s on 2 cores). The prepared arrays are
kept as one uncompressed ``.npz`` per (dataset files, split, preprocessing)
under the cache directory, and read back in a fraction of a second.

The cache directory is ``$TFMETA_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfmeta``,
else ``~/.cache/tfmeta``; ``TFMETA_CACHE_DIR=off`` (or empty) turns it off. An
entry's key names the dataset files by name, size and modification time, so a
re-prepared or changed dataset is read again; writes are atomic (a temporary
file renamed), so processes may share the directory. A cache that cannot be
written is skipped with a log line, never an error.

Example:
    >>> arrays = cached_arrays(key, lambda: {"images": x, "labels": y})
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Callable, Mapping

from absl import logging
import numpy as np

FORMAT = 1          # bump when what is stored changes
OFF = ("", "off", "0", "none")


def cache_dir() -> str | None:
    """The cache directory, or None when the cache is turned off."""
    if "TFMETA_CACHE_DIR" in os.environ:
        value = os.environ["TFMETA_CACHE_DIR"]
        return None if value.strip().lower() in OFF else value
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tfmeta")


def files_fingerprint(directory: str) -> list[tuple[str, int, int]]:
    """``(name, size, mtime_ns)`` of every file in ``directory`` (sorted; [] if none)."""
    if not os.path.isdir(directory):
        return []
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            stat = os.stat(path)
            out.append((name, int(stat.st_size), int(stat.st_mtime_ns)))
    return out


def key_of(**parts: Any) -> str:
    """A file name for ``parts`` (JSON-able values): a hash, with the first part readable."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    first = str(next(iter(parts.values()), "entry")).replace(os.sep, "_")[:40]
    return f"{first}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def cached_arrays(key: str, compute: Callable[[], Mapping[str, np.ndarray]],
                  folder: str = "datasets") -> dict[str, np.ndarray]:
    """``compute()``'s arrays, read from the cache entry ``key`` when it is there.

    ``compute`` returns a mapping of names to numpy arrays (numbers or
    strings; no objects); it is called, and its result stored, on a miss.
    """
    root = cache_dir()
    path = None if root is None else os.path.join(root, folder, key + ".npz")
    if path is not None and os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError) as e:   # a damaged entry: compute again
            logging.warning("ignoring the damaged cache entry %s (%s)", path, e)
    arrays = {name: np.asarray(value) for name, value in compute().items()}
    if path is not None:
        _write(path, arrays)
    return arrays


def _write(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    except OSError as e:
        logging.warning("not caching prepared data in %s (%s); set TFMETA_CACHE_DIR to a "
                        "writable directory, or TFMETA_CACHE_DIR=off", directory, e)
