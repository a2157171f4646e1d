"""What several learners build alike: the outer learning rate and optimizer, Conv-4, the inner
SGD step, the weights the inner steps adapt.

Example:
    >>> model = conv4_classifier(config, (28, 28, 1), config.ways)
    >>> inner = inner_sgd(config, model.trainable_variables, items)
"""

from __future__ import annotations

from typing import Callable

import keras

from tfmeta import inner as inner_lib
from tfmeta.algorithms import selection
from tfmeta.classify import PLAYER
from tfmeta.experiments.few_shot.registry import Config
from tfmeta.nets import build_conv4
from tfmeta.nets.resnet12 import build_resnet12


def outer_learning_rate(config: Config):
    """``outer_lr`` under the run's schedule (read from the optimizer's own iteration)."""
    if config.outer_lr_schedule == "constant":
        return config.outer_lr
    if config.outer_lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.outer_lr,
                                                      decay_steps=max(config.steps, 1))
    if config.outer_lr_schedule == "step":   # RFS: / 10 after epochs 60 and 80 of 100
        steps, lr = max(config.steps, 1), config.outer_lr
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [0.6 * steps, 0.8 * steps], [lr, lr / 10, lr / 100])
    return keras.optimizers.schedules.PolynomialDecay(config.outer_lr, max(config.steps, 1),
                                                      end_learning_rate=0.0)


def outer_optimizer(config: Config, kind=None) -> keras.optimizers.Optimizer:
    """Adam (or ``kind``) at ``outer_lr`` under its schedule, clipping to `clip_norm` if set."""
    kind = keras.optimizers.Adam if kind is None else kind
    return kind(outer_learning_rate(config), global_clipnorm=config.clip_norm or None)


def adam(config: Config) -> Callable[[], keras.optimizers.Optimizer]:
    """A factory of :func:`outer_optimizer` (one optimizer per player)."""
    return lambda: outer_optimizer(config)


def resnet12_widths(filters: int) -> tuple[int, int, int, int]:
    """ResNet-12's four widths from `filters`: ``(f, 2.5 f, 5 f, 10 f)``, 64-160-320-640 at 64."""
    return filters, int(round(2.5 * filters)), 5 * filters, 10 * filters


def classifier(config: Config, image_shape, outputs: int, *, dtype: str = "float32",
               activation: str = "relu") -> keras.Model:
    """The run's `backbone` with ``outputs`` logits: :func:`conv4_classifier`, or ResNet-12
    normalized with batch statistics (exact derivatives of every order; ``activation``
    "relu" is the papers' leaky ReLU there)."""
    if getattr(config, "backbone", "conv4") == "conv4":
        return conv4_classifier(config, image_shape, outputs, dtype=dtype, activation=activation)
    if config.per_step_bn:
        raise ValueError("`per_step_bn` (MAML++'s per-step normalization) is built for Conv-4, "
                         "not `backbone`=resnet12")
    return build_resnet12(outputs, tuple(image_shape), widths=resnet12_widths(config.filters),
                          norm="batch_stat", dtype=dtype,
                          activation="leaky_relu" if activation == "relu" else activation)


def conv4_classifier(config: Config, image_shape, outputs: int, *, dtype: str = "float32",
                     activation: str = "relu") -> keras.Model:
    """Conv-4 with ``outputs`` logits (MAML++'s per-step batch norm rows with `per_step_bn`)."""
    return build_conv4(outputs, tuple(image_shape), filters=config.filters,
                       pooling=config.pooling, activation=activation, dtype=dtype,
                       per_step_rows=config.inner_steps + 1 if config.per_step_bn else 0)


def inner_sgd(config: Config, variables: list, items: dict, dtype: str = "float32"):
    """SGD at ``inner_lr``, or MAML++'s learned rate per tensor and step (`per_step_lr`; its
    rates are added to the checkpoint ``items``)."""
    if config.per_step_lr:
        rates = inner_lib.per_step_learning_rates(len(variables), config.inner_steps,
                                                  config.inner_lr, name="inner_lr",
                                                  dtype=dtype)
        items["inner_learning_rates"] = rates
        return inner_lib.per_step(rates)
    return inner_lib.sgd(config.inner_lr)


def adapt_only(config: Config, model: keras.Model) -> dict | None:
    """What the inner steps adapt: ``{"model": Conv-4's head indices}`` with `adapt`=head (ANIL),
    else None (every weight). Training, evaluation and export all read it here."""
    if getattr(config, "adapt", "all") == "all":
        return None
    return selection.head_only(model, PLAYER)


def adapted_variables(config: Config, model: keras.Model) -> list:
    """The trainable variables the inner steps adapt (their inner rates are made for these)."""
    return selection.adapted_variables(model.trainable_variables, adapt_only(config, model),
                                       PLAYER)
