"""Using a trained critic: load and save it, map class ids to its labels, score labelled images.

Paper 000 (section 4.2) evaluates a meta-trained GAN with a pretrained
classifier, the *critic* (the ResNet of :mod:`tfmeta.nets.resnet`, trained by
:mod:`tfmeta.experiments.critic`): the GAN adapts to a held-out class and the
critic's ``-log P(class | x)`` and accuracy on the generated ``x`` measure how
well the images look like that class. The critic's labels are positions in
the sorted list of source class ids (``info["class_ids"]``);
:func:`labels_for_class_ids` maps the class ids of any dataset to them.

A critic directory holds ``critic.keras`` (Keras 3 format) and
``critic.json`` (the training report: dataset, num_classes, class_ids,
image_shape, heldout_accuracy, ...), each written atomically, the JSON last.

Example:
    >>> critic, info = load_critic("runs/critic_mnist")
    >>> labels = labels_for_class_ids(info["class_ids"], splits.test.class_ids)
    >>> evaluate_critic(critic, images, labels_of_images)["accuracy"]
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfmeta import io

__all__ = ["MODEL_FILE", "INFO_FILE", "evaluate_critic", "labels_for_class_ids", "load_critic",
           "save_critic"]

MODEL_FILE = "critic.keras"
INFO_FILE = "critic.json"
_REQUIRED = ("dataset", "num_classes", "class_ids", "image_shape", "heldout_accuracy")


def labels_for_class_ids(critic_class_ids: Sequence[int],
                         class_ids: Sequence[int]) -> np.ndarray:
    """Maps source class ids to critic labels (positions in ``critic_class_ids``).

    Args:
      critic_class_ids: the critic's class ids, e.g. ``info["class_ids"]`` of
        :func:`load_critic`.
      class_ids: source class ids to map, e.g. ``splits.test.class_ids``.

    Returns:
      int32 ``[len(class_ids)]``.

    Raises:
      ValueError: a class id the critic does not know.

    Example:
        >>> labels_for_class_ids([0, 1, 5, 7], [7, 5])
        array([3, 2], dtype=int32)
    """
    position = {int(cid): i for i, cid in enumerate(critic_class_ids)}
    missing = [int(c) for c in class_ids if int(c) not in position]
    if missing:
        raise ValueError(
            f"class id(s) {missing[:10]}{' ...' if len(missing) > 10 else ''} are not classes "
            f"of the critic ({len(position)} classes); train the critic on the dataset whose "
            f"classes you score")
    return np.asarray([position[int(c)] for c in class_ids], np.int32)


def evaluate_critic(model: keras.Model, images: np.ndarray | tf.Tensor,
                    labels: np.ndarray | tf.Tensor, batch_size: int = 512) -> dict[str, float]:
    """Accuracy and mean cross-entropy of the critic on labelled images.

    Args:
      model: a critic (logits output).
      images: ``[n, H, W, C]`` in ``[-1, 1]``.
      labels: ``[n]`` critic labels.
      batch_size: images per forward pass.

    Returns:
      ``{"accuracy": float, "loss": float}`` (NaN for ``n == 0``).

    Example:
        >>> evaluate_critic(model, data.heldout_images, data.heldout_labels)["accuracy"]
    """
    n = int(labels.shape[0])
    if n == 0:
        return {"accuracy": float("nan"), "loss": float("nan")}
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    correct, total_loss = 0.0, 0.0
    for start in range(0, n, batch_size):
        logits = predict(tf.convert_to_tensor(images[start:start + batch_size]))
        y = tf.cast(labels[start:start + batch_size], tf.int64)
        correct += float(tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == y, tf.float32)))
        total_loss += float(tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)))
    return {"accuracy": correct / n, "loss": total_loss / n}


def save_critic(model: keras.Model, report: dict[str, Any], workdir: str | os.PathLike) -> None:
    """Writes ``workdir/critic.keras`` and ``workdir/critic.json``, each atomically.

    The model goes first, the JSON last, so a directory with ``critic.json``
    always holds a complete critic.

    Args:
      model: the critic.
      report: the training report (must hold ``dataset``, ``num_classes``,
        ``class_ids``, ``image_shape``, ``heldout_accuracy``).
      workdir: the directory (created if needed).

    Raises:
      ValueError: the report lacks a required key or disagrees with the model.

    Example:
        >>> save_critic(model, report, "/tmp/critic_mnist")
    """
    missing = [k for k in _REQUIRED if k not in report]
    if missing:
        raise ValueError(f"report lacks {missing}; pass the report of train_critic "
                         f"(keys: {sorted(report)})")
    outputs = int(model.outputs[0].shape[-1])
    if outputs != report["num_classes"] or len(report["class_ids"]) != outputs:
        raise ValueError(
            f"model has {outputs} outputs but the report has num_classes="
            f"{report['num_classes']} and {len(report['class_ids'])} class_ids")
    workdir = os.fspath(workdir)
    io.save_keras(os.path.join(workdir, MODEL_FILE), model)
    io.write_json(os.path.join(workdir, INFO_FILE), report)
    logging.info("Saved the critic to %s.", workdir)


def load_critic(workdir: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """Loads a critic written by :func:`save_critic`.

    Args:
      workdir: the directory holding ``critic.keras`` and ``critic.json``.

    Returns:
      ``(model, info)``: the critic (logits output) and the contents of
      ``critic.json``.

    Raises:
      FileNotFoundError: the directory holds no (complete) critic.

    Example:
        >>> critic, info = load_critic("/tmp/critic_mnist")
        >>> labels = labels_for_class_ids(info["class_ids"], splits.test.class_ids)
    """
    workdir = os.fspath(workdir)
    paths = [os.path.join(workdir, name) for name in (MODEL_FILE, INFO_FILE)]
    missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"no critic in {workdir!r}: missing {', '.join(missing)}; train one there with the "
            f"critic experiment (trainers.critic with its `dataset` and `workdir`={workdir})")
    info = io.read_json(paths[1])
    model = keras.models.load_model(paths[0], compile=False)
    return model, info
