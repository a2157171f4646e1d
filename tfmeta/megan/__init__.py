"""MeGAN (paper 001): a generator meta-learned with an N+1-way MAML classifier.

See :mod:`tfmeta.megan.objective`.
"""

from tfmeta.megan.objective import (GENERATOR, OUTER_LOSSES, generator_loss, megan_objective,
                                    n_plus_one_loss)

__all__ = ["GENERATOR", "OUTER_LOSSES", "generator_loss", "megan_objective", "n_plus_one_loss"]
