"""GAN losses as small pure functions of discriminator logits / critic values.

Naming follows ``<family>_<player>_loss``:

* minimax (eq. 1 of the MAML-GAN paper, Goodfellow et al. 2014):
  ``D = -log D(x) - log(1 - D(G(z)))``, ``G = log(1 - D(G(z)))`` (saturating);
* non-saturating: same discriminator loss, ``G = -log D(G(z))``;
* Wasserstein (WGAN / WGAN-GP): ``D = E[critic(G(z))] - E[critic(x)]``,
  ``G = -E[critic(G(z))]``, plus ``gradient_penalty`` for the critic.

Inputs are logits (``D(x) = sigmoid(logit)``); every log-sigmoid is written with
``softplus`` so that large logits never produce ``inf``/``nan``. All functions
return scalar means over the batch and are differentiable to any order, so they
can sit inside the inner loop of second-order MAML.

Example:
    >>> real, fake = tf.constant([[2.0]]), tf.constant([[-1.0]])
    >>> d = minimax_discriminator_loss(real, fake)
    >>> g = nonsaturating_generator_loss(fake)
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfmeta.inner import safe_sqrt

TensorLike = tf.types.experimental.TensorLike


def minimax_discriminator_loss(real_logits: TensorLike, fake_logits: TensorLike) -> tf.Tensor:
    """``mean(-log sigmoid(real)) + mean(-log(1 - sigmoid(fake)))``.

    Equals ``mean(softplus(-real)) + mean(softplus(fake))``, the binary
    cross-entropy of real samples labelled 1 and fakes labelled 0.

    Example:
        >>> minimax_discriminator_loss(tf.zeros([4, 1]), tf.zeros([4, 1]))  # 2 log 2
    """
    real_logits = tf.convert_to_tensor(real_logits)
    fake_logits = tf.convert_to_tensor(fake_logits)
    return (tf.reduce_mean(tf.math.softplus(-real_logits))
            + tf.reduce_mean(tf.math.softplus(fake_logits)))


def minimax_generator_loss(fake_logits: TensorLike) -> tf.Tensor:
    """The saturating generator loss ``mean(log(1 - sigmoid(fake)))`` = ``-mean(softplus(fake))``.

    Example:
        >>> minimax_generator_loss(tf.zeros([4, 1]))  # -log 2
    """
    fake_logits = tf.convert_to_tensor(fake_logits)
    return -tf.reduce_mean(tf.math.softplus(fake_logits))


def nonsaturating_discriminator_loss(real_logits: TensorLike,
                                     fake_logits: TensorLike) -> tf.Tensor:
    """Same as ``minimax_discriminator_loss`` (the non-saturating GAN only changes G's loss).

    Example:
        >>> nonsaturating_discriminator_loss(tf.zeros([4, 1]), tf.zeros([4, 1]))
    """
    return minimax_discriminator_loss(real_logits, fake_logits)


def nonsaturating_generator_loss(fake_logits: TensorLike) -> tf.Tensor:
    """``mean(-log sigmoid(fake))`` = ``mean(softplus(-fake))``.

    Example:
        >>> nonsaturating_generator_loss(tf.zeros([4, 1]))  # log 2
    """
    fake_logits = tf.convert_to_tensor(fake_logits)
    return tf.reduce_mean(tf.math.softplus(-fake_logits))


def wasserstein_discriminator_loss(real_out: TensorLike, fake_out: TensorLike) -> tf.Tensor:
    """The critic loss ``mean(fake_out) - mean(real_out)`` (without gradient penalty).

    Example:
        >>> wasserstein_discriminator_loss(tf.ones([4, 1]), tf.zeros([4, 1]))  # -1
    """
    real_out = tf.convert_to_tensor(real_out)
    fake_out = tf.convert_to_tensor(fake_out)
    return tf.reduce_mean(fake_out) - tf.reduce_mean(real_out)


def wasserstein_generator_loss(fake_out: TensorLike) -> tf.Tensor:
    """``-mean(fake_out)``.

    Example:
        >>> wasserstein_generator_loss(tf.ones([4, 1]))  # -1
    """
    fake_out = tf.convert_to_tensor(fake_out)
    return -tf.reduce_mean(fake_out)


def gradient_penalty(critic_fn: Callable[[tf.Tensor], tf.Tensor],
                     real: TensorLike,
                     fake: TensorLike,
                     eps: TensorLike) -> tf.Tensor:
    """WGAN-GP penalty ``mean_i (||d critic(xh_i) / d xh_i||_2 - 1)^2``.

    ``xh = eps * real + (1 - eps) * fake``. The input gradient is taken with a
    nested ``tf.GradientTape`` (not ``tf.gradients``), so the function works in
    eager mode and inside ``tf.function``, and stays differentiable under any
    outer tape: gradients with respect to the critic's parameters (and to the
    generator through ``fake``) include the second-order terms, and second-order
    MAML can differentiate through an inner step that used it (third order).

    The gradient of the summed critic outputs is taken, which is the per-sample
    gradient as long as each output depends only on its own sample (no batch
    statistics). The norm runs over all non-batch axes; at a zero input gradient
    the norm's derivative is taken as 0 so that every gradient stays finite.

    Args:
      critic_fn: maps a batch ``[B, ...]`` to critic values (any shape whose
        entries each depend on one sample), e.g.
        ``lambda x: apply(critic, params, x)``.
      real: real samples ``[B, ...]``.
      fake: generated samples, same shape and dtype as ``real``.
      eps: mixing weights in [0, 1] broadcastable to ``real``, typically
        ``[B, 1, 1, 1]``; same dtype as ``real``.

    Returns:
      The scalar penalty (without its weight, usually 10).

    Raises:
      ValueError: if ``real`` has no batch axis or its rank is unknown.

    Example:
        >>> w = tf.Variable(tf.ones([1, 2, 2, 1]))
        >>> critic = lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])
        >>> gp = gradient_penalty(critic, tf.ones([3, 2, 2, 1]),
        ...                       tf.zeros([3, 2, 2, 1]), tf.fill([3, 1, 1, 1], 0.5))
        >>> # ||w|| = 2, so gp = (2 - 1)^2 = 1.
    """
    real = tf.convert_to_tensor(real)
    fake = tf.convert_to_tensor(fake, dtype_hint=real.dtype)
    eps = tf.convert_to_tensor(eps, dtype_hint=real.dtype)
    rank = real.shape.rank
    if rank is None or rank < 1:
        raise ValueError(
            f"real must have a known rank >= 1 (batch first), got shape {real.shape}")
    mixed = eps * real + (1 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        out = critic_fn(mixed)
    grad = tape.gradient(out, mixed, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    squared_norm = tf.reduce_sum(tf.square(grad), axis=list(range(1, rank)))
    return tf.reduce_mean(tf.square(safe_sqrt(squared_norm) - 1))
