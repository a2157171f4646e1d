"""MeGAN's N+1 objective (paper 001, section 3.3): one classifier-discriminator, one generator.

Two players, adapted together by the one inner loop
(:func:`tfmeta.algorithms.adaptation_trajectory`) and meta-trained by MAML like every other:

* ``"model"``: a classifier with N+1 outputs, the N classes of the episode and
  "fake" (the last). Its inner loss on the support set is the weighted mean
  cross-entropy of the real support images (their labels) and of one
  generated image per support image (label N), real images weighing
  ``real_weight`` (3) against the fakes' ``fake_weight`` (1); the fakes enter
  only from inner step ``fakes_from`` on (2: the third of five steps), before
  it the loss is MAML's, the real images' cross-entropy.
* ``"generator"``: conditioned on the support image it augments (or its
  label, or its class prototype: :mod:`tfmeta.nets.megan`). Its inner loss
  is the non-saturating GAN loss of the N+1 classifier: ``-log(1 - p_fake)``
  of its images, at every inner step.

Both see the same pre-update parameters at a step (the engine's rule). Each
forward pass of the classifier normalizes with its own batch statistics:
the real images and the fakes are two batches (as DCGAN feeds a
discriminator), so before ``fakes_from`` the classifier's loss is exactly
MAML's.

The validation batch of a task is ``(query_images, query_labels,
support_images, support_labels)`` (an inner batch has two entries): the
outer losses (paper 001, Figure 6):

* ``"real"`` (the paper's best): both players' meta-loss is the adapted
  classifier's cross-entropy on the real query images; it reaches the
  generator's initialization through the classifier's inner steps that saw
  its images (second order only);
* ``"fakes"``: that loss plus the adapted generator's images of the support
  set labelled fake, weighted as in the inner loss, for both players;
* ``"hybrid"``: the classifier's as ``"real"``; the generator's is its GAN
  loss against the adapted classifier (how well its adapted images fool it).

Example:
    >>> objective = megan_objective(build_conv4(6), build_conditional_generator(ways=5),
    ...                             ways=5)
    >>> learner = MetaLearner({"model": c.trainable_variables,
    ...                        "generator": g.trainable_variables}, objective,
    ...                       {"model": sgd(0.4), "generator": sgd(0.4)}, outer, steps=5)
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfmeta import checks, functional
from tfmeta.classify import PLAYER, cross_entropy, logits_of

GENERATOR = "generator"
OUTER_LOSSES = ("real", "fakes", "hybrid")


def n_plus_one_loss(real_logits: tf.Tensor, labels: tf.Tensor, fake_logits: tf.Tensor, *,
                    real_weight: Any = 3.0, fake_weight: Any = 1.0) -> tf.Tensor:
    """Weighted mean cross-entropy of real images (their labels) and fakes (the last class).

    ``sum(real_weight * ce_real) + sum(fake_weight * ce_fake)`` over
    ``real_weight * R + fake_weight * F`` (R real rows, F fake rows), so with
    ``fake_weight = 0`` it is the real images' mean cross-entropy.

    Args:
      real_logits: ``[R, N + 1]``.
      labels: ``[R]`` ints in ``0..N-1``.
      fake_logits: ``[F, N + 1]``.
      real_weight, fake_weight: non-negative scalars (tensors allowed).
    """
    fake_class = tf.shape(fake_logits)[-1] - 1
    ce_real = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(labels, tf.int32),
                                                             real_logits)
    ce_fake = tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.fill(tf.shape(fake_logits)[:1], fake_class), fake_logits)
    dtype = ce_real.dtype
    real_weight, fake_weight = tf.cast(real_weight, dtype), tf.cast(fake_weight, dtype)
    total = real_weight * tf.reduce_sum(ce_real) + fake_weight * tf.reduce_sum(ce_fake)
    mass = (real_weight * tf.cast(tf.size(ce_real), dtype)
            + fake_weight * tf.cast(tf.size(ce_fake), dtype))
    return total / mass


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating loss of the N+1 classifier: mean ``-log(1 - p_fake)`` of the fakes.

    ``1 - p_fake`` is the probability mass of the N real classes, so the loss is
    ``logsumexp(all logits) - logsumexp(the N real logits)``.
    """
    return tf.reduce_mean(tf.reduce_logsumexp(fake_logits, axis=-1)
                          - tf.reduce_logsumexp(fake_logits[:, :-1], axis=-1))


