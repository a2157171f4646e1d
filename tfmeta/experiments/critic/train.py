"""Training the critic: Adam(W) on every class of a dataset, scored on each class's held-out part.

Example:
    >>> model, report = train_critic(CriticConfig(dataset="mnist", download=False))
    >>> report["heldout_accuracy"] > 0.99
    True
    >>> tfmeta.eval.save_critic(model, report, "/tmp/critic_mnist")
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfmeta.data import ClassDataset, ClassDatasetSplits, load_class_dataset
from tfmeta.eval.critic import evaluate_critic
from tfmeta.experiments.critic.augment import random_affine, random_binarize
from tfmeta.experiments.critic.config import CriticConfig
from tfmeta.experiments.critic.data import critic_data
from tfmeta.nets.resnet import build_critic

__all__ = ["Progress", "make_optimizer", "train_critic", "training_batches"]

# Added to the seed of the binarization's draws, apart from the affine's.
_BINARIZE_STREAM = 7919

# progress(epoch, step, steps_per_epoch, metrics); see train_critic.
Progress = Callable[[int, int, int, dict], None]


def train_critic(config: CriticConfig,
                 progress: Progress | None = None,
                 splits: ClassDatasetSplits | ClassDataset | None = None,
                 ) -> tuple[keras.Model, dict[str, Any]]:
    """Trains the critic on every class of ``config.dataset`` with Adam (AdamW).

    The learning rate decays from ``config.learning_rate`` to 0 along a
    cosine over the run (a steadier final model than a constant rate); the
    training images are reshuffled every epoch and, with ``config.augment ==
    "affine"``, randomly shifted, rotated and zoomed (:func:`training_batches`);
    ``config.weight_decay > 0`` trains with AdamW (:func:`make_optimizer`) and
    ``config.label_smoothing > 0`` smooths the targets. The held-out part of
    each class (``config.holdout_fraction``, never augmented) is scored after
    every epoch.

    Args:
      config: the settings.
      progress: optional ``progress(epoch, step, steps_per_epoch, metrics)``
        called after every training step (``epoch`` and ``step`` from 1,
        ``metrics`` with ``loss`` and ``accuracy`` of the step), and once more
        at the end of each epoch with ``step == steps_per_epoch`` and
        ``heldout_accuracy`` / ``heldout_loss`` added to ``metrics``.
      splits: the data, if already loaded; default: ``load_class_dataset(
        config.dataset, data_dir=..., download=..., image_size=...)``.

    Returns:
      ``(model, report)``: the trained critic and a JSON-able dict with
      ``dataset``, ``num_classes``, ``class_ids``, ``class_names``,
      ``image_shape``, ``heldout_accuracy``, ``heldout_loss``,
      ``num_train_images``, ``num_heldout_images``, ``history`` (one entry per
      epoch), ``train_seconds``, ``optimizer`` (``"Adam"`` or ``"AdamW"``)
      and ``config``.

    Raises:
      FloatingPointError: the training loss diverged.
    """
    start = time.perf_counter()
    if splits is None:
        splits = load_class_dataset(config.dataset, data_dir=config.data_dir,
                                    download=config.download, image_size=config.image_size)
    data = critic_data(splits, config.holdout_fraction, config.seed)
    train_x, train_y = data.train_images, data.train_labels
    if config.max_train_images is not None and config.max_train_images < len(train_y):
        keep = np.sort(np.random.default_rng(config.seed).permutation(len(train_y))
                       [:config.max_train_images])
        train_x, train_y = train_x[keep], train_y[keep]
    logging.info("Critic data: %d classes, %d training and %d held-out images of %s.",
                 data.num_classes, len(train_y), len(data.heldout_labels), data.image_shape)

    model = build_critic(data.image_shape, data.num_classes, config.width, seed=config.seed)
    steps_per_epoch = -(-len(train_y) // config.batch_size)
    optimizer = make_optimizer(config, model, config.epochs * steps_per_epoch)
    train_step = _make_train_step(model, optimizer, config.label_smoothing)
    batches = training_batches(train_x, train_y, config)
    history = []
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum, correct = 0.0, 0.0
        for step, (x, y) in enumerate(batches(epoch), start=1):
            loss, hits = train_step(x, y)
            loss_sum += float(loss) * int(y.shape[0])
            correct += float(hits)
            if progress is not None:
                progress(epoch, step, steps_per_epoch,
                         {"loss": float(loss), "accuracy": float(hits) / int(y.shape[0])})
        heldout = evaluate_critic(model, data.heldout_images, data.heldout_labels)
        entry = {"epoch": epoch, "train_loss": loss_sum / len(train_y),
                 "train_accuracy": correct / len(train_y),
                 "heldout_loss": heldout["loss"], "heldout_accuracy": heldout["accuracy"],
                 "seconds": time.perf_counter() - epoch_start}
        history.append(entry)
        logging.info("Critic epoch %d/%d: train accuracy %.4f, held-out accuracy %.4f "
                     "(%.0f s).", epoch, config.epochs, entry["train_accuracy"],
                     entry["heldout_accuracy"], entry["seconds"])
        if not np.isfinite(entry["train_loss"]):
            raise FloatingPointError(
                f"critic training diverged in epoch {epoch} (mean loss {entry['train_loss']}); "
                f"lower learning_rate={config.learning_rate}")
        if progress is not None:
            progress(epoch, steps_per_epoch, steps_per_epoch,
                     {"loss": entry["train_loss"], "accuracy": entry["train_accuracy"],
                      "heldout_loss": entry["heldout_loss"],
                      "heldout_accuracy": entry["heldout_accuracy"]})
    return model, {
        "dataset": config.dataset,
        "num_classes": data.num_classes,
        "class_ids": [int(c) for c in data.class_ids],
        "class_names": list(data.class_names),
        "image_shape": list(data.image_shape),
        "heldout_accuracy": _json_float(history[-1]["heldout_accuracy"]),
        "heldout_loss": _json_float(history[-1]["heldout_loss"]),
        "train_accuracy": history[-1]["train_accuracy"],
        "num_train_images": int(len(train_y)),
        "num_heldout_images": int(len(data.heldout_labels)),
        "history": [{k: _json_float(v) for k, v in h.items()} for h in history],
        "train_seconds": time.perf_counter() - start,
        "optimizer": type(optimizer).__name__,
        "config": dataclasses.asdict(config),
    }


def training_batches(images: np.ndarray, labels: np.ndarray, config: CriticConfig
                     ) -> Callable[[int], tf.data.Dataset]:
    """The training batches of each epoch: ``batches(epoch)`` is a dataset of ``(x, y)``.

    The images are reshuffled every epoch (deterministically in
    ``config.seed``). With ``config.augment == "affine"`` each batch is
    randomly shifted, rotated and zoomed (:func:`.augment.random_affine`, at
    most ``config.augment_shift`` pixels, ``config.augment_rotation`` degrees
    and ``config.augment_zoom``) with the stateless seed ``[config.seed, k]``
    for the ``k``-th batch of the run (counting from 0 over all epochs), so
    every epoch sees new variants and the same config gives the same images.
    With ``config.augment_binarize`` that share of the images is then
    thresholded to black and white (:func:`.augment.random_binarize`, seed
    ``[config.seed + 7919, k]``). Labels are never changed; with ``"none"``
    and no binarization the batches are the images as they are.

    Args:
      images: float32 ``[n, H, W, C]`` training images.
      labels: int32 ``[n]``.
      config: batch size, seed and augmentation settings.

    Returns:
      ``batches(epoch)`` for ``epoch = 1, 2, ...``; call it once per epoch,
      in order (each call reshuffles).

    Example:
        >>> batches = training_batches(data.train_images, data.train_labels, config)
        >>> for x, y in batches(1): ...
    """
    dataset = _train_dataset(images, labels, config.batch_size, config.seed)
    if config.augment == "none" and not config.augment_binarize:
        return lambda epoch: dataset
    steps_per_epoch = -(-len(labels) // config.batch_size)
    seed = tf.constant(config.seed, tf.int64)

    def batches(epoch: int) -> tf.data.Dataset:
        first = tf.constant((epoch - 1) * steps_per_epoch, tf.int64)

        def augment(i, batch):
            x, y = batch
            if config.augment == "affine":
                x = random_affine(x, tf.stack([seed, first + i]),
                                  max_shift=config.augment_shift,
                                  max_rotation=config.augment_rotation,
                                  max_zoom=config.augment_zoom)
            if config.augment_binarize:   # its own draws: the affine's stay as they were
                x = random_binarize(x, tf.stack([seed + _BINARIZE_STREAM, first + i]),
                                    fraction=config.augment_binarize)
            return x, y

        return (dataset.enumerate()
                .map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(2))

    return batches


def make_optimizer(config: CriticConfig, model: keras.Model,
                   total_steps: int) -> keras.optimizers.Optimizer:
    """Adam, or AdamW when ``config.weight_decay > 0``, with a cosine-decayed learning rate.

    AdamW's decay is decoupled and scaled by the learning rate (each step
    multiplies a kernel by ``1 - lr * weight_decay``); the 1-D variables
    (biases, BatchNorm scales and offsets) are not decayed.

    Example:
        >>> make_optimizer(CriticConfig(weight_decay=0.05), model, 1000).weight_decay
        0.05
    """
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps)
    if config.weight_decay == 0:
        return keras.optimizers.Adam(schedule)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) < 2])
    return optimizer


def _train_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int,
                   seed: int) -> tf.data.Dataset:
    """Reshuffled every epoch (deterministically in ``seed``); gathers batches by index."""
    x, y = tf.constant(images), tf.constant(labels)
    return (tf.data.Dataset.range(len(labels))
            .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .map(lambda i: (tf.gather(x, i), tf.gather(y, i)),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(2))


def _json_float(value):
    """NaN (no held-out images) becomes None so the report stays valid JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                     label_smoothing: float = 0.0):
    """One optimizer step on the mean softmax cross-entropy; returns (loss, correct count).

    With ``label_smoothing > 0`` the targets are ``(1 - s) * one_hot + s / classes``.
    """

    def cross_entropy(labels, logits):
        if label_smoothing == 0:
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        classes = logits.shape[-1]
        targets = (tf.one_hot(labels, classes) * (1.0 - label_smoothing)
                   + label_smoothing / classes)
        return tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits)

    @tf.function(reduce_retracing=True)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(cross_entropy(labels, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        hits = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels,
                                     tf.float32))
        return loss, hits

    return train_step
