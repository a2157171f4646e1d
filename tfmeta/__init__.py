"""tfmeta: meta-learning for TensorFlow 2 / Keras 3.

Meta-learners (MAML of first and second order, Meta-SGD, Reptile) as pure
functions over Keras models, applied first to few-shot image generation with
meta-learned GANs. See README.md for the command-line trainers.
"""

from tfmeta import functional, inner, types

__version__ = "0.1.0"

__all__ = ["functional", "inner", "types", "__version__"]
