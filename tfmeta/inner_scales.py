"""Meta-learned per-layer step sizes over any inner optimizer.

:func:`layer_scaled` multiplies each parameter tensor's inner step, as the
base optimizer computes it (SGD, RMSprop or Adam, with its own state), by a
learned scalar: ``p <- p + s_i * (base(p) - p)``. It is MAML++'s per-layer
learning rates (Antoniou et al. 2019) without the per-step axis, so an
adaptation longer than meta-training's (an export serving 80 steps) keeps
the learned sizes. The scales are meta-variables, trained with the player's
meta-loss; in first-order MAML only the inner gradients are stopped, so the
meta-gradient still reaches them (``sum_j delta_j . dL/dp``).

Example:
    >>> scales = layer_scale_variables(len(params), name="generator_scales")
    >>> opt = layer_scaled(rmsprop(4e-3), scales)
    >>> params, state = opt.update(grads, opt.init(params), params)
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tfmeta import checks
from tfmeta.inner import InnerOptimizer


def layer_scaled(base: InnerOptimizer, scales: Sequence) -> InnerOptimizer:
    """``base`` with each parameter tensor's step multiplied by its scalar in ``scales``."""
    scales = tuple(scales)
    if not scales:
        raise ValueError("layer_scaled: scales is empty; pass one scalar variable per parameter "
                         "tensor (layer_scale_variables)")
    if base.takes_loss:
        raise ValueError(f"layer_scaled: the base optimizer {base.name!r} takes the loss; "
                         f"expected sgd, rmsprop or adam")

    def init(params):
        if len(params) != len(scales):
            raise ValueError(f"layer_scaled: {len(scales)} scales for {len(params)} parameter "
                             f"tensors; expected one per tensor")
        return base.init(params)

    return InnerOptimizer(init, _scaled_update(base, lambda params: scales),
                          tuple(base.variables) + scales, f"{base.name}+layer_scales")


def _scaled_update(base: InnerOptimizer, scales_of):
    """``base``'s update with each tensor's step times its scale in ``scales_of(params)``."""
    def update(grads, state, params):
        stepped, state = base.update(grads, state, params)
        new = [p + tf.cast(s, p.dtype) * (n - p)
               for p, n, s in zip(params, stepped, scales_of(params))]
        return new, state

    return update


def step_scaled(base: InnerOptimizer, factor: float) -> InnerOptimizer:
    """``base`` with every step multiplied by ``factor``: ``p <- p + factor * (base(p) - p)``.

    For SGD, RMSprop and Adam, whose state does not depend on the rate, that is
    ``base`` at ``factor`` times its learning rate (up to rounding): a meta-trained
    run's optimizers adapting at another rate without being rebuilt.
    """
    checks.positive("factor", factor)
    if base.takes_loss:
        raise ValueError(f"step_scaled: the base optimizer {base.name!r} takes the loss; "
                         f"expected sgd, rmsprop or adam")
    return InnerOptimizer(base.init, _scaled_update(base, lambda params: [factor] * len(params)),
                          tuple(base.variables), f"{base.name}x{factor:g}")


def layer_scale_variables(count: int, initial: float = 1.0, name: str = "layer_scale",
                          dtype="float32") -> list:
    """``count`` trainable scalar ``keras.Variable`` scales, each ``initial`` (1: the base)."""
    import keras  # local: keeps this module importable without building Keras state
    checks.count("count", count, minimum=1)
    checks.positive("initial", initial)
    return [keras.Variable(tf.constant(initial, dtype), dtype=dtype, name=f"{name}_{i}",
                           trainable=True) for i in range(count)]
