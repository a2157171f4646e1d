"""Few-shot generation quality: paper 000's critic protocol, plus a Frechet distance.

For each of T test tasks drawn with replacement (default 256), a *source* of
images produces ``samples`` images for the task's class (default 4096):

* :func:`adapted_generator_source`: adapt a run's generator (and critic-side
  discriminator) from its initialization for ``adapt_steps`` inner steps (10)
  on a support set of the task's images, then draw samples;
* :func:`real_source`: real images of the class (the "Real" row).

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
  when they are copies of the support -- the check that more adaptation steps
  do not just memorize the shots (NaN when the support is the whole class);

each as a mean over tasks with a 95% interval (1.96 standard errors).

Everything is drawn from stateless seeds: the same inputs and seed give the
same numbers.

Example:
    >>> source = adapted_generator_source(setup, splits.test, support=32, adapt_steps=10)
    >>> row = evaluate_source(source, splits.test, critic, critic_labels, tasks=256)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfmeta.data import ClassDataset
from tfmeta.eval.critic import critic_features

Source = Callable[[int, int, int], tf.Tensor]   # (task_number, class_index, samples) -> images


@dataclasses.dataclass(frozen=True)
class GenerationEvalConfig:
    """The protocol's settings (defaults: paper 000, section 5.1)."""
    tasks: int = 256
    samples: int = 4096
    adapt_steps: int = 10
    support: int = 32
    seed: int = 0
    chunk: int = 512

    def __post_init__(self):
        for name in ("tasks", "samples", "adapt_steps", "support", "chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be an integer >= 1, got {value!r}")


def task_classes(num_classes: int, tasks: int, seed: int) -> np.ndarray:
    """The class of each of ``tasks`` test tasks, drawn uniformly with replacement."""
    draw = tf.random.stateless_uniform([tasks], [seed, 31337], 0, num_classes, tf.int32)
    return draw.numpy()


def support_set(dataset: ClassDataset, class_index: int, task_number: int, size: int,
                seed: int) -> tf.Tensor:
    """``size`` distinct images of a class: the few shots a task adapts on."""
    count = int(dataset.counts[class_index])
    if size > count:
        raise ValueError(f"--support={size} is larger than class {dataset.class_names[class_index]!r}"
                         f" ({count} images); lower --support")
    return dataset.class_batches(class_index, task_number, 1, size, seed=seed + 17)[0]


def step_batches(support: tf.Tensor, steps: int, batch_size: int, seed) -> tf.Tensor:
    """``[steps, batch_size, ...]``: each step a random subset of the support set."""
    n = tf.shape(support)[0]
    batches = []
    for j in range(steps):
        keys = tf.random.stateless_uniform([n], tf.random.experimental.stateless_fold_in(seed, j))
        batches.append(tf.gather(support, tf.math.top_k(keys, batch_size).indices))
    return tf.stack(batches)


def adapted_generator_source(setup, dataset: ClassDataset, *, support: int, adapt_steps: int,
                             seed: int = 0, chunk: int = 512) -> Source:
    """Adapts the run's players on each task's support set, then samples.

    Args:
      setup: a :class:`tfmeta.experiments.maml_gan.Setup` (restored run).
      dataset: the meta-test classes.
      support: images of the task available for adaptation; every inner step
        uses ``setup.config.batch_size`` of them.
      adapt_steps: inner steps (10 in paper 000).
      seed: of supports, batches, latents.
      chunk: samples generated per call.
    """
    from tfmeta.experiments.maml_gan import adapted_params, params_of
    from tfmeta.gan import generate

    batch = setup.config.batch_size
    if batch > support:
        raise ValueError(f"--support={support} is smaller than the run's batch_size={batch}; "
                         "every adaptation step uses batch_size images of the support set")
    init = params_of(setup)

    @tf.function(reduce_retracing=True)
    def adapt_fn(images, task_seed):
        batches = step_batches(images, adapt_steps, batch, task_seed)
        return adapted_params(setup, init, batches, task_seed, adapt_steps)["generator"]

    @tf.function(reduce_retracing=True)
    def sample_fn(g_params, z):
        return generate(setup.generator, g_params, z)

    def source(task_number: int, class_index: int, samples: int) -> tf.Tensor:
        images = support_set(dataset, class_index, task_number, support, seed)
        task_seed = tf.constant([seed, task_number], tf.int32)
        g_params = adapt_fn(images, task_seed)
        out = []
        for start in range(0, samples, chunk):
            n = min(chunk, samples - start)
            z = tf.random.stateless_normal([n, setup.config.latent_dim],
                                           [seed + 1, task_number * 100003 + start])
            out.append(sample_fn(g_params, z))
        return tf.concat(out, axis=0)

    return source


