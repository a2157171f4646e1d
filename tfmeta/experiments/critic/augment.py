"""Random affine augmentation of the critic's training images: shift, rotation and zoom.

Each image of a batch gets its own random translation (uniform in
``[-max_shift, max_shift]`` pixels per axis), rotation (uniform in
``[-max_rotation, max_rotation]`` degrees) and zoom (scale uniform in
``[1 - max_zoom, 1 + max_zoom]``), both about the image centre, resampled
bilinearly; pixels that come from outside the image take ``fill_value``
(-1: the dark background of MNIST, Fashion-MNIST and the inverted Omniglot of
:func:`tfmeta.data.load_class_dataset`). The draws are stateless: the same
``seed`` gives the same images.

Example:
    >>> out = random_affine(images, tf.constant([0, 7]), max_shift=2.0, max_rotation=10.0,
    ...                     max_zoom=0.1)
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["BACKGROUND", "affine_transforms", "random_affine"]

BACKGROUND = -1.0


def affine_transforms(shift: tf.Tensor, angle: tf.Tensor, scale: tf.Tensor,
                      height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """Projective transforms ``[B, 8]`` that map *output* to *input* pixel coordinates.

    The forward map is ``out = c + scale * R(angle) (in - c) + shift`` with
    ``c`` the image centre and ``(x, y) = (column, row)``, so the content moves
    by ``shift``, turns by ``angle`` (radians) and grows by ``scale``.

    Args:
      shift: float32 ``[B, 2]``: ``(dx, dy)`` in pixels.
      angle: float32 ``[B]`` radians.
      scale: float32 ``[B]``, positive.
      height, width: the image size (scalars).
    """
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # inverse: in = A (out - c - shift) + c with A = R(-angle) / scale
    px, py = cx + shift[:, 0], cy + shift[:, 1]
    zeros = tf.zeros_like(angle)
    return tf.stack([cos, sin, cx - cos * px - sin * py,
                     -sin, cos, cy + sin * px - cos * py, zeros, zeros], axis=1)


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
    shape = tf.shape(images)
    batch = shape[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    shift = tf.random.stateless_uniform([batch, 2], seeds[0], -max_shift, max_shift)
    limit = max_rotation * math.pi / 180.0
    angle = tf.random.stateless_uniform([batch], seeds[1], -limit, limit)
    scale = 1.0 + tf.random.stateless_uniform([batch], seeds[2], -max_zoom, max_zoom)
    transforms = affine_transforms(shift, angle, scale, shape[1], shape[2])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3],
        fill_value=tf.constant(fill_value, tf.float32), interpolation="BILINEAR",
        fill_mode="CONSTANT")
