"""Few-shot generation quality: paper 000's critic protocol, plus a Frechet distance.

For each of T test tasks drawn with replacement (default 256), a *source* of
images -- any callable ``source(task_number, class_index, samples) -> images``
-- produces ``samples`` images for the task's class (default 4096):

* :func:`tfmeta.eval.sources.adapted_source`: adapt a model on the task's
  support set with an experiment's ``adapt_fn(support_images, task_seed) ->
  params``, then draw samples with its ``sample_fn(params, z) -> images``
  (:func:`~tfmeta.eval.sources.adapted_sources`: at several points of one
  adaptation, scored together by :func:`evaluate_sources`);
* :func:`tfmeta.eval.sources.real_source`: real images of the class (the
  "Real" row).

Every source is scored by the same :func:`evaluate_source`:

* NLL = mean of ``-log P_critic(task | x)``;
* accuracy = mean of ``[argmax P_critic(. | x) == task]``;
* Frechet distance between the samples and all real images of the class in
  the critic's penultimate features (beyond the paper: NLL alone rewards a
  generator that draws one perfect sample every time);
* support distance ratio: the mean pixel distance from each sample to its
  nearest image of the task's support set, over the same for the class's real
  images outside the support (also beyond the paper): about 1 when the samples
  are as far from the few shots as new real images of the class are, near 0
  when they are copies of the support (NaN when the support is the whole
  class);

each as a mean over tasks with a 95% interval (1.96 standard errors), and
NLL and accuracy task by task (``per_task``), for paired comparisons.
Everything is drawn from stateless seeds: the same inputs and seed give the
same numbers. Nothing here knows an experiment.

Example:
    >>> source = adapted_source(adapt_fn, sample_fn, splits.test, support_size=32,
    ...                         latent_dim=100)
    >>> row = evaluate_source(source, splits.test, critic, critic_labels,
    ...                       GenerationEvalConfig(tasks=256))
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfmeta import checks
from tfmeta.data import ClassDataset
from tfmeta.data.support import support_set, task_classes
from tfmeta.nets.resnet import critic_features

from tfmeta.eval.sources import Source


@dataclasses.dataclass(frozen=True)
class GenerationEvalConfig:
    """The protocol's settings (defaults: paper 000, section 5.1).

    Attributes:
      tasks: test tasks, drawn with replacement.
      samples: images scored per task.
      adapt_steps: inner steps of adaptation (for the record; the source adapts).
      support_size: images of a task's support set (its shots).
      seed: of tasks, supports and latents.
      chunk: images per forward pass.
    """
    tasks: int = 256
    samples: int = 4096
    adapt_steps: int = 10
    support_size: int = 32
    seed: int = 0
    chunk: int = 512

    def __post_init__(self):
        for name in ("tasks", "samples", "adapt_steps", "support_size", "chunk"):
            checks.count(name, getattr(self, name))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets ``a`` and ``b``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr sqrt(A B) = sum sqrt(eig(sqrt(A) B sqrt(A))), all symmetric PSD: stable with eigh.
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(inner, 0, None))))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def nearest_distances(images, reference) -> np.ndarray:
    """Euclidean pixel distance from each of ``images`` to its nearest image in ``reference``."""
    a = np.asarray(images, np.float64).reshape(len(images), -1)
    b = np.asarray(reference, np.float64).reshape(len(reference), -1)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared.min(axis=1), 0.0, None))


def support_distance_ratio(samples, support, class_images, reference_size: int = 1024) -> float:
    """Mean nearest-support distance of ``samples`` over that of real images outside the support.

    The reference is the first ``reference_size`` images of the class that are
    not in ``support``; NaN if every image of the class is in it (Omniglot's
    20-image classes with a support of 20).
    """
    # The first reference_size + len(support) images hold the first reference_size outside it.
    candidates = np.asarray(class_images)[:reference_size + len(support)]
    # Membership by exact equality: a distance threshold is not exact, since the distances'
    # rounding error grows with the image size and 28x28 images of a 20-image class passed as
    # "outside" their own support at ~1e-6 and gave ratios of ~1e7.
    shots = {np.asarray(s, np.float64).tobytes() for s in np.asarray(support)}
    outside = candidates[[np.asarray(c, np.float64).tobytes() not in shots for c in candidates]]
    if not len(outside):
        return float("nan")
    reference = nearest_distances(outside[:reference_size], support).mean()
    return float(nearest_distances(samples, support).mean() / reference)


def _interval(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    if np.isnan(values).all():
        return float("nan"), float("nan")
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(half)


def evaluate_source(source: Source, dataset: ClassDataset, critic: keras.Model,
                    critic_labels: np.ndarray, config: GenerationEvalConfig,
                    progress: Callable[[int], None] | None = None) -> dict:
    """Scores a source of images on ``config.tasks`` test tasks of ``dataset``.

    Args:
      source: ``(task_number, class_index, samples) -> images`` in [-1, 1].
      dataset: the meta-test classes.
      critic: classifier over the critic's classes (logits).
      critic_labels: critic label of each class index of ``dataset``.
      config: the protocol's settings.
      progress: called with the number of tasks done.

    Returns:
      ``{"nll", "nll_ci95", "accuracy", "accuracy_ci95", "frechet", "frechet_ci95",
      "support_ratio", "support_ratio_ci95", "tasks", "samples", "per_class"}``
      (each task's support set is the one :func:`adapted_source` adapts on,
      ``config.support_size`` images); ``per_class`` maps each drawn
      class's name to ``{"tasks", "nll", "accuracy", "frechet",
      "support_ratio"}``, means over its tasks (which classes a method gets
      right, beyond the overall means).
    """
    return evaluate_sources({0: source}, dataset, critic, critic_labels, config, progress)[0]


def evaluate_sources(sources: Mapping[Any, Source], dataset: ClassDataset,
                     critic: keras.Model, critic_labels: np.ndarray,
                     config: GenerationEvalConfig,
                     progress: Callable[[int], None] | None = None) -> dict:
    """:func:`evaluate_source` for several sources on the same tasks, task by task.

    Each task is scored for every source before the next task is drawn, so the
    sources of :func:`adapted_sources` adapt each task once. Returns
    ``{key: row}``, each row what :func:`evaluate_source` returns for that
    source alone.
    """
    critic_labels = np.asarray(critic_labels)
    if len(critic_labels) != dataset.num_classes:
        raise ValueError(f"{len(critic_labels)} critic labels for {dataset.num_classes} classes")
    features_model = critic_features(critic)
    # One forward pass for the logits and the features (two passes cost twice the critic).
    joint = keras.Model(critic.inputs, [critic.outputs[0], features_model.outputs[0]])

    @tf.function(reduce_retracing=True)
    def score(images, label):
        logits, feats = joint(images, training=False)
        nll = -tf.gather(tf.nn.log_softmax(logits), label, axis=1)
        acc = tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), label), tf.float32)
        return tf.reduce_mean(nll), tf.reduce_mean(acc), feats

    @tf.function(reduce_retracing=True)
    def features(images):
        return features_model(images, training=False)

    def chunked(fn, images):
        step = config.chunk
        return [fn(images[i:i + step]) for i in range(0, int(images.shape[0]), step)]

    real_features, real_images = {}, {}
    classes = task_classes(dataset.num_classes, config.tasks, config.seed)
    sizes = np.array([min(config.chunk, config.samples - i)
                      for i in range(0, config.samples, config.chunk)], np.float64)
    scores = {key: ([], [], [], []) for key in sources}   # nll, accuracy, frechet, ratio
    for t, c in enumerate(classes):
        c = int(c)
        label = tf.constant(int(critic_labels[c]), tf.int32)
        if c not in real_features:
            real_features[c] = np.concatenate([f.numpy() for f in chunked(
                features, dataset.class_images(c))])
            real_images[c] = dataset.class_images(c).numpy()
        shots = support_set(dataset, c, t, config.support_size, config.seed).numpy()
        for key, source in sources.items():
            nlls, accs, fds, ratios = scores[key]
            images = source(t, c, config.samples)
            parts = [score(images[i:i + config.chunk], label)
                     for i in range(0, config.samples, config.chunk)]
            nlls.append(float(np.sum([p[0].numpy() for p in parts] * sizes) / sizes.sum()))
            accs.append(float(np.sum([p[1].numpy() for p in parts] * sizes) / sizes.sum()))
            feats = np.concatenate([p[2].numpy() for p in parts])
            fds.append(frechet_distance(feats, real_features[c]))
            ratios.append(support_distance_ratio(images.numpy(), shots, real_images[c]))
        if progress is not None:
            progress(t + 1)
    return {key: _row(scores[key], classes, dataset, config) for key in sources}


def _row(scores, classes, dataset: ClassDataset, config: GenerationEvalConfig) -> dict:
    nlls, accs, fds, ratios = scores
    out = {"tasks": config.tasks, "samples": config.samples, "seed": config.seed,
           "support_size": config.support_size}
    metrics = (("nll", nlls), ("accuracy", accs), ("frechet", fds), ("support_ratio", ratios))
    for name, values in metrics:
        out[name], out[f"{name}_ci95"] = _interval(values)
    out["per_class"] = {}
    for c in sorted(set(int(c) for c in classes)):
        mine = classes == c
        out["per_class"][str(dataset.class_names[c])] = {
            "tasks": int(mine.sum()),
            **{name: float(np.mean(np.asarray(values)[mine])) for name, values in metrics}}
    # Task by task, so two rows of the same tasks can be compared pairwise
    # (tfmeta.eval.table.paired_difference).
    out["per_task"] = {"class": [str(dataset.class_names[int(c)]) for c in classes],
                       "nll": [float(v) for v in nlls], "accuracy": [float(v) for v in accs]}
    return out
