"""Reptile: an inner loop on an episode's support and query images, an outer SGD step along
``init - adapted`` of size ``outer_lr`` (:func:`tfmeta.algorithms.reptile_direction`).

Reptile trains on a task's whole training set, so its training episodes put the
queries into the inner steps (:func:`tfmeta.algorithms.whole_episodes`), with
`train_shots` images per class, dealt out `inner_batch` at a time
(:func:`tfmeta.algorithms.mini_batches`); at test time it adapts on the
support set like MAML. The inner optimizer (`inner_optimizer`) is SGD or the
paper's Adam with beta1 = 0, its moments fresh for every task (`adam`) or
carried as the reference code does (`adam_carried`: they run on from task to
task in training, here as the mean over a meta-batch's tasks, and every test
adaptation starts from them).

Example:
    >>> setup = get("reptile").build(config, (28, 28, 1))
"""

from __future__ import annotations

from typing import Callable

import keras

from tfmeta import inner as inner_lib
from tfmeta.algorithms import mini_batches, whole_episodes
from tfmeta.data import EpisodeSampler
from tfmeta.experiments.few_shot.fields import InnerLoopFields, ReptileFields
from tfmeta.experiments.few_shot.learners.components import outer_optimizer
from tfmeta.experiments.few_shot.learners.gradient import build_gradient, gradient_learner
from tfmeta.experiments.few_shot.registry import Config, FewShotSetup, register


def sgd(config: Config) -> Callable[[], keras.optimizers.Optimizer]:
    """Reptile's outer step: SGD at ``outer_lr`` under its schedule."""
    return lambda: outer_optimizer(config, keras.optimizers.SGD)


def inner_optimizer(config: Config, variables: list, items: dict, dtype: str = "float32"):
    """SGD at ``inner_lr``, or Adam with beta1 = 0 and epsilon 1e-8 (``tf.train.AdamOptimizer(
    beta1=0)``, the reference's) at ``inner_lr``."""
    del variables, items, dtype
    if config.inner_optimizer in ("adam", "adam_carried"):
        return inner_lib.adam(config.inner_lr, beta_1=0.0, epsilon=1e-8)
    return inner_lib.sgd(config.inner_lr)


def build(config: Config, image_shape, *, dtype: str = "float32",
          activation: str = "relu") -> FewShotSetup:
    return build_gradient(config, image_shape, dtype=dtype, activation=activation,
                          algorithm="reptile", inner=inner_optimizer, outer=sgd,
                          carry_inner_state=config.inner_optimizer == "adam_carried")


def episodes(config: Config, sampler: EpisodeSampler) -> Callable:
    """Meta-batches whose inner steps see every image of the episode (`train_shots` per class,
    `inner_batch` at a time)."""
    if config.train_shots:
        sampler = EpisodeSampler(sampler.dataset, ways=sampler.ways, shots=config.shots,
                                 queries=config.train_shots - config.shots, seed=config.seed,
                                 episodes=sampler.episodes, augment=sampler.augment)
    if not config.inner_batch:
        return lambda step: whole_episodes(sampler.meta_batch(step))
    return lambda step: mini_batches(whole_episodes(sampler.meta_batch(step)),
                                     batch=config.inner_batch, steps=config.inner_steps)


register(gradient_learner(
    "reptile", "an inner loop (`inner_optimizer`) on support and query images, outer SGD step "
    "of `outer_lr` along init - adapted", build, episodes=episodes,
    blocks=(InnerLoopFields, ReptileFields),
    without=("per_step_lr", "per_step_bn", "first_order_steps", "adapt")))
