"""GANs for meta-learning: GAN losses and the two-player objective (players from tfmeta.nets).

The DCGAN builders live in :mod:`tfmeta.nets.dcgan`; they are re-exported
here because every GAN experiment needs them next to its objective.

Example:
    >>> from tfmeta import gan
    >>> g, d = gan.build_generator(), gan.build_discriminator()
    >>> objective = gan.gan_objective(g, d, loss="wgan-gp")
"""

from tfmeta.gan.losses import (
    gradient_penalty,
    minimax_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)
from tfmeta.gan.objective import INNER_ORDERS, LOSSES, gan_objective, generate, sample_latents
from tfmeta.gan.spectral import largest_singular_value, spectral_normalize
from tfmeta.nets.dcgan import build_discriminator, build_generator

__all__ = [
    "INNER_ORDERS",
    "LOSSES",
    "build_discriminator",
    "build_generator",
    "gan_objective",
    "generate",
    "gradient_penalty",
    "largest_singular_value",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "nonsaturating_discriminator_loss",
    "nonsaturating_generator_loss",
    "sample_latents",
    "spectral_normalize",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
]
