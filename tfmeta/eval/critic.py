"""The critic: a small ResNet classifier that scores few-shot generated images.

Paper 000 (section 4.2) evaluates a meta-trained GAN with a pretrained
classifier, the *critic*: the GAN adapts to a held-out class ``tau`` and the
critic's ``-log P(tau | x)`` and accuracy on the generated ``x`` measure how
well the generated images look like that class. The critic is "a ResNet with
four residual blocks" (99.4% accuracy on MNIST, 81.7% on Omniglot).

Because the critic must recognise the *meta-test* classes, it is trained on
every class of the dataset: the meta-train and meta-test classes of a
:class:`~tfmeta.data.ClassDatasetSplits` merged (10 digits for MNIST, all
1623 characters for Omniglot), with a small per-class held-out part for its
own validation. Its labels are positions in the sorted list of source class
ids (``CriticData.class_ids``), so for TFDS datasets the critic's label of a
class is its TFDS label; :meth:`CriticData.labels_of` maps the class indices
of any ``ClassDataset`` to critic labels.

Architecture (:func:`build_critic`): a 3x3 conv stem, four residual blocks
(two 3x3 conv + BatchNorm layers, ReLU, a 1x1 conv + BatchNorm projection
shortcut where the shape changes; strides 2, 2, 2, 1; widths ``w, 2w, 4w,
4w``), global average pooling, a dense ReLU ``features`` layer (``4w`` units)
and a dense classifier that outputs logits. :func:`critic_features` gives the
penultimate features as a model that shares the critic's layers.

Example:
    >>> config = CriticConfig(dataset="mnist", data_dir="shared/tensorflow_datasets",
    ...                       download=False)
    >>> model, report = train_critic(config)
    >>> report["heldout_accuracy"] > 0.99
    True
    >>> save_critic(model, report, "/tmp/critic_mnist")
    >>> model, info = load_critic("/tmp/critic_mnist")
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from typing import Any, Callable, Sequence

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfmeta.data import ClassDataset, ClassDatasetSplits, load_class_dataset

MODEL_FILE = "critic.keras"
INFO_FILE = "critic.json"
FEATURES_LAYER = "features"
LOGITS_LAYER = "logits"
NUM_BLOCKS = 4
# Moving statistics follow the batches faster than Keras's 0.99 (PyTorch's 0.1
# convention): short training runs get usable inference-mode statistics.
_BN_MOMENTUM = 0.9
_STRIDES = (2, 2, 2, 1)
_WIDTH_MULTIPLIERS = (1, 2, 4, 4)

# progress(epoch, step, steps_per_epoch, metrics); see train_critic.
Progress = Callable[[int, int, int, dict], None]


# --------------------------------------------------------------------- model
def _residual_block(x, filters: int, stride: int, name: str):
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
        dataset, e.g. 10 for MNIST, 1623 for Omniglot).
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
    for name, value in (("num_classes", num_classes), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 for a classifier, got {num_classes}")
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    inputs = keras.Input(image_shape, name="images")
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for i, (stride, mult) in enumerate(zip(_STRIDES, _WIDTH_MULTIPLIERS), start=1):
        x = _residual_block(x, width * mult, stride, name=f"block{i}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    features = keras.layers.Dense(4 * width, activation="relu", name=FEATURES_LAYER)(x)
    logits = keras.layers.Dense(int(num_classes), name=LOGITS_LAYER)(features)
    return keras.Model(inputs, logits, name="critic")


def critic_features(model: keras.Model) -> keras.Model:
    """A model ``images -> penultimate features`` sharing the critic's layers.

    Args:
      model: a critic from :func:`build_critic` or :func:`load_critic`.

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


