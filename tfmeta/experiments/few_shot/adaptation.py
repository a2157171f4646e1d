"""Adapting a run's classifier to an episode and scoring it: what evaluation and export share.

:func:`adapt` takes ``steps`` inner steps of the run's inner optimizer on the
support set (the same update the learner meta-trained, possibly more steps,
``eval_inner_steps``; HSML from its initialization tailored to the support
set); :func:`classify` gives class probabilities of query
images at given parameters. Both are pure functions of their tensors and run
inside ``tf.function`` (and in an exported SavedModel).

For a metric learner "adapting" is summarizing the support set with the
embedding in inference mode (moving batch-norm averages): :func:`adapt`
returns that summary (a dict: prototypes, support embeddings or class feature
maps, :func:`tfmeta.metric.support_state`) and :func:`classify` scores queries
against it; ``steps`` does not apply.

MeGAN adapts its two players together, as in meta-training: the generator
augments the support set from inner step ``fakes_from`` on (its noise drawn
from ``seed``); the adapted classifier is returned, and its logits are the N
class columns of its N+1 (the "fake" column is not a class a query can take).
:func:`generated` gives the generator's images along the way.

Example:
    >>> params = adapt(setup, support_images, support_labels, steps=3)
    >>> probabilities = classify(setup, params, query_images)     # [Q, N]
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta.algorithms import adapt as adapt_steps
from tfmeta.algorithms.adapt import step_seed
from tfmeta.algorithms.maml import modulate
from tfmeta.classify import PLAYER, logits_of
from tfmeta.experiments.few_shot.build import Setup
from tfmeta.functional import params_of
from tfmeta.megan import GENERATOR
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
    return _trajectory(setup, support_images, support_labels, steps, params, seed)[-1][PLAYER]


def _trajectory(setup: Setup, support_images, support_labels, steps: int, params, seed) -> list:
    start = {PLAYER: initial_params(setup) if params is None else list(params)}
    if setup.modulation is not None:   # HSML: the start tailored to this support set
        start, _ = modulate({PLAYER: setup.modulation}, start, (support_images, support_labels))
    if setup.generator is not None:
        start[GENERATOR] = params_of(setup.generator)
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    return adapt_steps(setup.objective, start, Reused((support_images, support_labels)),
                       setup.inner, steps=steps, seed=seed)


def generated(setup: Setup, support_images: tf.Tensor, support_labels: tf.Tensor, *,
              steps: int, seed=None) -> tf.Tensor:
    """MeGAN: ``[steps, S, H, W, C]``, the generator's images of the support set at each
    inner step of :func:`adapt` (the ones the classifier sees from ``fakes_from`` on)."""
    if setup.generator is None:
        raise ValueError(f"{setup.config.algorithm!r} has no generator (only megan has)")
    seed = tf.zeros([2], tf.int32) if seed is None else seed
    trajectory = _trajectory(setup, support_images, support_labels, steps, None, seed)
    return tf.stack([setup.objective.generate(trajectory[j], support_images, support_labels,
                                              step_seed(seed, 0, j)) for j in range(steps)])


def logits(setup: Setup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` at ``params`` (a metric learner: its support state)."""
    if setup.nets is not None:
        queries = embed(setup.nets, images[None], training=False)
        return query_logits(setup.nets, params, queries)[0]
    out = logits_of(setup.model, params, images)
    return out[:, :setup.config.ways] if setup.generator is not None else out


def classify(setup: Setup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class probabilities ``[Q, N]`` of ``images`` at ``params`` (batch statistics)."""
    return tf.nn.softmax(logits(setup, params, images), axis=-1)
