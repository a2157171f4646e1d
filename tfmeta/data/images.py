"""A TFDS split's images, prepared: resized, converted, scaled to [-1, 1] as numpy arrays."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds


def preprocess_images(images: tf.Tensor, size: tuple[int, int], channels: int,
                      invert: bool) -> tf.Tensor:
    """Images (``[..., H, W, C]``, any dtype) -> float32 ``[..., *size, channels]`` in [-1, 1].

    Integer images are scaled by their dtype's maximum; float images are taken
    to be in ``[0, 1]``. Resizing averages areas (``method="area"``) and is
    skipped when the size already matches, so MNIST keeps its exact pixels.

    Example:
        >>> x = preprocess_images(tf.zeros([2, 105, 105, 3], tf.uint8), (28, 28), 1, True)
    """
    x = tf.image.convert_image_dtype(images, tf.float32)
    if x.shape[-1] == 3 and channels == 1:
        x = tf.image.rgb_to_grayscale(x)
    elif x.shape[-1] == 1 and channels == 3:
        x = tf.image.grayscale_to_rgb(x)
    elif x.shape[-1] != channels:
        x = x[..., :channels]
    if tuple(x.shape[-3:-1]) != tuple(size):
        x = tf.image.resize(x, size, method="area")
    x = tf.clip_by_value(x * 2.0 - 1.0, -1.0, 1.0)
    return -x if invert else x


def decode_split(name: str, split: str, *, size: tuple[int, int], channels: int,
                  invert: bool, data_dir: str | None, download: bool, image_key: str,
                  label_key: str) -> dict[str, np.ndarray]:
    """Every image of one TFDS split, prepared: ``{"images", "labels", "class_names"}``."""
    ds, info = tfds.load(name, split=split, data_dir=data_dir, download=download,
                         shuffle_files=False, with_info=True)
    static = info.features[image_key].shape[0] is not None and \
        info.features[image_key].shape[1] is not None

    def prepare(example):
        return (preprocess_images(example[image_key], size, channels, invert),
                tf.cast(example[label_key], tf.int64))

    if static:  # resize whole batches: faster than one image at a time
        ds = ds.batch(1024).map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
                                deterministic=True)
    else:
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True).batch(1024)
    images, labels = [], []
    for x, y in ds.prefetch(2).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        raise ValueError(f"split {split!r} of {name!r} holds no images; pick another split")
    return {"images": np.concatenate(images), "labels": np.concatenate(labels),
            "class_names": np.asarray(info.features[label_key].names, dtype=str)}