# ---------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True, eq=False)
class CriticData:
    """All images of all classes, split per class into training and held-out parts.

    Attributes:
      train_images: float32 ``[n_train, H, W, C]`` in ``[-1, 1]``.
      train_labels: int32 ``[n_train]``, critic labels ``0 .. num_classes - 1``.
      heldout_images: float32 ``[n_heldout, H, W, C]``.
      heldout_labels: int32 ``[n_heldout]``.
      class_ids: int64 ``[num_classes]``: the source (TFDS) class id of each
        critic label, sorted ascending.
      class_names: a readable name of each critic label.

    Example:
        >>> data = critic_data(load_class_dataset("mnist", download=False))
        >>> data.num_classes, data.train_images.shape[1:]
        (10, (28, 28, 1))
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    heldout_images: np.ndarray
    heldout_labels: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Classes of the critic (meta-train and meta-test classes together)."""
        return int(len(self.class_ids))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.train_images.shape[1:])

    def labels_of(self, dataset: ClassDataset) -> np.ndarray:
        """Critic labels of the class indices of ``dataset``, int32 ``[dataset.num_classes]``.

        Args:
          dataset: a ClassDataset whose class ids are among ``self.class_ids``
            (e.g. ``splits.test``).

        Raises:
          ValueError: a class id of ``dataset`` is not a critic class.

        Example:
            >>> label = data.labels_of(splits.test)[2]   # critic label of test class index 2
        """
        return labels_for_class_ids(self.class_ids, dataset.class_ids)


