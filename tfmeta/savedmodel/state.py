"""A few-shot classifier's served state: its shapes, their named sizes, their in-graph checks.

The state is what a classifier's ``adapt`` signature returns and its ``classify``
signature takes back (:mod:`tfmeta.savedmodel.classifier`): adapted weights, or
a metric learner's summary of the support set. A dimension of it may follow the
request:

* ``S`` (:data:`SUPPORT_SIZE`): the support set's size;
* ``N`` (:data:`WAYS`): the request's number of classes (a metric learner,
  which has no fixed head).

:func:`state_shapes_of` finds them by calling the adapt function on support
sets of different sizes; :func:`state_checks` checks a ``classify`` request's
state against them (each named size the same in every tensor, and bounded).

Example:
    >>> state_shapes_of(adapt_fn, (28, 28, 1), ways=5, any_ways=True)
    {'prototypes': ['N', 64]}
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfmeta.savedmodel.validation import runtime_dim, tensor_checks

SUPPORT_SIZE = "S"
WAYS = "N"


def state_shapes_of(adapt_fn: Callable[..., Mapping[str, tf.Tensor]],
                    image_shape: Sequence[int], ways: int,
                    any_ways: bool = False) -> dict[str, list]:
    """The shapes of ``adapt_fn``'s state, a dimension that follows the support size as ``S``
    (and with ``any_ways``, one that follows the number of classes as ``N``).

    Calls ``adapt_fn(images, labels, seed)`` eagerly on zero support sets
    (``ways`` and ``ways + 1`` images of ``ways`` classes; with ``any_ways``
    also ``ways + 1`` images of as many classes) and compares the shapes of its
    outputs.
    """
    shapes = []
    for size, classes in [(ways, ways), (ways + 1, ways)] + any_ways * [(ways + 1, ways + 1)]:
        images = tf.zeros([size, *image_shape], tf.float32)
        labels = tf.constant(np.arange(size) % classes, tf.int32)
        state = adapt_fn(images, labels, tf.zeros([2], tf.int32))
        shapes.append({n: [int(d) for d in t.shape] for n, t in state.items()})
    return {n: [a if a == b == c else SUPPORT_SIZE if a != b else WAYS
                for a, b, c in zip(s, shapes[1][n], shapes[-1][n])]
            for n, s in shapes[0].items()}


def state_checks(names: Sequence[str], shapes: Sequence[Sequence[int | str]],
                 state: Sequence[tf.Tensor], *, ways: int, max_ways: int,
                 max_support: int) -> list:
    """Checks of each tensor's shape (``S`` and ``N`` read from the first tensor that has
    them), then ``2 <= N <= max_ways`` and ``N <= S <= max_support`` (``ways``: N when no
    tensor has it)."""
    found, sizes, first = [], {}, {}
    for name, shape, x in zip(names, shapes, state):
        for dim in (SUPPORT_SIZE, WAYS):
            if dim in shape and dim not in sizes:
                sizes[dim], first[dim] = runtime_dim(x, list(shape).index(dim)), name
        found += tensor_checks(x, name, shape, sizes)
    classes = sizes.get(WAYS, tf.constant(ways))
    if WAYS in sizes:
        found.append((tf.logical_and(classes >= 2, classes <= max_ways),
                      f"{first[WAYS]} must hold between 2 and {max_ways} classes ({WAYS}; "
                      f"bound fixed at export time); got {WAYS} =", classes))
    if SUPPORT_SIZE in sizes:
        low = WAYS if WAYS in sizes else ways
        found.append((tf.logical_and(sizes[SUPPORT_SIZE] >= classes,
                                     sizes[SUPPORT_SIZE] <= max_support),
                      f"{first[SUPPORT_SIZE]} must hold between {low} and {max_support} "
                      f"support items ({SUPPORT_SIZE}; bound fixed at export time); got "
                      f"{SUPPORT_SIZE}, {WAYS} =", tf.stack([sizes[SUPPORT_SIZE], classes])))
    return found
