"""Reading a benchmark's files as users have them: find, check, unpickle, decode, pool.

The few-shot benchmarks (:mod:`tfmeta.data.mini_imagenet`,
:mod:`tfmeta.data.cifar100`, :mod:`tfmeta.data.cub`) are files a user
downloaded by hand. Their most common failure is the file itself: missing, cut
short, or a cloud drive's HTML page saved under the dataset's name. Every
check here ends in one line (a :class:`FileNotFoundError` or
:class:`ValueError`) that names the file and where to get it.

* :func:`find` -- the first of some candidate paths that exists, else a
  one-line :class:`FileNotFoundError`.
* :func:`check_md5` -- a file's MD5 against the published one.
* :func:`read_pickle` -- a pickle (Python 3, or Python 2 with ``latin1``),
  refusing truncated files and HTML pages.
* :func:`decode_images` -- encoded JPEG/PNG bytes to uint8
  ``[n, size, size, 3]``.
* :func:`class_pool` -- uint8 images and labels to a :class:`ClassDataset`
  kept as uint8 (a quarter of float32's memory), resized if needed.

Example:
    >>> path = find("CIFAR-100", [root / "cifar-100-python" / "train"], source=URL)
    >>> batch = read_pickle(path, "CIFAR-100", source=URL)
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Callable, Iterable, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits

__all__ = ["HELD_OUT", "benchmark_splits", "check_class_count", "check_held_out", "check_md5",
           "class_pool", "decode_images", "find", "md5_of", "require_keys", "read_pickle",
           "resize_uint8"]

_HTML_STARTS = (b"<!doctype html", b"<html", b"<!DOCTYPE", b"<head")


def find(what: str, candidates: Sequence[str | os.PathLike], *, source: str) -> Path:
    """The first existing path of ``candidates``.

    Raises:
      FileNotFoundError: none exists; the message names the first candidate
        (and how many others were tried) and ``source``.
    """
    for path in candidates:
        if os.path.exists(path):
            return Path(path)
    tried = f" (looked in {len(candidates)} places)" if len(candidates) > 1 else ""
    raise FileNotFoundError(
        f"{what}: {os.fspath(candidates[0])} is missing{tried}; get it from {source}")


def md5_of(path: str | os.PathLike) -> str:
    """The hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: str | os.PathLike, expected: str | None, what: str, *, source: str) -> None:
    """Raises a one-line ValueError unless ``path``'s MD5 is ``expected`` (None: no check)."""
    if expected is None:
        return
    actual = md5_of(path)
    if actual != expected:
        raise ValueError(
            f"{what}: {os.fspath(path)} is corrupt or not the published file (MD5 {actual}, "
            f"published {expected}{_html_hint(path)}); download it again from {source}")


def _html_hint(path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip().lower()
    except OSError:
        return ""
    if any(head.startswith(s.lower()) for s in _HTML_STARTS):
        return "; it is an HTML page, not the data: a download page saved in its place"
    return ""


def read_pickle(path: str | os.PathLike, what: str, *, source: str):
    """Unpickles ``path`` (Python 2 pickles read with ``encoding="latin1"``).

    Raises:
      ValueError: the file is cut short, an HTML page, or not a pickle, in one
        line naming the file and ``source``.
    """
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, MemoryError, OverflowError) as e:
        reason = f"{type(e).__name__}: {e}".replace("\n", " ")[:120]
        raise ValueError(
            f"{what}: {os.fspath(path)} is not a readable pickle ({reason}{_html_hint(path)}); "
            f"it may be cut short; download it again from {source}") from None


def require_keys(data, keys: Iterable[str], path, what: str, *, source: str) -> None:
    """Raises a one-line ValueError unless the dict ``data`` has every key of ``keys``."""
    keys = list(keys)
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        found = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{what}: {os.fspath(path)} lacks {missing} (has {found}); it is not the expected "
            f"file, get it from {source}")


