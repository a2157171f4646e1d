"""Builds an HSML (or MAML) regression run: regressor, modulation, learner, checkpoint.

Example:
    >>> setup = build(HSMLConfig(algorithm="hsml"))
    >>> setup.learner.train_step(training_tasks(setup.config)(0))
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import keras
import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.algorithms.hsml import hsml, hsml_variables
from tfmeta.data.functions import FunctionTasks
from tfmeta.experiments.hsml.config import HSMLConfig
from tfmeta.experiments.sinusoid.run import mse_objective
from tfmeta.types import Task, TaskModulation

PLAYER = "model"
EVAL_SEED_OFFSET = 10_000


class HSMLSetup(NamedTuple):
    """Everything a run is made of (``modulation`` and ``weights`` are None for MAML)."""
    config: HSMLConfig
    model: keras.Model
    objective: Callable
    inner: Any
    learner: MetaLearner
    checkpoint: tf.train.Checkpoint
    modulation: TaskModulation | None
    weights: dict | None


def describe_regression(batch) -> tf.Tensor:
    """``F(x, y)`` of each support point: ``[n, 2]``, its ``x`` and ``y``."""
    x, y = batch
    return tf.concat([x, y], axis=-1)


def build_regressor(config: HSMLConfig, dtype: str = "float32") -> keras.Model:
    """1 -> hidden -> 1 with the run's activation."""
    layers = [keras.Input((1,), dtype=dtype)]
    layers += [keras.layers.Dense(h, activation=config.activation, dtype=dtype)
               for h in config.hidden]
    layers.append(keras.layers.Dense(1, dtype=dtype))
    return keras.Sequential(layers, name="regressor")


def build(config: HSMLConfig, dtype: str = "float32") -> HSMLSetup:
    """The regressor, its SGD inner optimizer, HSML's modulation (if any), the learner
    (Adam, gradients clipped to ``clip``) and the checkpoint."""
    keras.utils.set_random_seed(config.seed)
    model = build_regressor(config, dtype)
    objective = mse_objective(model)
    inner = inner_lib.sgd(config.inner_lr)
    items: dict[str, Any] = {"model": model}
    modulation = weights = None
    if config.algorithm == "hsml":
        weights = hsml_variables([v.shape for v in model.trainable_variables], input_dim=2,
                                 hidden=config.task_hidden,
                                 encoder_hidden=config.encoder_hidden,
                                 clusters=config.clusters, gate=config.gate, seed=config.seed,
                                 dtype=dtype)
        modulation = hsml(weights, describe_regression, sigma=config.sigma,
                          reconstruction_weight=config.reconstruction_weight,
                          activation=config.activation)
        items["hsml"] = weights
    clip = {"clipvalue": config.clip} if config.clip > 0 else {}
    learner = MetaLearner({PLAYER: model.trainable_variables}, objective, inner,
                          outer=lambda: keras.optimizers.Adam(config.outer_lr, **clip),
                          algorithm="fomaml" if config.first_order else "maml",
                          inner_steps=config.inner_steps, step_weights="final",
                          jit_compile=config.jit_compile,
                          modulation={PLAYER: modulation} if modulation else None)
    items.update(step=learner.step, optimizer=learner.outer[PLAYER])
    return HSMLSetup(config, model, objective, inner, learner, tf.train.Checkpoint(**items),
                 modulation, weights)


def training_tasks(config: HSMLConfig) -> Callable[[Any], Task]:
    """``step -> Task``: the meta-batch of ``step`` (deterministic in step)."""
    tasks = FunctionTasks(config.shots, query=config.query, seed=config.seed)
    return tf.function(lambda step: tasks.meta_batch(step, config.meta_batch_size,
                                                     config.inner_steps))


def held_out_tasks(config: HSMLConfig, count: int) -> tuple[Task, tf.Tensor]:
    """The first ``count`` held-out tasks (the same for every run of a seed) and their
    families: ``Task`` with one step of support and ``eval_query`` query points."""
    tasks = FunctionTasks(config.shots, query=config.eval_query,
                          seed=config.seed + EVAL_SEED_OFFSET)
    return tasks.meta_batch(0, count, 1), tasks.curves(0, count).family
