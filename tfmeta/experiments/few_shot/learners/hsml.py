"""HSML (Yao et al. 2019): MAML from an initialization gated per task by its support set.

On images (the paper's code for image tasks): clusters 4 then 2, sigma 10;
here a gate per output unit (a gate per entry of Conv-4 would take millions of
gate weights) and the support set described by 4x4-pooled pixels and one-hot
labels (:mod:`tfmeta.algorithms.hsml`).

Example:
    >>> setup = get("hsml").build(config, (28, 28, 1))
    >>> setup.modulation.variables      # the meta-learned gates and clusters
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from tfmeta.algorithms.hsml import hsml, hsml_variables
from tfmeta.experiments.few_shot.learners.gradient import build_gradient, gradient_learner
from tfmeta.experiments.few_shot.registry import Config, FewShotSetup, register

HSML_CLUSTERS, HSML_SIGMA, HSML_POOL = (4, 2), 10.0, 4


def describe_episode(ways: int) -> Callable:
    """``(images, labels) -> [n, pixels / 16 + ways]``: HSML's description of each support
    image, its 4x4 average-pooled pixels and its one-hot label."""
    def describe(batch):
        images, labels = batch
        pooled = tf.nn.avg_pool2d(images, HSML_POOL, HSML_POOL, "VALID")
        flat = tf.reshape(pooled, [tf.shape(pooled)[0], -1])
        return tf.concat([flat, tf.one_hot(labels, ways, dtype=flat.dtype)], axis=-1)
    return describe


def build_hsml(config: Config, model: keras.Model, items: dict, dtype: str):
    """HSML's modulation of Conv-4's initialization; its variables are added to ``items``."""
    height, width, channels = (int(s) for s in model.inputs[0].shape[1:])
    features = (height // HSML_POOL) * (width // HSML_POOL) * channels + config.ways
    weights = hsml_variables([v.shape for v in model.trainable_variables], features,
                             clusters=HSML_CLUSTERS, gate="unit", seed=config.seed, dtype=dtype)
    items["hsml"] = weights
    return hsml(weights, describe_episode(config.ways), sigma=HSML_SIGMA)


def build(config: Config, image_shape, *, dtype: str = "float32",
          activation: str = "relu") -> FewShotSetup:
    """Second-order MAML whose initialization HSML modulates per task."""
    return build_gradient(config, image_shape, dtype=dtype, activation=activation,
                          algorithm="maml", modulation=build_hsml)


register(gradient_learner(
    "hsml", "MAML from an initialization gated per task by a task representation and its soft "
    "clusters (Yao et al. 2019)", build, without=("first_order_steps", "adapt"),
    backbones=("conv4",)))
