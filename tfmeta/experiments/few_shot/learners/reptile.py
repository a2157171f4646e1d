"""Reptile: inner SGD on an episode's support and query images, an outer SGD step along
``init - adapted`` of size ``outer_lr`` (:func:`tfmeta.algorithms.reptile_direction`).

Reptile trains on a task's whole training set, so its training episodes put the
queries into the inner steps (:func:`tfmeta.algorithms.whole_episodes`); at
test time it adapts on the support set like MAML.

Example:
    >>> setup = get("reptile").build(config, (28, 28, 1))
"""

from __future__ import annotations

from typing import Callable

import keras

from tfmeta.algorithms import whole_episodes
from tfmeta.experiments.few_shot.learners.common import outer_learning_rate
from tfmeta.experiments.few_shot.learners.gradient import build_gradient, gradient_learner
from tfmeta.experiments.few_shot.registry import Config, Setup, register


def sgd(config: Config) -> Callable[[], keras.optimizers.Optimizer]:
    """Reptile's outer step: SGD at ``outer_lr`` under its schedule."""
    rate = outer_learning_rate(config)
    return lambda: keras.optimizers.SGD(rate)


def build(config: Config, image_shape, *, dtype: str = "float32",
          activation: str = "relu") -> Setup:
    return build_gradient(config, image_shape, dtype=dtype, activation=activation,
                          algorithm="reptile", outer=sgd)


def episodes(config: Config, sampler) -> Callable:
    """Meta-batches whose inner steps see every image of the episode."""
    del config
    return lambda step: whole_episodes(sampler.meta_batch(step))


register(gradient_learner(
    "reptile", "inner SGD on support and query images, outer SGD step of `outer_lr` along "
    "init - adapted", build, episodes=episodes,
    without=("per_step_lr", "per_step_bn", "first_order_steps")))
