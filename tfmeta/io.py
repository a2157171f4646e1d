"""Atomic writes: JSON, text, PNG, Keras models and directories -- the one place.

Every file tfmeta writes for a reader that may run at the same time (a config
next to its checkpoints, a sample grid TensorBoard or a person is looking at, a
critic another process loads, a SavedModel version TF Serving polls for) is
first written under a temporary name in the same directory and then renamed
over the final name with ``os.replace``. A reader therefore sees the old file
or the new one, never half of one, and a crash leaves at most a ``.tmp-*`` file
behind.

Directories (SavedModel versions) are published by ``export/versions.py``,
which must move to the next free version number when another writer takes one.

Example:
    >>> write_json("runs/x/config.json", {"steps": 10})
    >>> write_png("runs/x/samples/latest.png", grid)   # uint8 [H, W, 1|3]
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["atomic_path", "write_json", "write_text", "write_bytes", "write_png",
           "save_keras", "read_json", "write_with"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _new_file_mode(path: str) -> None:
    """Gives a ``mkstemp`` file (mode 0600) the permissions of an ordinary new file."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yields a temporary file name beside ``path``; renames it to ``path`` on success.

    On an exception (including KeyboardInterrupt) the temporary file is removed
    and ``path`` is left as it was.

    Args:
      path: the final file.
      suffix: ending of the temporary name (some writers, e.g. Keras, insist
        on an extension such as ``".keras"``).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".tmp-{os.path.basename(path)}-",
                               suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        _new_file_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Writes ``data`` as indented, key-sorted JSON to ``path`` atomically.

    numpy scalars and arrays and tuples are written as numbers and lists.
    """
    text = json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n"
    write_text(path, text)


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file; the error names the file when it is not valid JSON."""
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{os.fspath(path)} is not valid JSON: {e}") from None


def write_png(path: str | os.PathLike, image: Any) -> None:
    """Writes a uint8 ``[H, W, 1|3|4]`` image as PNG to ``path`` atomically."""
    import tensorflow as tf  # only here: the rest of this module has no TensorFlow

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"write_png needs a uint8 [H, W, 1|3|4] image, got {image.dtype} "
                         f"{list(image.shape)}")
    write_bytes(path, tf.io.encode_png(image).numpy())


def save_keras(path: str | os.PathLike, model: Any) -> None:
    """Saves a Keras model (``.keras`` file) to ``path`` atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        os.remove(tmp)   # Keras refuses to overwrite without asking
        model.save(tmp)


def write_with(path: str | os.PathLike, writer: Callable[[str], None], suffix: str = "") -> None:
    """Calls ``writer(tmp)`` to write a file, then renames it to ``path`` atomically."""
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)


def write_figure(path: str | os.PathLike, fig: Any, dpi: int = 110) -> None:
    """Writes a matplotlib figure as PNG at ``path`` atomically and closes it."""
    import matplotlib.pyplot as plt
    try:
        write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi), suffix=".png")
    finally:
        plt.close(fig)
