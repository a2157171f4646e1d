"""Random augmentation of the critic's training images: shift, rotation and zoom, and ink.

Each image of a batch gets its own random translation (uniform in
``[-max_shift, max_shift]`` pixels per axis), rotation (uniform in
``[-max_rotation, max_rotation]`` degrees) and zoom (scale uniform in
``[1 - max_zoom, 1 + max_zoom]``), both about the image centre, resampled
bilinearly; pixels that come from outside the image take ``fill_value``
(-1: the dark background of MNIST, Fashion-MNIST and the inverted Omniglot of
:func:`tfmeta.data.load_class_dataset`). The draws are stateless: the same
``seed`` gives the same images.

:func:`random_binarize` thresholds a random share of the images to black and
white at a random level: generated strokes are nearly binary where real ones are
anti-aliased grey, and a critic that reads the grey files them elsewhere.

Example:
    >>> out = random_affine(images, tf.constant([0, 7]), max_shift=2.0, max_rotation=10.0,
    ...                     max_zoom=0.1)
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfmeta.data.augment import affine_transform

__all__ = ["BACKGROUND", "random_affine", "random_binarize"]

BACKGROUND = -1.0


def random_affine(images: tf.Tensor, seed: tf.Tensor, *, max_shift: float,
                  max_rotation: float, max_zoom: float,
                  fill_value: float = BACKGROUND) -> tf.Tensor:
    """Shifts, rotates and zooms every image of a batch at random (stateless in ``seed``).

    Args:
      images: float32 ``[B, H, W, C]``.
      seed: int ``[2]`` seed of the stateless draws (e.g. ``[config.seed, step]``).
      max_shift: largest translation per axis, in pixels (>= 0).
      max_rotation: largest rotation, in degrees (>= 0).
      max_zoom: largest relative change of scale, in ``[0, 1)``.
      fill_value: value of pixels that come from outside the image.

    Returns:
      float32 ``[B, H, W, C]``, the same shape as ``images``.

    Example:
        >>> random_affine(tf.fill([4, 28, 28, 1], -1.0), tf.constant([0, 0]),
        ...               max_shift=2.0, max_rotation=10.0, max_zoom=0.1)  # all -1 still
    """
    images = tf.convert_to_tensor(images, tf.float32)
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    shift = tf.random.stateless_uniform([batch, 2], seeds[0], -max_shift, max_shift)
    limit = max_rotation * math.pi / 180.0
    angle = tf.random.stateless_uniform([batch], seeds[1], -limit, limit)
    scale = 1.0 + tf.random.stateless_uniform([batch], seeds[2], -max_zoom, max_zoom)
    return affine_transform(images, angle, tf.zeros([batch, 2]), tf.stack([scale, scale], 1),
                            shift, fill_value=fill_value)


def random_binarize(images: tf.Tensor, seed: tf.Tensor, *, fraction: float,
                    max_level: float = 0.5) -> tf.Tensor:
    """Thresholds a random ``fraction`` of a batch's images to -1 / 1 (stateless in ``seed``).

    Each chosen image becomes ``1`` where it exceeds its own level (uniform in
    ``[-max_level, max_level]``), ``-1`` elsewhere; the others are returned as they are.

    Args:
      images: float32 ``[B, H, W, C]`` in [-1, 1].
      seed: int ``[2]`` seed of the stateless draws.
      fraction: chance of each image to be thresholded, in ``[0, 1]``.
      max_level: largest distance of a threshold from 0.

    Example:
        >>> random_binarize(images, tf.constant([0, 3]), fraction=0.5)
    """
    images = tf.convert_to_tensor(images, tf.float32)
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    chosen = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0]) < fraction
    level = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], -max_level, max_level)
    binary = tf.where(images > level, 1.0, -1.0)
    return tf.where(chosen, binary, images)
