"""Training the critic: Adam on every class of a dataset, scored on each class's held-out part.

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
from tfmeta.experiments.critic.config import CriticConfig
from tfmeta.experiments.critic.data import critic_data
from tfmeta.nets.resnet import build_critic

__all__ = ["Progress", "train_critic"]

# progress(epoch, step, steps_per_epoch, metrics); see train_critic.
Progress = Callable[[int, int, int, dict], None]


def train_critic(config: CriticConfig,
                 progress: Progress | None = None,
                 splits: ClassDatasetSplits | ClassDataset | None = None,
                 ) -> tuple[keras.Model, dict[str, Any]]:
    """Trains the critic on every class of ``config.dataset`` with Adam.

    No augmentation; the learning rate decays from ``config.learning_rate``
    to 0 along a cosine over the run (a steadier final model than a constant
    rate); the training images are reshuffled every epoch; the held-out part
    of each class (``config.holdout_fraction``) is scored after every epoch.

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
      epoch), ``train_seconds`` and ``config``.

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
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate,
                                                      config.epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(schedule)
    train_step = _make_train_step(model, optimizer)
    dataset = _train_dataset(train_x, train_y, config.batch_size, config.seed)
    history = []
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum, correct = 0.0, 0.0
        for step, (x, y) in enumerate(dataset, start=1):
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
        "config": dataclasses.asdict(config),
    }


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


def _make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """One Adam step on the mean softmax cross-entropy; returns (loss, correct count)."""

    @tf.function(reduce_retracing=True)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        hits = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels,
                                     tf.float32))
        return loss, hits

    return train_step
