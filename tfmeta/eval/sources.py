"""Sources of images for the generation protocol: adapted models and real images.

A *source* is ``source(task_number, class_index, samples) -> images`` in
``[-1, 1]``; :mod:`tfmeta.eval.generation` scores it.

* :func:`adapted_source`: adapt a model on the task's support set, then sample;
* :func:`adapted_sources`: the same at several points of one adaptation;
* :func:`served_source`: an exported model's own in-graph adaptation (its
  ``adapt_and_generate_from_z`` signature), as a served request runs it;
* :func:`real_source`: real images of the task's class (the "Real" row).

Example:
    >>> source = adapted_source(adapt_fn, sample_fn, splits.test, support_size=32,
    ...                         latent_dim=100)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from tfmeta import checks
from tfmeta.data import ClassDataset
from tfmeta.data.support import support_set

Source = Callable[[int, int, int], tf.Tensor]   # (task_number, class_index, samples) -> images
AdaptFn = Callable[[tf.Tensor, tf.Tensor], Any]  # (support_images, task_seed) -> params
SampleFn = Callable[[Any, tf.Tensor], tf.Tensor]  # (params, z) -> images


def adapted_source(adapt_fn: AdaptFn, sample_fn: SampleFn, dataset: ClassDataset, *,
                   support_size: int, latent_dim: int, seed: int = 0,
                   chunk: int = 512) -> Source:
    """A source that adapts a model on each task's support set, then samples from it.

    For task ``t`` of class ``c``: the support set is
    ``tfmeta.data.support_set(dataset, c, t, support_size, seed)``, the task's
    seed ``[seed, t]`` (int32), and latents are drawn chunk by chunk from
    ``stateless_normal([n, latent_dim], [seed + 1, t * 100003 + start])``.

    Args:
      adapt_fn: ``adapt_fn(support_images, task_seed) -> params``, e.g. a
        ``tf.function`` running an experiment's inner loop on per-step batches
        of the support set (:func:`tfmeta.data.step_batches`).
      sample_fn: ``sample_fn(params, z) -> images`` in ``[-1, 1]``.
      dataset: the meta-test classes.
      support_size: images of the task available for adaptation.
      latent_dim: size of a latent vector ``z``.
      seed: of supports, adaptation and latents.
      chunk: samples generated per ``sample_fn`` call.

    Returns:
      ``source(task_number, class_index, samples) -> images``.

    Example:
        >>> source = adapted_source(adapt_fn, sample_fn, splits.test, support_size=32,
        ...                         latent_dim=100)
        >>> images = source(0, 2, 64)       # 64 samples after adapting to class index 2
    """
    sources = adapted_sources(lambda images, task_seed: [adapt_fn(images, task_seed)],
                              sample_fn, dataset, marks=(0,), support_size=support_size,
                              latent_dim=latent_dim, seed=seed, chunk=chunk)
    return sources[0]


def adapted_sources(adapt_fn: Callable[[tf.Tensor, tf.Tensor], Sequence[Any]],
                    sample_fn: SampleFn, dataset: ClassDataset, *, marks: Sequence,
                    support_size: int, latent_dim: int, seed: int = 0,
                    chunk: int = 512) -> dict[Any, Source]:
    """One source per point of one adaptation, each task adapted once.

    :func:`adapted_source` for several points of the same adaptation (for
    example after 1, 5, 10, 40 and 80 inner steps): ``adapt_fn(support_images,
    task_seed)`` returns one set of parameters per entry of ``marks``, and
    source ``marks[i]`` samples from the ``i``-th. The sources share the last
    task's adaptation, so score them task by task (:func:`evaluate_sources`)
    to adapt each task once; the support set, task seed and latents are
    :func:`adapted_source`'s, so every source draws what
    :func:`adapted_source` would with the matching ``adapt_fn``.

    Returns:
      ``{mark: source}``.
    """
    checks.count("support_size", support_size)
    checks.count("latent_dim", latent_dim)
    checks.count("chunk", chunk)
    marks = tuple(marks)
    if not marks or len(set(marks)) != len(marks):
        raise ValueError(f"`marks`={marks} must be distinct and not empty")
    last = {}

    def adapted(task_number: int, class_index: int):
        key = (task_number, class_index)
        if last.get("key") != key:
            images = support_set(dataset, class_index, task_number, support_size, seed)
            params = list(adapt_fn(images, tf.constant([seed, task_number], tf.int32)))
            if len(params) != len(marks):
                raise ValueError(f"adapt_fn returned {len(params)} sets of parameters for "
                                 f"{len(marks)} marks {marks}")
            last.update(key=key, params=params)
        return last["params"]

    def source_of(index: int) -> Source:
        def source(task_number: int, class_index: int, samples: int) -> tf.Tensor:
            params = adapted(task_number, class_index)[index]
            out = []
            for start in range(0, samples, chunk):
                n = min(chunk, samples - start)
                z = tf.random.stateless_normal([n, latent_dim],
                                               [seed + 1, task_number * 100003 + start])
                out.append(sample_fn(params, z))
            return tf.concat(out, axis=0)
        return source

    return {mark: source_of(i) for i, mark in enumerate(marks)}


def served_source(adapt_and_generate_from_z: Callable[..., Any], dataset: ClassDataset, *,
                  support_size: int, latent_dim: int, seed: int = 0,
                  chunk: int = 512) -> Source:
    """A source that asks an exported model to adapt and generate, as a served request would.

    ``adapt_and_generate_from_z(support_images=, z=, seed=)`` is the signature
    of a SavedModel of ``export.saved_model`` (``tf.saved_model.load(path)
    .signatures["adapt_and_generate_from_z"]`` or the loaded object's method),
    returning the images (or ``{"images": ...}``). Task ``t`` of class ``c``
    sends :func:`adapted_source`'s support set and latents, with request seed
    ``(seed * 100003 + t) mod 2**31``; every chunk sends the same support and seed, so the
    served adaptation (deterministic in them) is the same for all its chunks.
    The steps are the export's, fixed in its graph; ``chunk`` must not exceed
    its ``max_samples``.
    """
    checks.count("support_size", support_size)
    checks.count("latent_dim", latent_dim)
    checks.count("chunk", chunk)

    def source(task_number: int, class_index: int, samples: int) -> tf.Tensor:
        images = support_set(dataset, class_index, task_number, support_size, seed)
        request_seed = tf.constant((seed * 100003 + task_number) % 2**31, tf.int32)
        out = []
        for start in range(0, samples, chunk):
            n = min(chunk, samples - start)
            z = tf.random.stateless_normal([n, latent_dim],
                                           [seed + 1, task_number * 100003 + start])
            result = adapt_and_generate_from_z(support_images=images, z=z, seed=request_seed)
            out.append(result["images"] if isinstance(result, dict) else result)
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
