"""Random augmentation of plain mini-batches, a pure function of a seed (RFS's training transform).

:func:`augment_images` draws every random choice with stateless ops from one
int64 ``[2]`` key, so a batch's augmentation is a pure function of the
sampler's seed and the step and a resumed run replays it. The kinds
(:data:`AUGMENTS`):

* ``none``: the images as they are;
* ``crop``: pad every side by :func:`crop_padding` pixels of the darkest level
  (-1: torchvision's ``RandomCrop(padding=...)`` pads with black) and take a
  random window of the original size: shifts of up to that many pixels, the
  one augmentation that keeps a character a character (no flip);
* ``rfs``: the pre-training transform of RFS (Tian et al. 2020,
  ``dataset/transform_cfg.py`` ``transform_A``): the crop (8 pixels at 84),
  colour jitter (brightness, contrast and, on 3 channels, saturation, each by a
  factor drawn in ``[0.6, 1.4]``, applied in that order on ``[0, 1]`` levels and
  clipped; torchvision draws the order per image), then a horizontal flip with
  probability 1/2;
* ``affine``: Koch et al. 2015's distortions of the pairs their Siamese network
  trains on (section 4.1): each image rotated by up to 10 degrees, sheared by up
  to 0.3 per axis, scaled by 0.8-1.2 per axis and shifted by up to 2 pixels at 105
  (in proportion: 0.53 at 28) per axis, each of the four drawn with probability
  1/2, about the image centre, bilinear, the border at -1 (:func:`affine_parameters`).

Images are float32 ``[B, H, W, C]`` in ``[-1, 1]``, and stay in it.

Example:
    >>> key = step_key(seed=0, step=3, salt=SALT_AUGMENT)
    >>> augment_images(images, key, "rfs").shape == images.shape
    True
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["AUGMENTS", "JITTER", "KOCH", "affine_parameters", "affine_transform",
           "augment_images", "check_augment", "crop_padding"]

AUGMENTS = ("none", "crop", "rfs", "affine")
JITTER = 0.4    # RFS's ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)
# Koch et al. 2015, 4.1: the largest rotation (degrees), shear, relative scale change and shift
# (pixels at their 105 x 105), each component applied with probability 1/2.
KOCH = dict(rotation=10.0, shear=0.3, scale=0.2, shift=2.0, size=105, probability=0.5)


def crop_padding(height: int, width: int) -> int:
    """Pixels of padding for ``crop``: RFS's 8 at 84, in proportion (3 at 28), at least 1."""
    return max(1, int(round(min(height, width) * 8 / 84)))


def check_augment(kind: str) -> str:
    """``kind`` if it is one of :data:`AUGMENTS`, else one ``ValueError`` line."""
    if kind not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {kind!r}")
    return kind


def augment_images(images, key, kind: str) -> tf.Tensor:
    """``images`` augmented as ``kind`` says, every draw from the int64 ``[2]`` ``key``.

    Raises:
      ValueError: an unknown ``kind``, or images that are not ``[B, H, W, C]``.
    """
    check_augment(kind)
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"augment needs images [B, H, W, C], got shape {images.shape}")
    if kind == "none":
        return images
    if kind == "affine":
        angle, shear, scale, shift = affine_parameters(key, tf.shape(images)[0],
                                                       int(images.shape[1]))
        return affine_transform(images, angle, shear, scale, shift)
    crop_key, jitter_key, flip_key = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 3))
    images = _random_crop(images, crop_key)
    if kind == "rfs":
        images = _flip(_jitter(images, jitter_key), flip_key)
    return images


def _random_crop(images: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    """Each image shifted by its own offsets in ``[-pad, pad]``, the new border at -1."""
    height, width = int(images.shape[1]), int(images.shape[2])
    pad = crop_padding(height, width)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=-1.0)
    batch = tf.shape(images)[0]
    offsets = tf.random.stateless_uniform([batch, 2], key, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None]                           # [B, H]
    cols = offsets[:, 1:] + tf.range(width)[None]                            # [B, W]
    window = tf.gather(padded, rows, axis=1, batch_dims=1)                   # [B, H, W + 2p, C]
    return tf.gather(window, cols, axis=2, batch_dims=1)                     # [B, H, W, C]


