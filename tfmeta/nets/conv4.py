"""Conv-4: the few-shot classification network of MAML, Meta-SGD, Reptile and MAML++.

Four blocks of ``3x3 conv (64 filters) -> BatchNorm -> activation`` with either
stride-2 convolutions (MAML's Omniglot network; the spatial mean of the last
block feeds the head) or ``2x2`` max-pooling after each block (MAML's
MiniImagenet network, Snell et al.), then a linear ``ways``-way head.

BatchNorm semantics (the deliberate choice, tested): every block normalizes
with the statistics of the batch it is given -- the support set in the inner
loop, the query set when scoring -- in training and evaluation alike, exactly
as the original MAML code (``tf.contrib.layers.batch_norm`` in training mode)
and MAML++ do. The layer is :class:`tfmeta.nets.layers.BatchStatNorm`: no
moving averages (an adapted network is fully described by its trainable
tensors: per block the kernel, bias, gamma and beta, then the head's kernel
and bias), and exact derivatives of every order through the batch statistics,
which Keras' ``BatchNormalization`` does not give (see that module). A query
set is therefore scored as a batch: one query image alone normalizes with its
own statistics and may be classified differently.

Example:
    >>> model = build_conv4(ways=5)                  # 28x28x1 Omniglot, stride 2
    >>> logits = functional.apply(model, params_of(model), images, training=True)
"""

from __future__ import annotations

import keras

from tfmeta.nets.layers import BatchStatNorm

POOLINGS = ("stride", "max")


def build_conv4(ways: int, image_shape: tuple = (28, 28, 1), *, filters: int = 64,
                pooling: str = "stride", activation: str = "relu", batch_norm: bool = True,
                per_step_rows: int = 0, dtype: str = "float32",
                name: str = "conv4") -> keras.Model:
    """Builds the Conv-4 classifier.

    Args:
      ways: N, the number of output logits.
      image_shape: ``(H, W, C)`` of the inputs.
      filters: channels of every convolution (64 in every paper).
      pooling: ``"stride"`` (stride-2 convolutions, spatial mean before the head;
        MAML's Omniglot network) or ``"max"`` (stride 1, 2x2 max-pool per
        block, flattened features; MAML's MiniImagenet network).
      activation: ``"relu"``; a smooth one (``"softplus"``, ``"tanh"``) for
        finite-difference checks.
      batch_norm: batch-statistics normalization after every convolution
        (epsilon 1e-3, as in MAML).
      per_step_rows: MAML++'s per-step batch norm: 0 (off), else the number of
        rows of every normalization's ``gamma``/``beta`` (inner steps + 1); the
        model then takes ``[images, step]`` with ``step`` an int32 ``[B]``
        vector (its first entry picks the row; see
        :class:`tfmeta.nets.layers.BatchStatNorm`).
      dtype: of the variables and computation (``"float64"`` for checks).

    Returns:
      A built functional ``keras.Model`` taking ``[B, H, W, C]`` images (and the
      step, with ``per_step_rows``) to ``[B, ways]`` logits.
    """
    if isinstance(ways, bool) or not isinstance(ways, int) or ways < 2:
        raise ValueError(f"ways must be an int >= 2, got {ways!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if len(tuple(image_shape)) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {image_shape!r}")
    layers = keras.layers
    if isinstance(per_step_rows, bool) or not isinstance(per_step_rows, int) \
            or per_step_rows < 0 or (per_step_rows and not batch_norm):
        raise ValueError(f"per_step_rows must be an int >= 0 (with batch_norm), got "
                         f"{per_step_rows!r}")
    inputs = keras.Input(tuple(image_shape), dtype=dtype, name="images")
    step = keras.Input((), dtype="int32", name="step") if per_step_rows else None
    h = inputs
    for i in range(4):
        h = layers.Conv2D(filters, 3, strides=2 if pooling == "stride" else 1,
                          padding="same", dtype=dtype, name=f"conv{i}")(h)
        if batch_norm:
            norm = BatchStatNorm(epsilon=1e-3, rows=per_step_rows, dtype=dtype, name=f"bn{i}")
            h = norm(h, step) if per_step_rows else norm(h)
        h = layers.Activation(activation, dtype=dtype, name=f"act{i}")(h)
        if pooling == "max":
            h = layers.MaxPooling2D(2, padding="valid" if h.shape[1] >= 2 else "same",
                                    dtype=dtype, name=f"pool{i}")(h)
    if pooling == "stride":
        h = layers.GlobalAveragePooling2D(dtype=dtype, name="mean")(h)
    else:
        h = layers.Flatten(dtype=dtype, name="flatten")(h)
    logits = layers.Dense(ways, dtype=dtype, name="head")(h)
    return keras.Model([inputs, step] if per_step_rows else inputs, logits, name=name)


def build_conv4_embedding(image_shape: tuple = (28, 28, 1), *, filters: int = 64,
                          pooling: str = "max", pool_blocks: int = 4, flatten: bool = True,
                          activation: str = "relu", dtype: str = "float32",
                          name: str = "conv4_embedding") -> keras.Model:
    """Conv-4 without its head: the embedding of the metric learners (Snell et al., Vinyals et al.).

    The same four ``3x3 conv -> norm -> activation`` blocks as
    :func:`build_conv4`, but normalized by Keras' ``BatchNormalization`` with
    moving averages (batch statistics when called with ``training=True``, the
    moving averages at test), as the metric learners' own code does: they take
    no second derivatives, and an embedding that does not depend on the other
    images of a batch lets a query be classified alone.

    Args:
      image_shape: ``(H, W, C)`` of the inputs.
      filters: channels of every convolution.
      pooling: ``"max"`` (2x2 max-pool after a block; the metric papers') or
        ``"stride"`` (stride-2 convolutions).
      pool_blocks: how many of the first blocks down-sample (Relation
        networks: 2, keeping 7x7 maps of a 28x28 image).
      flatten: ``True``: a ``[B, D]`` vector (max: flattened maps; stride:
        their spatial mean); ``False``: the ``[B, h, w, filters]`` maps.
      activation, dtype: as in :func:`build_conv4`.

    Example:
        >>> embedding = build_conv4_embedding()          # 28x28x1 -> 64
        >>> embedding(images, training=False).shape
        TensorShape([B, 64])
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if isinstance(pool_blocks, bool) or not isinstance(pool_blocks, int) \
            or not 0 <= pool_blocks <= 4:
        raise ValueError(f"pool_blocks must be an int in 0..4, got {pool_blocks!r}")
    if len(tuple(image_shape)) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {image_shape!r}")
    layers = keras.layers
    inputs = keras.Input(tuple(image_shape), dtype=dtype, name="images")
    h = inputs
    for i in range(4):
        down = i < pool_blocks
        h = layers.Conv2D(filters, 3, strides=2 if down and pooling == "stride" else 1,
                          padding="same", dtype=dtype, name=f"conv{i}")(h)
        h = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=dtype,
                                      name=f"bn{i}")(h)
        h = layers.Activation(activation, dtype=dtype, name=f"act{i}")(h)
        if down and pooling == "max":
            h = layers.MaxPooling2D(2, padding="valid" if h.shape[1] >= 2 else "same",
                                    dtype=dtype, name=f"pool{i}")(h)
    if flatten:
        if pooling == "stride":
            h = layers.GlobalAveragePooling2D(dtype=dtype, name="mean")(h)
        else:
            h = layers.Flatten(dtype=dtype, name="flatten")(h)
    return keras.Model(inputs, h, name=name)