def labels_for_class_ids(critic_class_ids: Sequence[int],
                         class_ids: Sequence[int]) -> np.ndarray:
    """Maps source class ids to critic labels (positions in ``critic_class_ids``).

    Args:
      critic_class_ids: the critic's class ids, e.g. ``info["class_ids"]`` of
        :func:`load_critic` or ``CriticData.class_ids``.
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


def heldout_count(count: int, holdout_fraction: float) -> int:
    """Images of a class of ``count`` images that are held out.

    ``round(holdout_fraction * count)``, but at least 1 when the fraction is
    positive and at most ``count - 1``, so every class keeps a training image.

    Example:
        >>> heldout_count(20, 0.1), heldout_count(7000, 0.1), heldout_count(3, 0.1)
        (2, 700, 1)
    """
    if holdout_fraction <= 0 or count < 2:
        return 0
    return int(min(count - 1, max(1, round(holdout_fraction * count))))


def critic_data(splits: ClassDatasetSplits | ClassDataset, holdout_fraction: float = 0.1,
                seed: int = 0) -> CriticData:
    """Merges every class of ``splits`` and holds out part of each class.

    Args:
      splits: ``ClassDatasetSplits`` (meta-train and meta-test classes are
        merged) or a single ``ClassDataset``.
      holdout_fraction: fraction of each class's images held out for
        validation, in ``[0, 1)`` (see :func:`heldout_count`).
      seed: seed of the per-class split. The split of a class depends only on
        ``seed`` and its class id, not on the other classes.

    Returns:
      A :class:`CriticData`; every image is in exactly one of the two parts.
      Labels are positions in the sorted class ids; images are ordered by
      label (shuffle them for training).

    Raises:
      ValueError: a bad fraction, or a class id in both splits.

    Example:
        >>> data = critic_data(load_class_dataset("omniglot", download=False))
        >>> data.num_classes, len(data.heldout_labels)
        (1623, 3246)
    """
    if not 0.0 <= float(holdout_fraction) < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction!r}")
    parts = [splits] if isinstance(splits, ClassDataset) else list(splits)
    by_id = {}
    for part in parts:
        images, counts = part.images.numpy(), part.counts.numpy()
        for c, (cid, name) in enumerate(zip(part.class_ids, part.class_names)):
            if cid in by_id:
                raise ValueError(
                    f"class id {cid} ({name!r}) appears twice in the splits; the critic "
                    f"needs each class once")
            by_id[cid] = (name, images[c, :counts[c]])
    class_ids = np.asarray(sorted(by_id), np.int64)
    train_x, train_y, held_x, held_y = [], [], [], []
    for label, cid in enumerate(class_ids):
        images = by_id[int(cid)][1]
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(cid) & 0xFFFFFFFF])
        order = rng.permutation(len(images))
        k = heldout_count(len(images), holdout_fraction)
        held_x.append(images[order[:k]])
        train_x.append(images[order[k:]])
        held_y.append(np.full(k, label, np.int32))
        train_y.append(np.full(len(images) - k, label, np.int32))
    return CriticData(
        train_images=np.concatenate(train_x), train_labels=np.concatenate(train_y),
        heldout_images=np.concatenate(held_x), heldout_labels=np.concatenate(held_y),
        class_ids=class_ids,
        class_names=tuple(by_id[int(cid)][0] for cid in class_ids))


# ------------------------------------------------------------------ training
@dataclasses.dataclass(frozen=True)
class CriticConfig:
    """Settings of :func:`train_critic` (defaults: the MNIST critic).

    Attributes:
      dataset: TFDS name, loaded with :func:`tfmeta.data.load_class_dataset`.
      data_dir: TFDS data directory (None: TFDS's default).
      download: let TFDS download missing data.
      epochs: passes over the training images (3 reach >= 99% held-out
        accuracy on MNIST).
      batch_size: images per Adam step.
      learning_rate: initial Adam learning rate (cosine decay to 0).
      width: channels of the first block (see :func:`build_critic`).
      holdout_fraction: per-class held-out fraction for validation.
      seed: initialization, held-out split and shuffling.
      image_size: resize images to this size (None: the dataset's default,
        28 for mnist and omniglot).
      max_train_images: train on a random subset of this many images (None:
        all); for quick runs and tests.

    Example:
        >>> CriticConfig(dataset="omniglot", epochs=30)
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = True
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    width: int = 32
    holdout_fraction: float = 0.1
    seed: int = 0
    image_size: int | None = None
    max_train_images: int | None = None

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a non-empty string, got {self.dataset!r}")
        if not isinstance(self.download, bool):
            raise ValueError(f"download must be a bool, got {self.download!r}")
        for name in ("epochs", "batch_size", "width"):
            _check_positive_int(name, getattr(self, name))
        for name in ("image_size", "max_train_images"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(
                f"holdout_fraction must be in [0, 1), got {self.holdout_fraction!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


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

    Example:
        >>> model, report = train_critic(CriticConfig(dataset="mnist", epochs=1))
        >>> report["heldout_accuracy"]
        0.989...
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
    report = {
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
    return model, report


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


# --------------------------------------------------------------- save / load
def save_critic(model: keras.Model, report: dict[str, Any], workdir: str | os.PathLike) -> None:
    """Writes ``workdir/critic.keras`` and ``workdir/critic.json``, each atomically.

    The model goes first, the JSON last, so a directory with ``critic.json``
    always holds a complete critic.

    Args:
      model: the critic.
      report: the report of :func:`train_critic` (must hold ``dataset``,
        ``num_classes``, ``class_ids``, ``image_shape``, ``heldout_accuracy``).
      workdir: the directory (created if needed).

    Raises:
      ValueError: the report lacks a required key or disagrees with the model.

    Example:
        >>> save_critic(model, report, "/tmp/critic_mnist")
    """
    required = ("dataset", "num_classes", "class_ids", "image_shape", "heldout_accuracy")
    missing = [k for k in required if k not in report]
    if missing:
        raise ValueError(f"report lacks {missing}; pass the report of train_critic "
                         f"(keys: {sorted(report)})")
    outputs = int(model.outputs[0].shape[-1])
    if outputs != report["num_classes"] or len(report["class_ids"]) != outputs:
        raise ValueError(
            f"model has {outputs} outputs but the report has num_classes="
            f"{report['num_classes']} and {len(report['class_ids'])} class_ids")
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".tmp-critic-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        _readable(tmp)
        os.replace(tmp, os.path.join(workdir, MODEL_FILE))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".tmp-critic-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True, default=_to_json)
            f.write("\n")
        _readable(tmp)
        os.replace(tmp, os.path.join(workdir, INFO_FILE))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    logging.info("Saved the critic to %s.", workdir)


def _readable(path: str) -> None:
    """Gives a mkstemp file (mode 0600) the permissions of an ordinary new file."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _to_json(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


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
            f"no critic in {workdir!r}: missing {', '.join(missing)}; train one with "
            f"`python -m trainers.critic --dataset=... --workdir={workdir}`")
    with open(paths[1]) as f:
        info = json.load(f)
    model = keras.models.load_model(paths[0], compile=False)
    return model, info