def _jitter(images: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    """Brightness, contrast and (3 channels) saturation, each by a factor in [0.6, 1.4]."""
    levels = (images + 1.0) / 2.0
    batch = tf.shape(images)[0]
    factors = tf.random.stateless_uniform([3, batch, 1, 1, 1], key, 1.0 - JITTER,
                                          1.0 + JITTER, dtype=images.dtype)
    levels = tf.clip_by_value(levels * factors[0], 0.0, 1.0)
    mean = tf.reduce_mean(_gray(levels), axis=[1, 2, 3], keepdims=True)
    levels = tf.clip_by_value(factors[1] * levels + (1.0 - factors[1]) * mean, 0.0, 1.0)
    if images.shape[-1] == 3:
        gray = _gray(levels)
        levels = tf.clip_by_value(factors[2] * levels + (1.0 - factors[2]) * gray, 0.0, 1.0)
    return levels * 2.0 - 1.0


def _gray(levels: tf.Tensor) -> tf.Tensor:
    """``[B, H, W, 1]`` luminance (ITU-R 601, torchvision's weights) of 1 or 3 channels."""
    if levels.shape[-1] != 3:
        return tf.reduce_mean(levels, axis=-1, keepdims=True)
    weights = tf.constant([0.299, 0.587, 0.114], levels.dtype)
    return tf.reduce_sum(levels * weights, axis=-1, keepdims=True)


def _flip(images: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], key) < 0.5
    return tf.where(flip[:, None, None, None], images[:, :, ::-1], images)


def affine_parameters(key, batch, size: int):
    """Koch et al.'s random distortion of ``batch`` images of ``size`` pixels (:data:`KOCH`).

    Returns ``(angle [B] radians, shear [B, 2], scale [B, 2], shift [B, 2] pixels)``;
    each of the four is the identity (0, 0, 1, 0) for an image with probability 1/2.
    """
    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 5)
    keep = tf.random.stateless_uniform([4, batch], keys[0]) < KOCH["probability"]
    limit = KOCH["rotation"] * math.pi / 180.0
    angle = tf.random.stateless_uniform([batch], keys[1], -limit, limit)
    shear = tf.random.stateless_uniform([batch, 2], keys[2], -KOCH["shear"], KOCH["shear"])
    scale = tf.random.stateless_uniform([batch, 2], keys[3], -KOCH["scale"], KOCH["scale"])
    most = KOCH["shift"] * size / KOCH["size"]
    shift = tf.random.stateless_uniform([batch, 2], keys[4], -most, most)
    zero = lambda t, k: tf.where(tf.reshape(keep[k], [-1] + [1] * (t.shape.rank - 1)),  # noqa
                                 t, tf.zeros_like(t))
    return zero(angle, 0), zero(shear, 1), 1.0 + zero(scale, 2), zero(shift, 3)


def affine_transform(images: tf.Tensor, angle, shear, scale, shift,
                     fill_value: float = -1.0) -> tf.Tensor:
    """Each image's content mapped by ``x -> c + R(angle) Sh(shear) diag(scale) (x - c) +
    shift`` (``c`` the centre, ``x = (column, row)``, ``Sh = [[1, sx], [sy, 1]]``),
    bilinear; pixels from outside the image take ``fill_value``."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    rotation = tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], -2)
    ones = tf.ones_like(angle)
    shearing = tf.stack([tf.stack([ones, shear[:, 0]], -1),
                         tf.stack([shear[:, 1], ones], -1)], -2)
    forward = rotation @ shearing @ tf.linalg.diag(scale)                       # [B, 2, 2]
    inverse = tf.linalg.inv(forward)
    height, width = int(images.shape[1]), int(images.shape[2])
    centre = tf.constant([(width - 1) / 2.0, (height - 1) / 2.0])
    # in = c + inverse (out - c - shift) = inverse out + (c - inverse (c + shift))
    offset = centre - tf.linalg.matvec(inverse, centre + shift)
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([inverse[:, 0, 0], inverse[:, 0, 1], offset[:, 0],
                           inverse[:, 1, 0], inverse[:, 1, 1], offset[:, 1], zeros, zeros], 1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.constant([height, width]), fill_value=tf.constant(fill_value, tf.float32),
        interpolation="BILINEAR", fill_mode="CONSTANT")
