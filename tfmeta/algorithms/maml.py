"""MAML (second and first order), and Meta-SGD, over players.

Each player's meta-loss is the weighted sum of its validation losses along the
adaptation trajectory (multi-step loss). The initialization of each player
moves by the gradient of *its own* meta-loss: for a GAN,
``dL_D^meta/dphi`` and ``dL_G^meta/dtheta``, each through every path of the
coupled inner graph (paper 000, Algorithm 1).

Meta-SGD is MAML with ``steps=1`` and the :func:`tfmeta.inner.meta_sgd` inner
optimizer: its learning rates are meta-variables of the player they update and
receive the gradient of that player's meta-loss.

Example:
    >>> grads, metrics = meta_gradients(objective, variables, task, rmsprop(1e-4),
    ...                                 steps=10, first_order=False)
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms.adapt import (_VAL_STREAM, adapt, check_losses, check_steps,
                                     step_seed)
from tfmeta.algorithms.adapt import step_weights as make_step_weights
from tfmeta.types import Objective, Task, batch_at


def maml_losses(objective: Objective, params: Mapping[str, list], task: Task,
                inner: Any, *, steps: int, first_order: bool = False,
                step_weights: Any = "uniform", return_metrics: bool = False):
    """Each player's multi-step meta-loss on one task.

    Args:
      objective: ``(params, batch, seed) -> {player: loss}``.
      params: ``{player: [tensors]}``; differentiate the result w.r.t. these.
      task: a :class:`tfmeta.types.Task` (not stacked).
      inner: inner optimizer (or one per player).
      steps: inner steps k >= 0; k = 0 gives the plain loss at ``params``.
      first_order: stop gradients through the inner gradients.
      step_weights: a name for :func:`tfmeta.algorithms.adapt.step_weights` or a ``[max(k,1)]`` tensor.
      return_metrics: also return ``{"inner_loss/<p>": mean inner loss}``.

    Returns:
      ``{player: scalar meta-loss}`` (and the metrics dict if asked).
    """
    steps = check_steps(steps)
    trajectory, inner_losses = adapt(objective, params, task.inner, inner, steps=steps,
                                     seed=task.seed, first_order=first_order,
                                     return_losses=True)
    n = max(steps, 1)
    if isinstance(step_weights, str):
        step_weights = make_step_weights(step_weights, steps)
    players = sorted(params)
    meta = {p: 0.0 for p in players}
    for j in range(n):
        at = trajectory[j + 1] if steps else trajectory[0]
        losses = objective(at, batch_at(task.val, j), step_seed(task.seed, _VAL_STREAM, j))
        check_losses(losses, players, f"validation step {j}")
        for p in players:
            meta[p] = meta[p] + tf.cast(step_weights[j], losses[p].dtype) * losses[p]
    if not return_metrics:
        return meta
    metrics = {}
    for p in players:
        values = [l[p] for l in inner_losses] or [meta[p]]
        metrics[f"inner_loss/{p}"] = tf.add_n(values) / len(values)
    return meta, metrics


def meta_variables(variables: Mapping[str, list], inner: Any) -> dict[str, list]:
    """Per player: its model variables followed by its inner optimizer's meta-variables."""
    optimizers = inner_lib.per_player(inner, sorted(variables))
    return {p: list(variables[p]) + list(optimizers[p].variables) for p in sorted(variables)}


def meta_gradients(objective: Objective, variables: Mapping[str, list], task: Task,
                   inner: Any, *, steps: int, first_order: bool = False,
                   step_weights: Any = "uniform"):
    """Gradients of each player's meta-loss on one task w.r.t. its meta-variables.

    The inner tape of every step is opened inside this persistent outer tape,
    so with ``first_order=False`` the result is the exact second-order
    meta-gradient.

    Args:
      variables: ``{player: [variables]}`` (the initialization).
      Others as :func:`maml_losses`.

    Returns:
      ``(grads, meta_losses, metrics)``: ``grads[p]`` is aligned with
      ``meta_variables(variables, inner)[p]``.

    Raises:
      ValueError: if a meta-variable gets no gradient from its player's meta-loss.
    """
    targets = meta_variables(variables, inner)
    with tf.GradientTape(persistent=True) as tape:
        params = {p: [tf.convert_to_tensor(v) for v in variables[p]] for p in sorted(variables)}
        meta, metrics = maml_losses(objective, params, task, inner, steps=steps,
                                    first_order=first_order, step_weights=step_weights,
                                    return_metrics=True)
    grads = {}
    for p in sorted(targets):
        g = tape.gradient(meta[p], targets[p])
        missing = [getattr(v, "path", getattr(v, "name", i))
                   for i, (v, gi) in enumerate(zip(targets[p], g)) if gi is None]
        if missing:
            raise ValueError(
                f"the meta-loss of player {p!r} does not depend on {missing}; every "
                "meta-variable must receive a gradient (is the objective using all "
                "of this player's parameters?)")
        grads[p] = g
    del tape
    return grads, meta, metrics
