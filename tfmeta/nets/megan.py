"""MeGAN's conditional generator (paper 001): support image (or label, or prototype) -> image.

The generator augments an episode's support set: each generated image is
conditioned on one support example. Four conditionings, the paper's
(section 3.1) plus none:

    image      x [B, H, W, C] -> Conv2D(w, 4, s2) -> LReLU -> Conv2D(2w, 4, s2) -> LReLU
               (the encoder, [H/4, W/4, 2w]) ++ noise -> decoder           (the paper's best)
    prototype  the encoder's maps averaged over the support images of the same
               class (the class prototype; with one shot, the image's own maps) ++ noise
               -> decoder
    label      one-hot label [B, N] ++ noise -> Dense(H/4 * W/4 * 2w) -> decoder
    none       noise -> Dense(H/4 * W/4 * 2w) -> decoder

    noise      z [B, noise_dim] -> Dense(H/4 * W/4 * w) -> LReLU -> [H/4, W/4, w]
               (image, prototype: concatenated with the encoder's maps as channels)
    decoder    [H/4, W/4, .] -> Conv2DTranspose(w, 4, s2) -> LReLU
               -> Conv2DTranspose(C, 4, s2) -> tanh                     [B, H, W, C] in [-1, 1]

No normalization layer (like the DCGAN players of :mod:`tfmeta.nets.dcgan`):
the model is fully described by its trainable tensors and runs under
``tfmeta.functional.apply`` with fast weights. Its inputs are always
``[images, one_hot, noise]`` (a conditioning ignores what it does not use,
but the model still takes it), so every conditioning is called the same way.

Example:
    >>> g = build_conditional_generator((28, 28, 1), ways=5, conditioning="image")
    >>> fakes = g([support_images, tf.one_hot(labels, 5), noise])      # [S, 28, 28, 1]
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from tfmeta import checks
from tfmeta.nets.dcgan import KERNEL_SIZE, LEAKY_SLOPE, STRIDE, check_image_shape

CONDITIONINGS = ("image", "label", "prototype", "none")


def _class_mean(inputs):
    """Each row's class mean of ``maps`` (a prototype), from the rows' one-hot labels."""
    maps, one_hot = inputs
    ops = keras.ops
    flat = ops.reshape(maps, (ops.shape(maps)[0], -1))
    one_hot = ops.cast(one_hot, flat.dtype)
    sums = ops.matmul(ops.transpose(one_hot), flat)                 # [N, D]
    counts = ops.maximum(ops.sum(one_hot, axis=0), 1.0)[:, None]    # [N, 1]
    per_row = ops.matmul(one_hot, sums / counts)                    # [B, D]
    return ops.reshape(per_row, ops.shape(maps))


def build_conditional_generator(image_shape: Sequence[int] = (28, 28, 1), *, ways: int = 5,
                                conditioning: str = "image", noise_dim: int = 32,
                                width: int = 32, dtype: Any = None,
                                name: str = "generator") -> keras.Model:
    """Builds MeGAN's generator ``[images, one_hot, noise] -> images`` (see the module docstring).

    Args:
      image_shape: ``(H, W, C)``; H and W divisible by 4.
      ways: N, the width of the one-hot labels.
      conditioning: ``"image"``, ``"prototype"``, ``"label"`` or ``"none"``.
      noise_dim: size of the noise vector.
      width: base width ``w`` of the convolutions.
      dtype: Keras dtype policy of every layer and input (e.g. ``"float64"``).
      name: the model's name.

    Returns:
      A built functional ``keras.Model``; its output is ``[B, H, W, C]`` in [-1, 1].
    """
    checks.one_of("conditioning", conditioning, CONDITIONINGS)
    checks.count("ways", ways, minimum=2)
    checks.count("noise_dim", noise_dim)
    checks.count("width", width)
    height, img_width, channels = check_image_shape(tuple(image_shape))
    h4, w4 = height // 4, img_width // 4
    layers = keras.layers

    images = keras.Input((height, img_width, channels), dtype=dtype, name="images")
    one_hot = keras.Input((ways,), dtype=dtype, name="one_hot")
    noise = keras.Input((noise_dim,), dtype=dtype, name="noise")
    if conditioning in ("image", "prototype"):
        h = images
        for i, filters in enumerate((width, 2 * width)):
            h = layers.Conv2D(filters, KERNEL_SIZE, strides=STRIDE, padding="same", dtype=dtype,
                              name=f"enc{i}")(h)
            h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name=f"enc{i}_lrelu")(h)
        if conditioning == "prototype":
            h = layers.Lambda(_class_mean, dtype=dtype, name="prototype")([h, one_hot])
        z = layers.Dense(h4 * w4 * width, dtype=dtype, name="noise_fc")(noise)
        z = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="noise_lrelu")(z)
        z = layers.Reshape((h4, w4, width), dtype=dtype, name="noise_maps")(z)
        h = layers.Concatenate(dtype=dtype, name="condition")([h, z])
    else:
        code = noise if conditioning == "none" else layers.Concatenate(
            dtype=dtype, name="condition")([one_hot, noise])
        h = layers.Dense(h4 * w4 * 2 * width, dtype=dtype, name="fc")(code)
        h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="fc_lrelu")(h)
        h = layers.Reshape((h4, w4, 2 * width), dtype=dtype, name="reshape")(h)
    h = layers.Conv2DTranspose(width, KERNEL_SIZE, strides=STRIDE, padding="same", dtype=dtype,
                               name="deconv1")(h)
    h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="deconv1_lrelu")(h)
    h = layers.Conv2DTranspose(channels, KERNEL_SIZE, strides=STRIDE, padding="same",
                               dtype=dtype, name="deconv2")(h)
    out = layers.Activation("tanh", dtype=dtype, name="tanh")(h)
    return keras.Model([images, one_hot, noise], out, name=name)
