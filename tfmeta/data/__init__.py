"""Task distributions for meta-learning: one class of images is one task.

Load a class-per-task distribution, then sample from it:

* :func:`load_class_dataset` -- a TFDS image classification dataset as
  disjoint meta-train / meta-test classes (:class:`ClassDatasetSplits`);
  built-in splits for ``mnist`` (0-6 / 7-9, train+test merged),
  ``fashion_mnist`` (0-6 / 7-9) and ``omniglot`` (background / evaluation
  characters, inverted to bright ink on dark); any other name with
  ``train_classes`` / ``test_classes``.
* :func:`load_benchmark` -- the few-shot image benchmarks from the files
  users have: ``mini_imagenet``, ``tiered_imagenet``, ``cifar_fs``,
  ``fc100``, ``cub`` (:mod:`tfmeta.data.benchmarks`), their standard
  meta-train / validation / meta-test classes, uint8 in memory.
* :func:`load_folder_dataset` -- a folder with one sub-folder of images per
  class (nested class folders allowed, e.g. Omniglot's Alphabet/character).
* :class:`ClassDataset` -- the classes' images in memory, float32 ``[-1, 1]``
  NHWC, padded ``images [classes, max_count, H, W, C]`` plus ``counts``;
  ``class_images(c)`` and ``class_batches(c, step, num_batches, batch_size)``
  for adapting to and scoring one class; ``select`` / ``split`` by class id.
* :class:`MetaBatchSampler` -- ``sampler(step) -> tfmeta.types.Task`` with
  ``inner [N, k, B, H, W, C]``, ``val [N, max(k, 1), B, H, W, C]``,
  ``seed [N, 2]`` (MAML-GAN meta-batches).
* :class:`EpisodeSampler` -- ``sampler(step) -> Episode``, N-way K-shot
  support/query sets relabelled ``0..N-1``.
* :mod:`tfmeta.data.support` -- ``task_classes``, ``support_set``,
  ``step_batches``: the test tasks, their shots and per-step batches, shared
  by evaluation, figures and exports.
* :mod:`tfmeta.data.batches` -- ``ImageBatchSampler``: plain supervised
  mini-batches of every image, labelled by class index, epoch by epoch
  (the few-shot baseline's pre-training); :mod:`tfmeta.data.augment` augments them
  (``crop``, RFS's ``rfs``), keyed on the seed and step.
* :mod:`tfmeta.data.sampling` -- the stateless keys and draws the samplers
  are made of.

Sampling is deterministic in ``(seed, step)`` and runs inside ``tf.function``.

Example:
    >>> from tfmeta.data import load_class_dataset, MetaBatchSampler, EpisodeSampler
    >>> splits = load_class_dataset("mnist", data_dir="shared/tensorflow_datasets",
    ...                             download=False)
    >>> sampler = MetaBatchSampler(splits.train, tasks=4, inner_steps=10, batch_size=32)
    >>> task = sampler(0)
    >>> episode = EpisodeSampler(splits.test, ways=3, shots=5, queries=10)(0)
"""

from tfmeta.data.batches import ImageBatchSampler
from tfmeta.data.benchmarks import BENCHMARKS, load_benchmark
from tfmeta.data.class_dataset import ClassDataset, ClassDatasetSplits
from tfmeta.data.cifar100 import load_cifar_fs, load_fc100
from tfmeta.data.cub import load_cub
from tfmeta.data.mini_imagenet import load_mini_imagenet, load_tiered_imagenet
from tfmeta.data.folders import load_folder_dataset
from tfmeta.data.omniglot import load_omniglot, rotate_classes
from tfmeta.data.pixels import pixels
from tfmeta.data.samplers import Episode, EpisodeSampler, MetaBatchSampler
from tfmeta.data.support import step_batches, support_set, task_classes
from tfmeta.data.images import preprocess_images
from tfmeta.data.tfds_datasets import clear_cache, load_class_dataset

__all__ = [
    "BENCHMARKS",
    "ClassDataset",
    "ClassDatasetSplits",
    "Episode",
    "EpisodeSampler",
    "ImageBatchSampler",
    "MetaBatchSampler",
    "clear_cache",
    "load_benchmark",
    "load_cifar_fs",
    "load_class_dataset",
    "load_cub",
    "load_fc100",
    "load_folder_dataset",
    "load_mini_imagenet",
    "load_omniglot",
    "load_tiered_imagenet",
    "pixels",
    "preprocess_images",
    "rotate_classes",
    "step_batches",
    "support_set",
    "task_classes",
]
