"""DCGAN generator and discriminator of the MAML-GAN paper, as Keras 3 models.

The architectures follow the paper and the PyTorch peer
(``../shared/peers/torch_mamlgan.py``), in NHWC layout and without any
normalization layer, so that a model is fully described by its trainable
tensors and runs unchanged under ``tfmeta.functional.apply``::

    generator      z [B, latent] -> Dense(H/4 * W/4 * 2w) -> LeakyReLU(0.2)
                   -> reshape [H/4, W/4, 2w]
                   -> Conv2DTranspose(w, 4, stride 2, same) -> LeakyReLU(0.2)
                   -> Conv2DTranspose(C, 4, stride 2, same) -> tanh    [B, H, W, C]
    discriminator  x [B, H, W, C] -> Conv2D(w, 4, stride 2, same) -> LeakyReLU(0.2)
                   -> Conv2D(2w, 4, stride 2, same) -> LeakyReLU(0.2)
                   -> Flatten -> Dense(1)                              [B, 1] logits

With ``w = 64`` and 28x28x1 images these are exactly the reference models. When
the image sides are divisible by 4, ``"same"`` padding of a stride-2, size-4
kernel pads one pixel on each side, which is PyTorch's ``padding=1``; the
parameter layouts differ (HWIO kernels, NHWC flatten order), the function
family does not.

Layers carry stable names (``fc``, ``deconv1``, ``deconv2`` in the generator;
``conv1``, ``conv2``, ``fc`` in the discriminator, as in the peer), so variable
paths such as ``"deconv1/kernel"`` are stable across runs and checkpoints.

Example:
    >>> g = build_generator()
    >>> d = build_discriminator()
    >>> logits = d(g(keras.random.normal((2, 100))))    # [2, 1]
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import keras

from tfmeta import checks

LEAKY_SLOPE = 0.2
KERNEL_SIZE = 4
STRIDE = 2


def check_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """Returns ``(H, W, C)`` or raises ValueError naming the offending shape."""
    try:
        shape = tuple(image_shape)
    except TypeError:
        raise ValueError(
            f"image_shape must be a sequence (height, width, channels), got {image_shape!r}"
        ) from None
    if len(shape) != 3 or any(
            isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape):
        raise ValueError(
            "image_shape must be (height, width, channels) of positive ints, "
            f"got {image_shape!r}")
    height, width, channels = shape
    factor = STRIDE * STRIDE
    if height % factor or width % factor:
        raise ValueError(
            f"image height and width must be divisible by {factor} (two stride-2 "
            f"layers), got image_shape={shape}")
    return height, width, channels


def _initializers(seed: Optional[int], index: int) -> dict:
    """Kernel/bias initializers; seeded per layer so that two layers never share draws."""
    if seed is None:
        return {}
    return {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed + index)}


def build_generator(latent_dim: int = 100,
                    image_shape: Sequence[int] = (28, 28, 1),
                    width: int = 64,
                    *,
                    dtype: Any = None,
                    seed: Optional[int] = None,
                    name: str = "generator") -> keras.Model:
    """Builds the DCGAN generator ``z -> image`` (tanh outputs in [-1, 1]).

    Args:
      latent_dim: size of the latent vector ``z``.
      image_shape: ``(height, width, channels)`` of the generated images; height
        and width must be divisible by 4.
      width: base width ``w``; the hidden layers have ``2w`` and ``w`` channels.
      dtype: Keras dtype policy of every layer and of the input, e.g.
        ``"float64"``; ``None`` uses the global policy.
      seed: if given, kernel initialization is deterministic (layer ``i`` uses
        ``GlorotUniform(seed + i)``); biases start at zero.
      name: the model's name.

    Returns:
      A built functional ``keras.Model`` mapping ``[B, latent_dim]`` to
      ``[B, height, width, channels]``.

    Raises:
      ValueError: on a non-positive size or image sides not divisible by 4.

    Example:
        >>> g = build_generator(latent_dim=16, image_shape=(32, 32, 3), width=16)
        >>> g.output_shape
        (None, 32, 32, 3)
    """
    checks.count("latent_dim", latent_dim)
    checks.count("width", width)
    height, img_width, channels = check_image_shape(image_shape)
    h4, w4 = height // 4, img_width // 4
    layers = keras.layers

    z = keras.Input((latent_dim,), dtype=dtype, name="z")
    h = layers.Dense(h4 * w4 * 2 * width, dtype=dtype, name="fc",
                     **_initializers(seed, 0))(z)
    h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="fc_lrelu")(h)
    h = layers.Reshape((h4, w4, 2 * width), dtype=dtype, name="reshape")(h)
    h = layers.Conv2DTranspose(width, KERNEL_SIZE, strides=STRIDE, padding="same",
                               dtype=dtype, name="deconv1", **_initializers(seed, 1))(h)
    h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="deconv1_lrelu")(h)
    h = layers.Conv2DTranspose(channels, KERNEL_SIZE, strides=STRIDE, padding="same",
                               dtype=dtype, name="deconv2", **_initializers(seed, 2))(h)
    x = layers.Activation("tanh", dtype=dtype, name="tanh")(h)
    return keras.Model(z, x, name=name)


def build_discriminator(image_shape: Sequence[int] = (28, 28, 1),
                        width: int = 64,
                        *,
                        dtype: Any = None,
                        seed: Optional[int] = None,
                        name: str = "discriminator") -> keras.Model:
    """Builds the DCGAN discriminator / critic ``image -> logit``.

    The output is an unbounded logit (minimax and non-saturating losses) or
    critic value (Wasserstein loss); there is no final sigmoid.

    Args:
      image_shape: ``(height, width, channels)`` of the input images; height and
        width must be divisible by 4.
      width: base width ``w``; the convolutions have ``w`` and ``2w`` channels.
      dtype: Keras dtype policy of every layer and of the input, e.g.
        ``"float64"``; ``None`` uses the global policy.
      seed: if given, kernel initialization is deterministic (layer ``i`` uses
        ``GlorotUniform(seed + i)``); biases start at zero.
      name: the model's name.

    Returns:
      A built functional ``keras.Model`` mapping ``[B, height, width, channels]``
      to ``[B, 1]``.

    Raises:
      ValueError: on a non-positive width or image sides not divisible by 4.

    Example:
        >>> d = build_discriminator(image_shape=(32, 32, 3), width=16)
        >>> d.output_shape
        (None, 1)
    """
    checks.count("width", width)
    shape = check_image_shape(image_shape)
    layers = keras.layers

    x = keras.Input(shape, dtype=dtype, name="image")
    h = layers.Conv2D(width, KERNEL_SIZE, strides=STRIDE, padding="same",
                      dtype=dtype, name="conv1", **_initializers(seed, 0))(x)
    h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="conv1_lrelu")(h)
    h = layers.Conv2D(2 * width, KERNEL_SIZE, strides=STRIDE, padding="same",
                      dtype=dtype, name="conv2", **_initializers(seed, 1))(h)
    h = layers.LeakyReLU(LEAKY_SLOPE, dtype=dtype, name="conv2_lrelu")(h)
    h = layers.Flatten(dtype=dtype, name="flatten")(h)
    logits = layers.Dense(1, dtype=dtype, name="fc", **_initializers(seed, 2))(h)
    return keras.Model(x, logits, name=name)
