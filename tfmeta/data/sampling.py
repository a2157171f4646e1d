"""Stateless sampling primitives shared by the samplers: keys, salts, draws without replacement.

Every draw in :mod:`tfmeta.data` is a pure function of ``(seed, salt, step)``:
:func:`step_key` folds the step into a key made of the seed and a salt that
keeps the streams of the different samplers apart, and
:func:`sample_without_replacement` turns a key into distinct indices below a
per-class count. Both work inside ``tf.function`` with tensor steps.

Example:
    >>> key = step_key(seed=0, step=3, salt=SALT_CLASS)
    >>> sample_without_replacement(key, counts=[20, 7], max_count=20, num=5).shape
    TensorShape([2, 5])
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from tfmeta import checks

__all__ = ["SALT_META_BATCH", "SALT_EPISODE", "SALT_CLASS", "SALT_BATCH", "SALT_AUGMENT",
           "check_class_index", "check_count", "check_seed", "step_key", "sample_without_replacement"]

# Salts that keep the random streams of the different samplers apart.
SALT_META_BATCH = 0x6D657461  # "meta"
SALT_EPISODE = 0x65706973     # "epis"
SALT_CLASS = 0x636C6173       # "clas"
SALT_BATCH = 0x62617463       # "batc"
SALT_AUGMENT = 0x61756731     # "aug1"


def check_count(what: str, value, minimum: int) -> int:
    """Returns ``value`` if it is a Python int ``>= minimum``; the ValueError names it."""
    return checks.count(what, value, minimum)


def check_seed(seed) -> int:
    """Returns ``seed`` as an int after checking it fits int64."""
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not (
            -2**63 <= seed < 2**63):
        raise ValueError(f"seed must be a Python int (int64 range), got {seed!r}")
    return int(seed)


def check_class_index(class_index, num_classes: int, name: str = ""):
    """A class index in ``0 .. num_classes - 1``: a Python int, or an int32 tensor in a graph.

    Eager values are checked at once (the ValueError names the index and the
    range); inside ``tf.function`` the check is an in-graph assertion.
    """
    if isinstance(class_index, numbers.Integral) and not isinstance(class_index, bool):
        class_index = int(class_index)
        if not 0 <= class_index < num_classes:
            raise ValueError(
                f"class index {class_index} out of range for {name or 'the dataset'} "
                f"with {num_classes} classes; use 0 .. {num_classes - 1}")
        return class_index
    class_index = tf.convert_to_tensor(class_index)
    if not class_index.dtype.is_integer or class_index.shape.rank not in (None, 0):
        raise ValueError(
            f"class_index must be an integer scalar, got {class_index.dtype.name} of "
            f"shape {class_index.shape}")
    class_index = tf.cast(class_index, tf.int32)
    if tf.executing_eagerly():
        return check_class_index(int(class_index), num_classes, name)
    tf.debugging.assert_less(class_index, num_classes, message="class index out of range")
    tf.debugging.assert_non_negative(class_index, message="class index out of range")
    return class_index


def step_key(seed: int, step, salt: int) -> tf.Tensor:
    """The int64 ``[2]`` stateless key of ``(seed, salt, step)``; step may be a tensor."""
    step = tf.convert_to_tensor(step)
    if not step.dtype.is_integer or step.shape.rank not in (None, 0):
        raise ValueError(
            f"step must be an integer scalar (int or int tensor), got {step.dtype.name} "
            f"of shape {step.shape}")
    base = tf.constant([check_seed(seed), salt], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64))


def sample_without_replacement(key: tf.Tensor, counts: tf.Tensor, max_count: int,
                               num: int) -> tf.Tensor:
    """Draws ``num`` distinct indices below ``counts`` for every entry of ``counts``.

    Uniform without replacement: random keys for the ``max_count`` slots, the
    padded slots ``>= count`` masked out, the ``num`` largest kept (in random
    order). Needs ``num <= count`` (checked by the callers).

    Args:
      key: int ``[2]`` stateless seed.
      counts: int32 tensor of any shape ``S``.
      max_count: the padded length (Python int).
      num: indices per entry.

    Returns:
      int32 ``S + [num]``.
    """
    counts = tf.convert_to_tensor(counts, tf.int32)
    shape = tf.concat([tf.shape(counts), [max_count]], axis=0)
    noise = tf.random.stateless_uniform(shape, key)
    valid = tf.range(max_count, dtype=tf.int32) < counts[..., None]
    noise = tf.where(valid, noise, -1.0)
    return tf.math.top_k(noise, k=num).indices
