"""ResNet-12: the few-shot backbone of MetaOptNet (Lee et al. 2019) and RFS (Tian et al. 2020).

Four residual blocks of widths 64-160-320-640. Each block: three ``3x3 conv
(no bias) -> norm`` layers with a leaky ReLU (slope 0.1) after the first two, a
``1x1 conv -> norm`` shortcut, their sum through the leaky ReLU, a ``2x2``
max-pool (stride 2), and optionally DropBlock (Ghiasi et al. 2018) in the last
two blocks. The features are the spatial mean of the last block (RFS and
learn2learn's ``ResNet12``: 640 numbers per image), and a linear head gives the
logits when ``ways`` is given.

Two normalizations, as :mod:`tfmeta.nets.conv4`:

* ``norm="batch_stat"`` (the gradient family: MAML, first-order MAML, Meta-SGD,
  ANIL): :class:`tfmeta.nets.layers.BatchStatNorm`, the statistics of the batch
  it is given in training and evaluation alike, with exact derivatives of every
  order (the network is described by its trainable tensors alone);
* ``norm="moving"`` (the metric learners and pre-training): Keras'
  ``BatchNormalization`` with moving averages (epsilon 1e-5 and momentum 0.9,
  PyTorch's defaults in the reference code).

DropBlock (``drop_rate > 0``) drops contiguous ``block_size x block_size``
squares of each feature map during training only, rescaling the rest; it draws
from a Keras seed generator (a non-trainable variable), so it is meant for the
metric learners and pre-training, not for an inner loop that must be a pure
function of its parameters (the builder refuses it with ``norm="batch_stat"``).

Example:
    >>> model = build_resnet12(ways=5, image_shape=(84, 84, 3))      # 640 features -> 5
    >>> embedding = build_resnet12(image_shape=(84, 84, 3), norm="moving")
    >>> embedding(images, training=False).shape
    TensorShape([B, 640])
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from tfmeta.nets.layers import BatchStatNorm

__all__ = ["NORMS", "WIDTHS", "DropBlock", "build_resnet12"]

WIDTHS = (64, 160, 320, 640)
NORMS = ("batch_stat", "moving")
SLOPE = 0.1          # the leaky ReLU's negative slope in MetaOptNet and RFS


class DropBlock(keras.layers.Layer):
    """DropBlock (Ghiasi et al. 2018): zeroes ``block_size``-square regions while training.

    Block centres are drawn with probability ``gamma = drop_rate / block_size^2 *
    (H W) / ((H - block_size + 1) (W - block_size + 1))`` (so that about
    ``drop_rate`` of the units are dropped), grown to squares by a max-pool, and
    the kept units are scaled by ``count / kept`` as in the reference code.
    Identity at inference.
    """

    def __init__(self, drop_rate: float, block_size: int = 5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(drop_rate) < 1.0:
            raise ValueError(f"DropBlock drop_rate must be in [0, 1), got {drop_rate!r}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"DropBlock block_size must be an int >= 1, got {block_size!r}")
        self.drop_rate, self.block_size = float(drop_rate), block_size
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.drop_rate == 0.0:
            return x
        height, width = x.shape[1], x.shape[2]
        size = min(self.block_size, height, width)
        gamma = (self.drop_rate / size ** 2 * height * width
                 / ((height - size + 1) * (width - size + 1)))
        centres = ops.cast(keras.random.uniform(ops.shape(x), seed=self.seed_generator,
                                                dtype=x.dtype) < gamma, x.dtype)
        dropped = ops.max_pool(centres, pool_size=size, strides=1, padding="same")
        keep = 1.0 - dropped
        count = ops.cast(ops.size(keep), x.dtype)
        return x * keep * count / ops.maximum(ops.sum(keep), 1.0)

    def get_config(self):
        return {**super().get_config(), "drop_rate": self.drop_rate,
                "block_size": self.block_size}


def _norm(kind: str, dtype: str, name: str):
    if kind == "batch_stat":
        return BatchStatNorm(epsilon=1e-5, dtype=dtype, name=name)
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=dtype, name=name)


def _activation(kind: str, dtype: str, name: str):
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=SLOPE, dtype=dtype, name=name)
    return keras.layers.Activation(kind, dtype=dtype, name=name)


def build_resnet12(ways: int | None = None, image_shape: tuple = (84, 84, 3), *,
                   widths: Sequence[int] = WIDTHS, norm: str = "batch_stat",
                   drop_rate: float = 0.0, block_size: int = 5,
                   activation: str = "leaky_relu", dtype: str = "float32",
                   name: str = "resnet12") -> keras.Model:
    """Builds ResNet-12, with a ``ways``-way linear head or as an embedding.

    Args:
      ways: N, the number of output logits (a layer named ``head``); ``None``
        for the embedding alone (``[B, widths[-1]]`` features).
      image_shape: ``(H, W, C)`` of the inputs (84x84x3 for mini-ImageNet).
      widths: channels of the four blocks (64, 160, 320, 640 in MetaOptNet and RFS).
      norm: ``"batch_stat"`` (exact derivatives of every order; the gradient
        family) or ``"moving"`` (Keras' BatchNormalization with moving averages).
      drop_rate: DropBlock's rate in the last two blocks (0: none; RFS: 0.1);
        only with ``norm="moving"``.
      block_size: DropBlock's square side (5 in RFS and MetaOptNet).
      activation: ``"leaky_relu"`` (slope 0.1, the papers'); a smooth one
        (``"softplus"``, ``"tanh"``) for finite-difference checks.
      dtype: of the variables and computation (``"float64"`` for checks).

    Returns:
      A built functional ``keras.Model`` from ``[B, H, W, C]`` images to
      ``[B, ways]`` logits or ``[B, widths[-1]]`` features.
    """
    if ways is not None and (isinstance(ways, bool) or not isinstance(ways, int) or ways < 2):
        raise ValueError(f"ways must be an int >= 2 or None, got {ways!r}")
    widths = tuple(widths)
    if len(widths) != 4 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                               for w in widths):
        raise ValueError(f"widths must be four ints >= 1, got {widths!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if drop_rate and norm != "moving":
        raise ValueError(f"drop_rate={drop_rate!r} needs norm='moving': DropBlock draws random "
                         f"masks from a seed variable, which an inner loop over parameters "
                         f"cannot carry")
    if len(tuple(image_shape)) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {image_shape!r}")
    layers = keras.layers
    inputs = keras.Input(tuple(image_shape), dtype=dtype, name="images")
    h = inputs
    for b, width in enumerate(widths):
        shortcut = layers.Conv2D(width, 1, use_bias=False, dtype=dtype, name=f"block{b}_skip")(h)
        shortcut = _norm(norm, dtype, f"block{b}_skip_bn")(shortcut)
        for c in range(3):
            h = layers.Conv2D(width, 3, padding="same", use_bias=False, dtype=dtype,
                              name=f"block{b}_conv{c}")(h)
            h = _norm(norm, dtype, f"block{b}_bn{c}")(h)
            if c < 2:
                h = _activation(activation, dtype, f"block{b}_act{c}")(h)
        h = layers.Add(dtype=dtype, name=f"block{b}_add")([h, shortcut])
        h = _activation(activation, dtype, f"block{b}_out")(h)
        h = layers.MaxPooling2D(2, padding="valid" if h.shape[1] >= 2 else "same",
                                dtype=dtype, name=f"block{b}_pool")(h)
        if drop_rate and b >= 2:
            h = DropBlock(drop_rate, block_size, dtype=dtype, name=f"block{b}_dropblock")(h)
    h = layers.GlobalAveragePooling2D(dtype=dtype, name="mean")(h)
    if ways is not None:
        h = layers.Dense(ways, dtype=dtype, name="head")(h)
    return keras.Model(inputs, h, name=name)
