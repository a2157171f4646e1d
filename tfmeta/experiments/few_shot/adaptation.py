"""Adapting a run's classifier to an episode and scoring it: what evaluation and export share.

:func:`adapt` and :func:`logits` are the run's learner's own
(:class:`tfmeta.experiments.few_shot.registry.LearnerSpec`). A gradient-based
learner takes ``inner_steps`` inner steps of the run's inner optimizer on the
support set (the same update it meta-trained, possibly more steps,
``eval_inner_steps``; HSML from its initialization tailored to the support
set; MeGAN with its generator augmenting the support set from inner step
``fakes_from`` on, its noise drawn from ``seed``, and logits on the N class
columns of its N+1). A metric learner summarizes the support set with the
embedding in inference mode (moving batch-norm averages) and scores queries
against that summary (a dict: prototypes, support embeddings or class feature
maps); ``inner_steps`` does not apply. :func:`classify` gives class probabilities;
:func:`generated` MeGAN's generated images along an adaptation. All are pure
functions of their tensors and run inside ``tf.function`` (and in an exported
SavedModel).

Example:
    >>> params = adapt(setup, support_images, support_labels, inner_steps=3)
    >>> probabilities = classify(setup, params, query_images)     # [Q, N]
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta import checks
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.figures import generated
from tfmeta.experiments.few_shot.registry import FewShotSetup
from tfmeta.functional import params_of

__all__ = ["adapt", "classify", "generated", "initial_params", "logits"]


def initial_params(setup: FewShotSetup) -> list:
    """The meta-learned initialization as a list of tensors."""
    return params_of(setup.model)


def adapt(setup: FewShotSetup, support_images: tf.Tensor, support_labels: tf.Tensor, *,
          inner_steps: int | None = None, params: list | None = None, seed=None, ways=None,
          steps: int | None = None) -> list | dict:
    """Parameters after ``inner_steps`` inner steps on the support set (from the
    initialization); ``steps`` is its deprecated name.

    Metric learners: the support state of ``ways`` classes (default: the run's).
    """
    inner_steps = checks.renamed_keyword("adapt", "inner_steps", inner_steps, "steps", steps)
    return learners.get(setup.config.algorithm).adapt(
        setup, support_images, support_labels, inner_steps=inner_steps, params=params,
        seed=seed, ways=ways)


def logits(setup: FewShotSetup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class logits ``[Q, N]`` of ``images`` at ``params`` (a metric learner: its support state)."""
    return learners.get(setup.config.algorithm).logits(setup, params, images)


def classify(setup: FewShotSetup, params: list | dict, images: tf.Tensor) -> tf.Tensor:
    """Class probabilities ``[Q, N]`` of ``images`` at ``params`` (batch statistics)."""
    return tf.nn.softmax(logits(setup, params, images), axis=-1)
