"""Adapting a run's classifier to an episode and scoring it: what evaluation and export share.

:func:`adapt` takes ``steps`` inner steps of the run's inner optimizer on the
support set (the same update the learner meta-trained, possibly more steps,
``eval_inner_steps``); :func:`classify` gives class probabilities of query
images at given parameters. Both are pure functions of their tensors and run
inside ``tf.function`` (and in an exported SavedModel).

Example:
    >>> params = adapt(setup, support_images, support_labels, steps=3)
    >>> probabilities = classify(setup, params, query_images)     # [Q, N]
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta.algorithms import adapt as adapt_steps
from tfmeta.classify import PLAYER, logits_of
from tfmeta.experiments.few_shot.build import Setup
from tfmeta.functional import params_of
from tfmeta.types import Reused


def initial_params(setup: Setup) -> list:
    """The meta-learned initialization as a list of tensors."""
    return params_of(setup.model)


def adapt(setup: Setup, support_images: tf.Tensor, support_labels: tf.Tensor, *,
          steps: int, params: list | None = None, seed=None) -> list:
    """Parameters after ``steps`` inner steps on the support set (from the initialization)."""
    start = initial_params(setup) if params is None else list(params)
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    trajectory = adapt_steps(setup.objective, {PLAYER: start},
                             Reused((support_images, support_labels)), setup.inner,
                             steps=steps, seed=seed)
    return trajectory[-1][PLAYER]


def classify(setup: Setup, params: list, images: tf.Tensor) -> tf.Tensor:
    """Class probabilities ``[Q, N]`` of ``images`` at ``params`` (batch statistics)."""
    return tf.nn.softmax(logits_of(setup.model, params, images), axis=-1)
