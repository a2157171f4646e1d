"""The critic's ResNet: a small residual classifier (four blocks) and its penultimate features.

Paper 000 (section 4.2) scores few-shot generation with "a ResNet with four
residual blocks". Architecture (:func:`build_critic`): a 3x3 conv stem, four
residual blocks (two 3x3 conv + BatchNorm layers, ReLU, a 1x1 conv +
BatchNorm projection shortcut where the shape changes; strides 2, 2, 2, 1;
widths ``w, 2w, 4w, 4w``), global average pooling, a dense ReLU ``features``
layer (``4w`` units) and a dense classifier that outputs logits.
:func:`critic_features` gives the penultimate features as a model that shares
the critic's layers.

Example:
    >>> critic = build_critic((28, 28, 1), num_classes=10)
    >>> critic(tf.zeros([2, 28, 28, 1])).shape
    TensorShape([2, 10])
    >>> critic_features(critic)(tf.zeros([2, 28, 28, 1])).shape
    TensorShape([2, 128])
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from tfmeta import checks

__all__ = ["FEATURES_LAYER", "LOGITS_LAYER", "NUM_BLOCKS", "build_critic", "critic_features",
           "residual_block"]

FEATURES_LAYER = "features"
LOGITS_LAYER = "logits"
NUM_BLOCKS = 4
# Moving statistics follow the batches faster than Keras's 0.99 (PyTorch's 0.1
# convention): short training runs get usable inference-mode statistics.
_BN_MOMENTUM = 0.9
_STRIDES = (2, 2, 2, 1)
_WIDTH_MULTIPLIERS = (1, 2, 4, 4)


def residual_block(x, filters: int, stride: int, name: str):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, then ReLU (ResNet v1 basic block)."""
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM,
                                                   name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_critic(image_shape: Sequence[int], num_classes: int, width: int = 32,
                 seed: int | None = None) -> keras.Model:
    """Builds the ResNet critic (four residual blocks); it outputs logits.

    Args:
      image_shape: ``(H, W, C)`` of the input images (float32 in ``[-1, 1]``).
      num_classes: classes of the softmax classifier (all classes of the
        dataset, e.g. 10 for MNIST, 1623 for Omniglot); at least 2.
      width: channels of the stem and the first block; the blocks have
        ``width * (1, 2, 4, 4)`` channels and the features layer ``4 * width``
        units.
      seed: if given, seeds Keras's initializers (``keras.utils.set_random_seed``).

    Returns:
      A functional ``keras.Model`` named ``"critic"``: ``[B, H, W, C] -> [B,
      num_classes]`` logits. Its layer ``"features"`` holds the penultimate
      features (see :func:`critic_features`).

    Raises:
      ValueError: a bad image shape, class count or width.

    Example:
        >>> critic = build_critic((28, 28, 1), num_classes=10)
        >>> critic(tf.zeros([2, 28, 28, 1])).shape
        TensorShape([2, 10])
    """
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (H, W, C) with positive sizes, got {image_shape}")
    if isinstance(num_classes, np.integer):
        num_classes = int(num_classes)
    checks.count("num_classes", num_classes, minimum=2)
    checks.count("width", width)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    inputs = keras.Input(image_shape, name="images")
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for i, (stride, mult) in enumerate(zip(_STRIDES, _WIDTH_MULTIPLIERS), start=1):
        x = residual_block(x, width * mult, stride, name=f"block{i}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    features = keras.layers.Dense(4 * width, activation="relu", name=FEATURES_LAYER)(x)
    logits = keras.layers.Dense(int(num_classes), name=LOGITS_LAYER)(features)
    return keras.Model(inputs, logits, name="critic")


def critic_features(model: keras.Model) -> keras.Model:
    """A model ``images -> penultimate features`` sharing the critic's layers.

    Args:
      model: a critic from :func:`build_critic` (or a loaded one).

    Returns:
      A ``keras.Model`` ``[B, H, W, C] -> [B, 4 * width]`` (the ReLU outputs of
      the ``"features"`` layer); it uses the same variables as ``model``.

    Example:
        >>> phi = critic_features(critic)(images)      # e.g. for an FID-like distance
    """
    try:
        layer = model.get_layer(FEATURES_LAYER)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer {FEATURES_LAYER!r}; pass a critic made by "
            f"build_critic or load_critic") from None
    return keras.Model(model.inputs, layer.output, name="critic_features")
