"""uint8 image pools: where they live and how drawn images become float32 ``[-1, 1]``.

A :class:`tfmeta.data.ClassDataset` keeps large RGB benchmarks as uint8 in
host memory. Slicing and gathering such a pool happen there (so only the
drawn images move to an accelerator, never the pool), and what is drawn is
scaled by ``x / 127.5 - 1``; float32 pools pass through unchanged.

Example:
    >>> with storage_device(dataset.images):
    ...     batch = pixels(tf.gather(dataset.images[0], [0, 1]))
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

__all__ = ["gather_pixels", "padded_by_label", "pixels", "scaled", "storage_device", "store"]


def pixels(images: tf.Tensor) -> tf.Tensor:
    """float32 images in ``[-1, 1]``: uint8 scaled by ``x / 127.5 - 1``, float32 as given.

    Example:
        >>> pixels(tf.constant([0, 255], tf.uint8)).numpy()
        array([-1.,  1.], dtype=float32)
    """
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    return images


def storage_device(images: tf.Tensor):
    """A context placing ops on where ``images`` live: the CPU for a uint8 pool, else as is.

    uint8 pools stay in host memory: slicing and gathering there moves only the
    drawn images to the accelerator, never the pool.
    """
    return tf.device("/CPU:0") if images.dtype == tf.uint8 else contextlib.nullcontext()


def gather_pixels(images: tf.Tensor, index) -> tf.Tensor:
    """``pixels(tf.gather(images, index))``, gathered where ``images`` live."""
    with storage_device(images):
        return pixels(tf.gather(images, index))


def scaled(images: np.ndarray, *, keep_uint8: bool = False) -> np.ndarray:
    """Images as a pool holds them: float32 ``[-1, 1]``, or uint8 as given (``keep_uint8``).

    Integer images are scaled from ``[0, dtype max]``; float images must
    already be in ``[-1, 1]``.
    """
    if keep_uint8:
        if images.dtype != np.uint8:
            raise ValueError(f"keep_uint8=True needs uint8 images, got {images.dtype}")
        return images
    if np.issubdtype(images.dtype, np.integer):
        top = float(np.iinfo(images.dtype).max)
        return images.astype(np.float32) * np.float32(2.0 / top) - np.float32(1.0)
    images = images.astype(np.float32, copy=False)
    low, high = float(images.min()), float(images.max())
    if low < -1.0 - 1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"float images must be in [-1, 1], got values in [{low}, {high}]; "
            f"scale them first, e.g. x / 127.5 - 1 for 0..255 data")
    return images


def padded_by_label(images: np.ndarray, labels: np.ndarray):
    """``(padded [classes, max_count, ...], sorted labels, counts)``: images grouped by label.

    The images of a class keep their input order; the rest of a row is zeros.
    """
    ids, counts = np.unique(labels, return_counts=True)
    order = np.argsort(labels, kind="stable")
    padded = np.zeros((len(ids), int(counts.max())) + images.shape[1:], images.dtype)
    start = 0
    for c, n in enumerate(counts):
        padded[c, :n] = images[order[start:start + n]]
        start += n
    return padded, ids, counts


def store(padded: np.ndarray) -> tf.Tensor:
    """The pool as a tensor: uint8 in host memory, float32 on the default device.

    ``tf.identity`` runs on the default device, so on a GPU machine float32
    images live in GPU memory once, instead of being copied there at every
    draw; uint8 pools stay in host memory, where the samplers gather them.
    """
    if padded.dtype == np.uint8:
        with tf.device("/CPU:0"):
            return tf.identity(tf.constant(padded))
    return tf.identity(tf.constant(padded))
