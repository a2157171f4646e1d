"""Held-out scores of a CMAML / MAML run: accuracy, sparsity reached, and shared private structure.

* :func:`episode_scores` -- per held-out episode (the same episodes for both
  algorithms: one sampler seed), the query accuracy after
  ``eval_inner_steps`` SGD steps on the support set; for CMAML the masks come
  from Algorithm 1 on that support set first, and the kept fraction of the
  prunable private edges is recorded too.
* :func:`sharing` -- the paper's claim that similar tasks share private
  structure: the Jaccard index of the kept prunable edges of two tasks, for
  pairs of *similar* tasks (the same classes in the same label order, drawn
  with disjoint images) and of *dissimilar* tasks (disjoint classes).
* :func:`interval` (:func:`tfmeta.eval.table.interval`) -- mean and normal 95% interval
  ``1.96 std / sqrt(n)``.

Example:
    >>> scores = episode_scores(setup, splits.test, episodes=200)
    >>> interval(scores["accuracy"])
    {'mean': 0.93, 'ci95': 0.012, 'n': 200}
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmeta import functional
from tfmeta.algorithms import adaptation_trajectory, cmaml
from tfmeta.classify import accuracy
from tfmeta.data import ClassDataset, EpisodeSampler
from tfmeta.data.pixels import pixels, storage_device
from tfmeta.data.sampling import sample_without_replacement
from tfmeta.eval.table import interval
from tfmeta.experiments.cmaml.build import PLAYER, CmamlSetup
from tfmeta.types import Reused

EVAL_SEED = 1_000_003
SHARING_SEED = 2_000_003


def _params(setup: CmamlSetup) -> list:
    return [tf.convert_to_tensor(v) for v in setup.variables()]


def adapted_logits(setup: CmamlSetup, support: tuple, query_images, seed, inner_steps: int):
    """``(logits of the query, masks or None)`` after ``inner_steps`` inner steps on
    ``support``."""
    params = _params(setup)
    if setup.modules is None:
        final = adaptation_trajectory(setup.objective, {PLAYER: params}, Reused(support),
                                      setup.inner, inner_steps=inner_steps,
                                      seed=seed)[-1][PLAYER]
        return functional.apply(setup.conv4, final, query_images, training=True), None
    masks = setup.masks_of(params, support)
    final = adaptation_trajectory(setup.objective, {PLAYER: params},
                                  Reused(tuple(support) + (masks,)), setup.inner,
                                  inner_steps=inner_steps, seed=seed)[-1][PLAYER]
    return cmaml.customized_output(setup.modules, final, masks, query_images), masks


def episode_scores(setup: CmamlSetup, dataset: ClassDataset, *, episodes: int,
                   seed: int = EVAL_SEED) -> dict:
    """``{"accuracy": [episodes], "kept": [episodes] (CMAML) or None}``."""
    c = setup.config
    sampler = EpisodeSampler(dataset, ways=c.ways, shots=c.shots, queries=c.queries, seed=seed)

    @tf.function
    def score(index):
        e = sampler(index)
        logits, masks = adapted_logits(setup, (e.support_images, e.support_labels),
                                       e.query_images, e.seed, c.eval_inner_steps)
        kept = cmaml.kept_fraction(masks) if masks is not None else tf.constant(np.nan,
                                                                                 tf.float64)
        return accuracy(logits, e.query_labels), kept

    out = np.array([[float(x) for x in score(tf.constant(i, tf.int64))]
                    for i in range(episodes)])
    return {"accuracy": out[:, 0], "kept": None if setup.modules is None else out[:, 1]}


def check_sharing(config, dataset: ClassDataset) -> None:
    """Raises ValueError unless ``dataset`` can give the sharing pairs."""
    if 2 * config.ways > dataset.num_classes:
        raise ValueError(f"the sharing measurement draws 2 x `ways`={config.ways} disjoint "
                         f"classes but the meta-test split has {dataset.num_classes}")
    if 2 * config.shots > int(np.min(dataset.counts.numpy())):
        raise ValueError(f"the sharing measurement draws 2 x `shots`={config.shots} images per "
                         f"class but a meta-test class has {int(np.min(dataset.counts.numpy()))}")


def sharing(setup: CmamlSetup, dataset: ClassDataset, *, pairs: int,
            seed: int = SHARING_SEED) -> dict:
    """Jaccard index of the masks of similar and of dissimilar task pairs (CMAML only).

    Returns:
      ``{"similar": interval, "dissimilar": interval, "difference": interval}``
      (the difference is per pair index: similar minus dissimilar).
    """
    c = setup.config
    check_sharing(c, dataset)
    n, k = c.ways, c.shots
    images = dataset.images
    labels = tf.repeat(tf.range(n, dtype=tf.int32), k)

    def support(classes, index):        # index [N, K] image slots
        with storage_device(images):
            drawn = pixels(tf.gather_nd(images, tf.stack(
                [tf.broadcast_to(classes[:, None], [n, k]), index], -1)))
        return tf.reshape(drawn, [n * k] + list(dataset.image_shape)), labels

    @tf.function
    def pair(i):
        key = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), i)
        class_key, image_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        noise = tf.random.stateless_uniform([dataset.num_classes], class_key)
        classes = tf.math.top_k(noise, k=2 * n).indices
        a, b = classes[:n], classes[n:]
        counts = tf.gather(dataset.counts, classes)
        slots = sample_without_replacement(image_key, counts, dataset.max_count, 2 * k)
        params = _params(setup)
        m_a = setup.masks_of(params, support(a, slots[:n, :k]))
        m_a2 = setup.masks_of(params, support(a, slots[:n, k:]))   # same classes, other images
        m_b = setup.masks_of(params, support(b, slots[n:, :k]))    # disjoint classes
        return cmaml.mask_jaccard(m_a, m_a2), cmaml.mask_jaccard(m_a, m_b)

    out = np.array([[float(x) for x in pair(tf.constant(i, tf.int64))] for i in range(pairs)])
    return {"similar": interval(out[:, 0]), "dissimilar": interval(out[:, 1]),
            "difference": interval(out[:, 0] - out[:, 1])}
