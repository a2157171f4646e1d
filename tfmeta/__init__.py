"""tfmeta: meta-learning for TensorFlow 2 / Keras 3.

Meta-learners (MAML of first and second order, Meta-SGD, Reptile) as pure
functions over Keras models, applied first to few-shot image generation with
meta-learned GANs. See README.md for the command-line trainers.
"""

from tfmeta import functional, inner, types

__version__ = "0.1.0"

__all__ = ["functional", "inner", "types", "__version__"]


def __getattr__(name: str):
    """``tfmeta.keras`` on first use: the Keras front door sits above the core (layer 4), so
    the package imports it only when asked, and ``import tfmeta`` stays light."""
    if name == "keras":
        import tfmeta.keras as front_door   # lazy: see tests/layout_test.py LAZY
        return front_door
    raise AttributeError(f"module 'tfmeta' has no attribute {name!r}")
