"""The inner optimizer's state carried from task to task (the Reptile reference's Adam).

:class:`tfmeta.algorithms.MetaLearner` with ``carry_inner_state=True`` keeps
one state per player in variables (:func:`state_variables`). Every task starts
its inner steps from it; the tasks' final states travel beside the metrics
(:func:`as_metrics`, names under :data:`PREFIX`), so that a loop over tasks,
vectorized tasks and replicas all average them as they average a metric, and
:func:`store` keeps the mean after the update. :func:`starting_from` is the
same inner optimizer starting from the stored state (test-time adaptation).

Example:
    >>> state = state_variables(inner, model_variables)
    >>> optimizer = starting_from(inner["model"], state["model"])
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import inner as inner_lib

PREFIX = "inner_state"


def state_variables(inner: Mapping[str, inner_lib.InnerOptimizer],
                    model_variables: Mapping[str, list]) -> dict:
    """``{player: state}`` of non-trainable variables, each at ``init`` of its parameters."""
    out = {}
    for p in sorted(model_variables):
        start = inner[p].init([tf.convert_to_tensor(v) for v in model_variables[p]])
        out[p] = tf.nest.map_structure(
            lambda t: tf.Variable(t, trainable=False, name="inner_state"), start)
    return out


def read(state: Mapping[str, Any]) -> dict | None:
    """The stored states as tensors (None when nothing is carried)."""
    return {p: tf.nest.map_structure(tf.convert_to_tensor, s) for p, s in state.items()} or None


def as_metrics(final: Mapping[str, Any], players) -> dict:
    """``{"inner_state/<player>/<i>": tensor}`` of the final states of ``players``."""
    return {f"{PREFIX}/{p}/{i}": t for p in players
            for i, t in enumerate(tf.nest.flatten(final[p]))}


def zeros(state: Mapping[str, Any]) -> dict:
    """:func:`as_metrics`' names, with zeros of their shapes and dtypes (a sum's start)."""
    return as_metrics({p: tf.nest.map_structure(tf.zeros_like, s) for p, s in state.items()},
                      state)


def store(state: Mapping[str, Any], metrics: Mapping[str, tf.Tensor]) -> dict:
    """Assigns the (mean) final states found in ``metrics``; returns the other metrics."""
    for p in state:
        for i, v in enumerate(tf.nest.flatten(state[p])):
            v.assign(tf.cast(metrics[f"{PREFIX}/{p}/{i}"], v.dtype))
    return {k: v for k, v in metrics.items() if not k.startswith(PREFIX + "/")}


def starting_from(optimizer: inner_lib.InnerOptimizer, state: Any) -> inner_lib.InnerOptimizer:
    """``optimizer`` whose ``init`` returns the stored ``state`` instead of a fresh one."""
    return optimizer._replace(init=lambda params: tf.nest.map_structure(tf.convert_to_tensor,
                                                                        state),
                              name=f"{optimizer.name}_carried")
