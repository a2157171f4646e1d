"""The two-player GAN objective in the engine's contract (see ``tfmeta.types``).

``gan_objective(generator, discriminator, loss=...)`` returns a pure function::

    losses = objective(params, batch, seed)   # {"generator": g, "discriminator": d}

computed exactly as the reference (``../shared/peers/torch_mamlgan.py``):

1. ``z = sample_latents(seed, B, latent_dim)``, ``z ~ N(0, 1)``;
2. ``fake = G(z)`` at ``params["generator"]``;
3. ``real_out = D(batch)``, ``fake_out = D(fake)`` at ``params["discriminator"]``;
4. the chosen family's losses; for ``"wgan-gp"`` the discriminator loss adds
   ``gp_weight * gradient_penalty`` with mixing weights
   ``eps = stateless_uniform([B, 1, 1, 1], seed=stateless_fold_in(seed, 1))``.

The same ``z`` and ``fake`` feed both players' losses, and by default there are
no stop-gradients: the discriminator loss depends on the generator's parameters
through ``fake`` and vice versa. The engine differentiates each player's loss
with respect to that player's parameters only. With ``detach_fakes=True`` the
discriminator's loss takes ``stop_gradient(fake)`` (PyTorch GAN code's
``fake.detach()``): the same values and inner gradients, but a second-order
meta-gradient then has no cross-player terms (the discriminator's adaptation no
longer depends on the generator's parameters). With ``spectral_norm=True`` the
discriminator runs at its spectrally normalized parameters
(:mod:`tfmeta.gan.spectral`). Every random draw is a function of ``seed``, so
equal seeds give equal losses.

Latents take the dtype of the generator's parameters and the mixing weights the
dtype of the images, so the objective runs in float32 or float64 (build the
models with ``dtype="float64"`` for the latter).

Example:
    >>> g, d = build_generator(), build_discriminator()
    >>> objective = gan_objective(g, d, loss="wgan-gp")
    >>> params = {"generator": params_of(g), "discriminator": params_of(d)}
    >>> images = tf.random.uniform([8, 28, 28, 1], -1.0, 1.0)
    >>> losses = objective(params, images, tf.constant([0, 1], tf.int32))
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import keras
import tensorflow as tf

from tfmeta import functional
from tfmeta.gan import losses as gan_losses
from tfmeta.gan import spectral
from tfmeta.types import Objective, Params

LOSSES = ("wgan-gp", "minimax", "non-saturating")
INNER_ORDERS = ("simultaneous", "discriminator_first")
PLAYERS = ("generator", "discriminator")

# stateless_fold_in data that derives the gradient-penalty seed from the objective's seed.
_GP_SEED_TAG = 1


def sample_latents(seed: tf.Tensor, n: Any, latent_dim: int,
                   dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Draws ``z ~ N(0, 1)`` of shape ``[n, latent_dim]``, a pure function of ``seed``.

    Args:
      seed: int32 ``[2]`` seed of ``tf.random.stateless_normal``.
      n: number of latents (int or scalar int tensor).
      latent_dim: size of each latent.
      dtype: floating dtype of the result.

    Returns:
      A ``[n, latent_dim]`` tensor; the objective uses exactly these latents for
      the same seed and batch size.

    Example:
        >>> z = sample_latents(tf.constant([1, 2]), 4, 100)   # [4, 100]
    """
    return tf.random.stateless_normal([n, latent_dim], seed=seed, dtype=dtype)


def generate(generator: keras.Model, params: list, z: tf.Tensor,
             training: bool = False) -> tf.Tensor:
    """Runs the generator at ``params`` (tensors in its trainable-variables order).

    Example:
        >>> g = build_generator()
        >>> images = generate(g, params_of(g), sample_latents(tf.constant([0, 0]), 2, 100))
    """
    return functional.apply(generator, params, z, training=training)


def _mixing_weights(seed: tf.Tensor, n: Any, rank: int, dtype: tf.DType) -> tf.Tensor:
    """``eps ~ U[0, 1]``, one per sample, shaped ``[n, 1, ..., 1]`` to broadcast over images."""
    gp_seed = tf.random.experimental.stateless_fold_in(seed, _GP_SEED_TAG)
    return tf.random.stateless_uniform([n] + [1] * (rank - 1), seed=gp_seed, dtype=dtype)


def _check_players(params: Mapping[str, Any]) -> None:
    missing = [p for p in PLAYERS if p not in params]
    if missing:
        raise ValueError(
            f"params must have the players {list(PLAYERS)}, missing {missing} "
            f"(got keys {sorted(params)})")