def real_source(dataset: ClassDataset, seed: int = 0) -> Source:
    """Real images of the task's class, drawn with replacement (the "Real" row)."""
    def source(task_number: int, class_index: int, samples: int) -> tf.Tensor:
        images = dataset.class_images(class_index)
        idx = tf.random.stateless_uniform([samples], [seed + 2, task_number], 0,
                                          tf.shape(images)[0], tf.int32)
        return tf.gather(images, idx)
    return source


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
    not in ``support``; NaN if every image of the class is in it.
    """
    # The first reference_size + len(support) images hold the first reference_size outside it.
    candidates = np.asarray(class_images)[:reference_size + len(support)]
    outside = candidates[nearest_distances(candidates, support) > 1e-6]
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
      (each task's support set is the one :func:`adapted_generator_source`
      adapts on, ``config.support`` images); ``per_class`` maps each drawn
      class's name to ``{"tasks", "nll", "accuracy", "frechet",
      "support_ratio"}``, means over its tasks (which classes a method gets
      right, beyond the overall means).
    """
    critic_labels = np.asarray(critic_labels)
    if len(critic_labels) != dataset.num_classes:
        raise ValueError(f"{len(critic_labels)} critic labels for {dataset.num_classes} classes")
    features_model = critic_features(critic)

    @tf.function(reduce_retracing=True)
    def score(images, label):
        logits, feats = critic(images, training=False), features_model(images, training=False)
        nll = -tf.gather(tf.nn.log_softmax(logits), label, axis=1)
        acc = tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), label), tf.float32)
        return tf.reduce_mean(nll), tf.reduce_mean(acc), feats

    @tf.function(reduce_retracing=True)
    def features(images):
        return features_model(images, training=False)

    def chunked(fn, images):
        return [fn(images[i:i + config.chunk]) for i in range(0, int(images.shape[0]), config.chunk)]

    real_features, real_images = {}, {}
    classes = task_classes(dataset.num_classes, config.tasks, config.seed)
    nlls, accs, fds, ratios = [], [], [], []
    for t, c in enumerate(classes):
        c = int(c)
        images = source(t, c, config.samples)
        label = tf.constant(int(critic_labels[c]), tf.int32)
        parts = [score(images[i:i + config.chunk], label)
                 for i in range(0, config.samples, config.chunk)]
        sizes = np.array([min(config.chunk, config.samples - i)
                          for i in range(0, config.samples, config.chunk)], np.float64)
        nlls.append(float(np.sum([p[0].numpy() for p in parts] * sizes) / sizes.sum()))
        accs.append(float(np.sum([p[1].numpy() for p in parts] * sizes) / sizes.sum()))
        feats = np.concatenate([p[2].numpy() for p in parts])
        if c not in real_features:
            real_features[c] = np.concatenate([f.numpy() for f in chunked(
                features, dataset.class_images(c))])
        fds.append(frechet_distance(feats, real_features[c]))
        if c not in real_images:
            real_images[c] = dataset.class_images(c).numpy()
        shots = support_set(dataset, c, t, config.support, config.seed).numpy()
        ratios.append(support_distance_ratio(images.numpy(), shots, real_images[c]))
        if progress is not None:
            progress(t + 1)
    out = {"tasks": config.tasks, "samples": config.samples}
    metrics = (("nll", nlls), ("accuracy", accs), ("frechet", fds), ("support_ratio", ratios))
    for name, values in metrics:
        out[name], out[f"{name}_ci95"] = _interval(values)
    out["per_class"] = {}
    for c in sorted(set(int(c) for c in classes)):
        mine = classes == c
        out["per_class"][str(dataset.class_names[c])] = {
            "tasks": int(mine.sum()),
            **{name: float(np.mean(np.asarray(values)[mine])) for name, values in metrics}}
    return out