def _fake_weight(step: Any, fakes_from: int, fake_weight: float) -> Any:
    """``fake_weight`` from inner step ``fakes_from`` on, else 0 (``step`` an int or tensor)."""
    if step is None:
        return fake_weight
    if isinstance(step, int):
        return fake_weight if step >= fakes_from else 0.0
    return tf.where(tf.cast(step, tf.int32) >= fakes_from, fake_weight, 0.0)


def megan_objective(classifier: keras.Model, generator: keras.Model, *, ways: int,
                    real_weight: float = 3.0, fake_weight: float = 1.0, fakes_from: int = 2,
                    outer_loss: str = "real"):
    """``(params, batch, seed, step=) -> {"model": loss, "generator": loss}`` (module docstring).

    Args:
      classifier: a built classifier with ``ways + 1`` outputs (e.g. Conv-4).
      generator: :func:`tfmeta.nets.megan.build_conditional_generator` of ``ways``.
      ways: N.
      real_weight, fake_weight: the inner loss's weights (paper: 3 and 1).
      fakes_from: the first inner step (0-based) whose classifier loss has fakes.
      outer_loss: ``"real"``, ``"fakes"`` or ``"hybrid"``.

    The returned function has ``generate(params, images, labels, seed)`` (the
    generator's images for a support set at ``params``), ``model``,
    ``generator`` and ``takes_step = True``.
    """
    for name, model in (("classifier", classifier), ("generator", generator)):
        if not isinstance(model, keras.Model) or not model.built:
            raise ValueError(f"{name} must be a built keras.Model, got {model!r}")
    checks.count("ways", ways, minimum=2)
    outputs = int(classifier.output_shape[-1])
    if outputs != ways + 1:
        raise ValueError(f"the N+1 classifier of a {ways}-way MeGAN needs {ways + 1} outputs "
                         f"(the classes and 'fake'), got {outputs}")
    checks.positive("real_weight", real_weight)
    checks.positive("fake_weight", fake_weight)
    checks.count("fakes_from", fakes_from, minimum=0)
    checks.one_of("outer_loss", outer_loss, OUTER_LOSSES)
    images_in, one_hot_in, noise_in = generator.inputs
    noise_dim = int(noise_in.shape[-1])

    def generate(params, images, labels, seed):
        images = tf.cast(images, images_in.dtype)
        noise = tf.random.stateless_normal([tf.shape(images)[0], noise_dim],
                                           tf.cast(seed, tf.int32), dtype=noise_in.dtype)
        one_hot = tf.one_hot(tf.cast(labels, tf.int32), ways, dtype=one_hot_in.dtype)
        params = params[GENERATOR] if isinstance(params, dict) else params
        return functional.apply(generator, params, [images, one_hot, noise], training=True)

    def objective(params, batch, seed, step=None):
        model = params[PLAYER]
        if len(batch) == 2:   # an inner step on the support set
            images, labels = batch
            fake_logits = logits_of(classifier, model, generate(params, images, labels, seed),
                                    step)
            real_logits = logits_of(classifier, model, images, step)
            return {PLAYER: n_plus_one_loss(
                        real_logits, labels, fake_logits, real_weight=real_weight,
                        fake_weight=_fake_weight(step, fakes_from, fake_weight)),
                    GENERATOR: generator_loss(fake_logits)}
        query_images, query_labels, support_images, support_labels = batch
        query_logits = logits_of(classifier, model, query_images, step)
        real = cross_entropy(query_logits, query_labels)
        if outer_loss == "real":
            return {PLAYER: real, GENERATOR: real}
        fake_logits = logits_of(classifier, model,
                                generate(params, support_images, support_labels, seed), step)
        if outer_loss == "hybrid":
            return {PLAYER: real, GENERATOR: generator_loss(fake_logits)}
        loss = n_plus_one_loss(query_logits, query_labels, fake_logits,
                               real_weight=real_weight, fake_weight=fake_weight)
        return {PLAYER: loss, GENERATOR: loss}

    objective.generate = generate
    objective.model = classifier
    objective.generator = generator
    objective.takes_step = True
    objective.player = PLAYER
    return objective