def gan_objective(generator: keras.Model,
                  discriminator: keras.Model,
                  *,
                  loss: str = "wgan-gp",
                  gp_weight: float = 10.0,
                  batch_size: Optional[int] = None,
                  latent_dim: Optional[int] = None,
                  inner_order: str = "simultaneous",
                  detach_fakes: bool = False,
                  spectral_norm: bool = False) -> Objective:
    """Builds ``objective(params, batch, seed) -> {"generator": g, "discriminator": d}``.

    Args:
      generator: built Keras generator ``[B, latent] -> [B, H, W, C]``.
      discriminator: built Keras discriminator/critic ``[B, H, W, C] -> [B, 1]``.
      loss: ``"wgan-gp"`` (Wasserstein with gradient penalty), ``"minimax"``
        (paper eq. 1, saturating generator loss) or ``"non-saturating"``.
      gp_weight: weight of the gradient penalty (``"wgan-gp"`` only).
      batch_size: number of latents per call; ``None`` draws one per real image.
        With ``"wgan-gp"`` it must equal the real batch size (the penalty mixes
        real and fake samples pairwise).
      latent_dim: size of ``z``; ``None`` reads it from ``generator``'s input.
      inner_order: ``"simultaneous"`` (paper 000's Algorithm 1: both players
        take an inner step from the same parameters) or
        ``"discriminator_first"`` (FIGR's code: the discriminator steps, then the
        generator steps against the stepped discriminator, on the same latents);
        set as the objective's ``player_order``
        (:func:`tfmeta.algorithms.step.player_order`).
      detach_fakes: the discriminator's loss (and gradient penalty) sees the
        generated images as constants. Changes no loss value and no first-order
        gradient; removes the cross-player terms of a second-order
        meta-gradient (through the discriminator's adaptation to the generator).
      spectral_norm: the discriminator runs with each kernel over its largest
        singular value (:func:`tfmeta.gan.spectral.spectral_normalize`, differentiated
        through): its parameters stay as they are, the function they stand for is
        normalized in every call (inner steps, meta-gradients, served adaptation).

    Returns:
      The objective. ``params`` maps ``"generator"`` and ``"discriminator"`` to
      lists of tensors in each model's ``trainable_variables`` order, ``batch``
      holds real images ``[B, H, W, C]`` in [-1, 1], ``seed`` is an int32 ``[2]``
      tensor. It is pure and safe inside ``tf.function`` and nested tapes.

    Raises:
      ValueError: for an unknown ``loss``, a negative ``gp_weight``, a
        non-positive ``batch_size`` or a ``latent_dim`` that disagrees with the
        generator (and, when called, for missing players or a batch-size mismatch).

    Example:
        >>> objective = gan_objective(build_generator(), build_discriminator(),
        ...                           loss="non-saturating")
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; valid losses are {list(LOSSES)}")
    if inner_order not in INNER_ORDERS:
        raise ValueError(f"unknown inner_order {inner_order!r}; valid orders are "
                         f"{list(INNER_ORDERS)}")
    if not gp_weight >= 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight!r}")
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, int) or batch_size <= 0):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    model_latent = generator.input_shape[-1]
    if latent_dim is None:
        latent_dim = model_latent
    elif model_latent is not None and latent_dim != model_latent:
        raise ValueError(
            f"latent_dim={latent_dim!r} but generator {generator.name!r} takes inputs "
            f"of shape {generator.input_shape}")
    if latent_dim is None:
        raise ValueError(
            f"cannot infer latent_dim from generator input shape {generator.input_shape}; "
            "pass latent_dim")

    def objective(params: Params, batch: Any, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        _check_players(params)
        g_params, d_params = params["generator"], params["discriminator"]
        if spectral_norm:
            d_params = spectral.spectral_normalize(d_params)
        real = tf.convert_to_tensor(batch)
        seed = tf.convert_to_tensor(seed)
        if real.shape.rank is None:
            raise ValueError("batch must have a known rank (images [B, H, W, C])")
        real_n = real.shape[0] if real.shape[0] is not None else tf.shape(real)[0]
        n = batch_size if batch_size is not None else real_n

        z = sample_latents(seed, n, latent_dim, dtype=g_params[0].dtype)
        fake = generate(generator, g_params, z, training=True)

        def critic(x: tf.Tensor) -> tf.Tensor:
            return functional.apply(discriminator, d_params, x, training=True)

        real_out = critic(real)
        fake_out = critic(fake)
        if detach_fakes:   # the generator's loss keeps `fake_out`; the discriminator's:
            fake = tf.stop_gradient(fake)
            d_fake_out = critic(fake)
        else:
            d_fake_out = fake_out

        if loss == "wgan-gp":
            g_loss = gan_losses.wasserstein_generator_loss(fake_out)
            d_loss = gan_losses.wasserstein_discriminator_loss(real_out, d_fake_out)
            if gp_weight:
                _check_same_batch(real, fake)
                if fake.dtype != real.dtype:
                    raise ValueError(
                        f"generated images are {fake.dtype.name} but the batch is "
                        f"{real.dtype.name}; the gradient penalty mixes them")
                eps = _mixing_weights(seed, n, real.shape.rank, real.dtype)
                d_loss += gp_weight * gan_losses.gradient_penalty(critic, real, fake, eps)
        elif loss == "minimax":
            g_loss = gan_losses.minimax_generator_loss(fake_out)
            d_loss = gan_losses.minimax_discriminator_loss(real_out, d_fake_out)
        else:  # "non-saturating"
            g_loss = gan_losses.nonsaturating_generator_loss(fake_out)
            d_loss = gan_losses.nonsaturating_discriminator_loss(real_out, d_fake_out)
        return {"generator": g_loss, "discriminator": d_loss}

    if inner_order == "discriminator_first":
        objective.player_order = ("discriminator", "generator")
    return objective


def _check_same_batch(real: tf.Tensor, fake: tf.Tensor) -> None:
    """The gradient penalty mixes real and fake samples pairwise: their shapes must agree."""
    if (real.shape[1:].is_fully_defined() and fake.shape[1:].is_fully_defined()
            and real.shape[1:] != fake.shape[1:]):
        raise ValueError(
            f"real images have shape {real.shape} but generated ones {fake.shape}")
    real_n, fake_n = real.shape[0], fake.shape[0]
    if real_n is not None and fake_n is not None:
        if real_n != fake_n:
            raise ValueError(
                f"wgan-gp needs as many fakes as real images: the batch has {real_n} "
                f"images but {fake_n} latents were drawn (batch_size)")
    else:
        tf.debugging.assert_equal(
            tf.shape(real)[0], tf.shape(fake)[0],
            message="wgan-gp needs as many fakes (batch_size) as real images")
