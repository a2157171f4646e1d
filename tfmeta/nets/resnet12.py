"""ResNet-12: the few-shot backbone of MetaOptNet (Lee et al. 2019) and RFS (Tian et al. 2020).

Four residual blocks of widths 64-160-320-640. Each block: three ``3x3 conv
(no bias) -> norm`` layers with a leaky ReLU (slope 0.1) after the first two, a
``1x1 conv -> norm`` shortcut, their sum through the leaky ReLU, a ``2x2``
max-pool (stride 2), and optionally (``drop_rate > 0``, the reference code's
regularization) dropout in the first two blocks and DropBlock (Ghiasi et al.
2018) in the last two. The features are the spatial mean of the last block (RFS and
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
squares of each feature map during training only, rescaling the rest, at a rate
that ramps up linearly over its first ``ramp_steps`` training calls (RFS and
MetaOptNet: 40000); the first two blocks drop single units at the full rate
(the reference code's ``F.dropout``; here a DropBlock of size 1). Each layer
draws its masks statelessly from its seed and its count of training calls, a
non-trainable variable saved with the model, so a resumed run draws the same
masks. It is meant for the metric learners and pre-training, not for an inner
loop that must be a pure function of its parameters (the builder refuses it
with ``norm="batch_stat"``).

Example:
    >>> model = build_resnet12(ways=5, image_shape=(84, 84, 3))      # 640 features -> 5
    >>> embedding = build_resnet12(image_shape=(84, 84, 3), norm="moving")
    >>> embedding(images, training=False).shape
    TensorShape([B, 640])
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from tfmeta.nets.layers import BatchStatNorm

__all__ = ["NORMS", "RAMP_STEPS", "WIDTHS", "DropBlock", "build_resnet12"]

WIDTHS = (64, 160, 320, 640)
NORMS = ("batch_stat", "moving")
SLOPE = 0.1          # the leaky ReLU's negative slope in MetaOptNet and RFS
RAMP_STEPS = 40000   # DropBlock's rate ramps up over 20 x 2000 batches (RFS models/resnet.py:140)


class DropBlock(keras.layers.Layer):
    """DropBlock (Ghiasi et al. 2018): zeroes ``block_size``-square regions while training.

    Block centres are drawn with probability ``gamma = rate / block_size^2 *
    (H W) / ((H - block_size + 1) (W - block_size + 1))`` (so that about
    ``rate`` of the units are dropped), grown to squares by a max-pool, and
    the kept units are scaled by ``count / kept`` as in the reference code.
    ``rate`` is ``drop_rate``, or with ``ramp_steps`` ``drop_rate * min(1, calls /
    ramp_steps)``. ``block_size=1`` is dropout. Identity at inference.

    The draws of a training call are a pure function of ``seed`` and ``calls``,
    the layer's count of training calls (an int64 non-trainable variable that
    each training call advances, saved and restored with the model).
    """

    def __init__(self, drop_rate: float, block_size: int = 5, seed: int | None = None,
                 ramp_steps: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(drop_rate) < 1.0:
            raise ValueError(f"DropBlock drop_rate must be in [0, 1), got {drop_rate!r}")
        for name, value, low in (("block_size", block_size, 1), ("ramp_steps", ramp_steps, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"DropBlock {name} must be an int >= {low}, got {value!r}")
        self.drop_rate, self.block_size = float(drop_rate), block_size
        self.seed, self.ramp_steps = 0 if seed is None else int(seed), ramp_steps
        self.calls = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                     trainable=False, name="calls")

    def call(self, x, training=False):
        if not training or self.drop_rate == 0.0:
            return x
        height, width = x.shape[1], x.shape[2]
        size = min(self.block_size, height, width)
        calls = tf.cast(self.calls.value, tf.int64)
        rate = self.drop_rate
        if self.ramp_steps:
            rate = rate * ops.minimum(ops.cast(calls, x.dtype) / self.ramp_steps, 1.0)
        gamma = rate / size ** 2 * height * width / ((height - size + 1) * (width - size + 1))
        key = tf.stack([tf.constant(self.seed, tf.int64), calls])
        draws = tf.random.stateless_uniform(tf.shape(x), key, dtype=x.dtype)
        self.calls.assign_add(1)
        centres = ops.cast(draws < gamma, x.dtype)
        dropped = ops.max_pool(centres, pool_size=size, strides=1, padding="same")
        keep = 1.0 - dropped
        count = ops.cast(ops.size(keep), x.dtype)
        return x * keep * count / ops.maximum(ops.sum(keep), 1.0)

    def get_config(self):
        return {**super().get_config(), "drop_rate": self.drop_rate,
                "block_size": self.block_size, "seed": self.seed, "ramp_steps": self.ramp_steps}


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
                   drop_rate: float = 0.0, block_size: int = 5, ramp_steps: int = 0,
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
      drop_rate: dropout's rate in the first two blocks and DropBlock's in the last
        two (0: none; RFS and MetaOptNet: 0.1); only with ``norm="moving"``.
      block_size: DropBlock's square side (5 in RFS and MetaOptNet at 84x84).
      ramp_steps: training calls over which DropBlock's rate ramps up from 0
        (0: none; the reference code: :data:`RAMP_STEPS`).
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
        if drop_rate and b < 2:
            h = DropBlock(drop_rate, 1, seed=b, dtype=dtype, name=f"block{b}_dropout")(h)
        elif drop_rate:
            h = DropBlock(drop_rate, block_size, seed=b, ramp_steps=ramp_steps, dtype=dtype,
                          name=f"block{b}_dropblock")(h)
    h = layers.GlobalAveragePooling2D(dtype=dtype, name="mean")(h)
    if ways is not None:
        h = layers.Dense(ways, dtype=dtype, name="head")(h)
    return keras.Model(inputs, h, name=name)
