"""Builds a few-shot classification run from its config: data, and the learner's FewShotSetup.

The run's ``algorithm`` names a registered learner
(:mod:`tfmeta.experiments.few_shot.learners`); :func:`build` seeds Keras and
hands the config to that learner's ``build``, which makes its nets, objective,
inner optimizer, learner and checkpoint (:class:`FewShotSetup`).
:func:`training_sampler` draws ``meta_batch_size`` episodes per step and lets
the learner shape them (Reptile adapts on the queries too; MeGAN's validation
batch carries the support set).

Example:
    >>> splits = load_data(config)
    >>> setup = build(config, splits.train.image_shape)
    >>> setup.learner.train_step(training_sampler(config, splits.train)(0))
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from tfmeta.data import (BENCHMARKS, ClassDatasetSplits, EpisodeSampler, load_benchmark,
                         load_class_dataset, load_folder_dataset)
from tfmeta.data.benchmarks import IMAGE_SIZES
from tfmeta.data.omniglot import load_omniglot
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.config import FewShotConfig
from tfmeta.experiments.few_shot.learners.components import outer_learning_rate
from tfmeta.experiments.few_shot.registry import FewShotSetup
from tfmeta.types import Task

__all__ = ["FOLDER_TRAIN_FRACTION", "FewShotSetup", "build", "image_size", "load_data",
           "outer_learning_rate", "training_sampler"]

FOLDER_TRAIN_FRACTION = 0.7


def image_size(config: FewShotConfig) -> int:
    """The run's square image side: ``image_size``, else its dataset's (84, 32 or 28)."""
    if config.image_size is not None:
        return config.image_size
    return IMAGE_SIZES.get(config.dataset, 28)


def load_data(config: FewShotConfig) -> ClassDatasetSplits:
    """The meta-train / meta-test classes of the run's dataset."""
    size = image_size(config)
    if config.dataset in BENCHMARKS:
        return load_benchmark(config.dataset, config.data_dir, image_size=size)
    if config.dataset == "omniglot":
        return load_omniglot(config.split, image_size=size,
                             data_dir=config.data_dir, download=config.download)
    if config.dataset == "folder":
        dataset = load_folder_dataset(config.folder, image_size=size)
        ids = np.random.default_rng(0).permutation(np.asarray(dataset.class_ids))
        cut = int(round(FOLDER_TRAIN_FRACTION * len(ids)))
        return dataset.split(sorted(int(i) for i in ids[:cut]),
                             sorted(int(i) for i in ids[cut:]))
    return load_class_dataset(config.dataset, data_dir=config.data_dir,
                              download=config.download, image_size=size)


def training_sampler(config: FewShotConfig, dataset) -> Callable[[Any], Task]:
    """``step -> Task`` meta-batch of ``meta_batch_size`` episodes (deterministic in step),
    as the learner trains on them (its spec's ``episodes``)."""
    sampler = EpisodeSampler(dataset, ways=config.training_ways, shots=config.shots,
                             queries=config.training_queries, seed=config.seed,
                             episodes=config.meta_batch_size, augment=config.augment)
    return learners.get(config.algorithm).episodes(config, sampler)


def build(config: FewShotConfig, image_shape, *, dtype: str = "float32",
          activation: str = "relu", classes: int | None = None) -> FewShotSetup:
    """Nets, objective, inner optimizer, learner and checkpoint of a run (its learner's).

    ``classes``: the number of meta-train classes, for a learner whose build
    takes it (``algorithm`` baseline: ``splits.train.num_classes``); ignored by
    the others.
    """
    keras.utils.set_random_seed(config.seed)
    spec = learners.get(config.algorithm)
    extra = {"classes": classes} if spec.classes else {}
    return spec.build(config, image_shape, dtype=dtype, activation=activation, **extra)
