"""Adapting a run's classifier to an episode and scoring it: what evaluation and export share.

:func:`adapt` takes ``steps`` inner steps of the run's inner optimizer on the
support set (the same update the learner meta-trained, possibly more steps,
``eval_inner_steps``); :func:`classify` gives class probabilities of query
images at given parameters. Both are pure functions of their tensors and run
inside ``tf.function`` (and in an exported SavedModel).

For a metric learner "adapting" is summarizing the support set with the
embedding in inference mode (moving batch-norm averages): :func:`adapt`
returns that summary (a dict: prototypes, support embeddings or class feature
maps, :func:`tfmeta.metric.support_state`) and :func:`classify` scores queries
against it; ``steps`` does not apply.

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
from tfmeta.metric import embed, query_logits, support_state
from tfmeta.types import Reused


def initial_params(setup: Setup) -> list:
    """The meta-learned initialization as a list of tensors."""
    return params_of(setup.model)


def adapt(setup: Setup, support_images: tf.Tensor, support_labels: tf.Tensor, *,
          steps: int, params: list | None = None, seed=None, ways=None) -> list | dict:
    """Parameters after ``steps`` inner steps on the support set (from the initialization).

    Metric learners: the support state of ``ways`` classes (default: the run's).
    """
    if setup.nets is not None:
        ways = setup.config.ways if ways is None else ways
        embeddings = embed(setup.nets, support_images[None], training=False)
        return support_state(setup.nets, embeddings, support_labels[None], ways)
    start = initial_params(setup) if params is None else list(params)
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    trajectory = adapt_steps(setup.objective, {PLAYER: start},
                             Reused((support_images, support_labels)), setup.inner,
                             steps=steps, seed=seed)
    return trajectory[-1][PLAYER]


def logits(setup: Setup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` at ``params`` (a metric learner: its support state)."""
    if setup.nets is not None:
        queries = embed(setup.nets, images[None], training=False)
        return query_logits(setup.nets, params, queries)[0]
    return logits_of(setup.model, params, images)


def classify(setup: Setup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class probabilities ``[Q, N]`` of ``images`` at ``params`` (batch statistics)."""
    return tf.nn.softmax(logits(setup, params, images), axis=-1)