def decode_images(read: Callable[[int], bytes], count: int, size: int, *, what: str,
                  names: Sequence[str], source: str) -> np.ndarray:
    """``count`` encoded JPEG / PNG images -> uint8 ``[count, size, size, 3]``.

    ``read(i)`` gives the bytes of image ``i`` (a file's contents, a pickle's
    entry). Images are decoded as RGB (grayscale repeated) in parallel and
    resized to ``size x size`` (area averaging; bilinear when enlarging).

    Raises:
      ValueError: an image does not decode; names it (``names[i]``) in one line.
    """
    def encoded():
        for i in range(count):
            data = read(i)
            yield data.tobytes() if isinstance(data, np.ndarray) else data

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = tf.ensure_shape(image, [None, None, 3])
        shape = tf.shape(image)
        shrink = tf.logical_and(shape[0] >= size, shape[1] >= size)
        x = tf.cast(image, tf.float32)
        x = tf.cond(shrink, lambda: tf.image.resize(x, (size, size), method="area"),
                    lambda: tf.image.resize(x, (size, size), method="bilinear"))
        return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)

    out = np.empty((count, size, size, 3), np.uint8)
    ds = tf.data.Dataset.from_generator(encoded, output_signature=tf.TensorSpec([], tf.string))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(256)
    done = 0
    try:
        for batch in ds.as_numpy_iterator():
            out[done:done + len(batch)] = batch
            done += len(batch)
    except tf.errors.InvalidArgumentError:
        for i in range(done, count):     # find the image that does not decode, in order
            data = read(i)
            try:
                decode(tf.constant(data.tobytes() if isinstance(data, np.ndarray) else data))
            except (tf.errors.InvalidArgumentError, ValueError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:100]
                raise ValueError(f"{what}: {names[i]} does not decode as an image ({first}); "
                                 f"get the dataset again from {source}") from None
        raise
    return out


def resize_uint8(images, size: int) -> np.ndarray:
    """uint8 ``[n, H, W, 3]`` -> uint8 ``[n, size, size, 3]`` (unchanged if already that size)."""
    images = tf.convert_to_tensor(images)
    if tuple(images.shape[1:3]) == (size, size):
        return images.numpy()
    shrink = images.shape[1] >= size and images.shape[2] >= size
    x = tf.image.resize(tf.cast(images, tf.float32), (size, size),
                        method="area" if shrink else "bilinear")
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8).numpy()


def class_pool(images: np.ndarray, labels: np.ndarray, class_names: dict[int, str], *,
               size: int, name: str, chunk: int = 2048) -> ClassDataset:
    """uint8 images ``[n, H, W, 3]`` with integer labels -> a uint8 :class:`ClassDataset`.

    Images not ``size x size`` are resized in chunks of ``chunk`` (so no
    float32 copy of the whole set is made).
    """
    if images.shape[1:3] != (size, size):
        images = np.concatenate([resize_uint8(images[i:i + chunk], size)
                                 for i in range(0, len(images), chunk)])
    return ClassDataset.from_labelled_images(images, labels, class_names=class_names, name=name,
                                             keep_uint8=True)


HELD_OUT = ("test", "val")
"""What a benchmark's meta-test side can be: its test classes or its validation classes."""


def benchmark_splits(load_part: Callable[[str], ClassDataset], held_out: str) -> ClassDatasetSplits:
    """``ClassDatasetSplits(load_part("train"), load_part(held_out))``, checked.

    Raises:
      ValueError: ``held_out`` is not ``"test"`` or ``"val"``.
    """
    check_held_out(held_out)
    return ClassDatasetSplits(load_part("train"), load_part(held_out))


def check_held_out(held_out: str) -> str:
    """Raises ValueError unless ``held_out`` is ``"test"`` or ``"val"``."""
    if held_out not in HELD_OUT:
        raise ValueError(f"held_out must be one of {list(HELD_OUT)} (the meta-test classes: the "
                         f"test split, or the validation split for model selection), got "
                         f"{held_out!r}")
    return held_out


def check_class_count(found: int, standard: int, what: str, path) -> None:
    """Refuses a split with more classes than the standard one; logs one with fewer."""
    if found > standard:
        raise ValueError(
            f"{what}: {os.fspath(path)} holds {found} classes, more than the standard split's "
            f"{standard}; it is not the standard split file")
    if found < standard:
        logging.warning("%s: %s holds %d classes, fewer than the standard split's %d (a "
                        "subset; numbers are not comparable with the papers').", what,
                        os.fspath(path), found, standard)
