"""The one inner loop: differentiable adaptation of every player of an objective.

Every meta-learner in tfmeta runs this loop. At step ``j`` the objective is
evaluated once at the current parameters of all players; each player's
gradient is taken of *its own* loss with respect to *its own* parameters, and
all players are updated from the same pre-update parameters (Algorithm 1 of
paper 000: D and G step together).

Second order comes for free: when the caller opens a ``GradientTape`` around
:func:`adapt`, the inner gradients are themselves recorded, so the outer
gradient flows through them. ``first_order=True`` puts the inner gradients
behind ``tf.stop_gradient`` (first-order MAML). The loop is unrolled in Python
(inside ``tf.function`` this builds one graph node set per step), the form that
is robust for higher-order gradients.

Example:
    >>> trajectory = adapt(objective, params, task.inner, rmsprop(1e-4),
    ...                    steps=10, seed=task.seed)
    >>> adapted = trajectory[-1]
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.types import Objective, batch_at

_INNER_STREAM = 0
_VAL_STREAM = 1


def step_seed(seed: tf.Tensor, stream: int, step: int) -> tf.Tensor:
    """Seed of inner step ``step`` (stream 0) or validation ``step`` (stream 1)."""
    seed = tf.cast(seed, tf.int32)
    return tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(seed, stream), step)


def check_steps(steps: Any) -> int:
    """Returns ``steps`` as an int or raises ValueError naming it."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    return steps


def check_losses(losses: Mapping[str, Any], players: Any, where: str) -> None:
    """Raises ValueError unless the objective returned one scalar loss per player."""
    if not isinstance(losses, Mapping):
        raise ValueError(f"{where}: the objective must return a dict of losses, got {losses!r}")
    if set(losses) != set(players):
        raise ValueError(
            f"{where}: the objective returned losses for {sorted(losses)} but the "
            f"players are {sorted(players)}")
    for name, value in losses.items():
        if value.shape.rank != 0:
            raise ValueError(
                f"{where}: loss of player {name!r} must be a scalar, got shape {value.shape}")


def player_gradients(tape: tf.GradientTape, losses: Mapping[str, tf.Tensor],
                     params: Mapping[str, list], where: str) -> dict[str, list]:
    """Each player's gradient of its own loss; ValueError if any is missing."""
    grads = {}
    for name in sorted(params):
        g = tape.gradient(losses[name], params[name])
        missing = [i for i, gi in enumerate(g) if gi is None]
        if missing:
            raise ValueError(
                f"{where}: the loss of player {name!r} does not depend on its "
                f"parameters {missing} (of {len(g)}); every player's loss must depend "
                "on all of its own parameters")
        grads[name] = g
    return grads


def adapt(objective: Objective, params: Mapping[str, list], batches: Any,
          inner: inner_lib.InnerOptimizer | Mapping[str, inner_lib.InnerOptimizer],
          *, steps: int, seed: tf.Tensor, first_order: bool = False,
          return_losses: bool = False):
    """Takes ``steps`` differentiable inner steps of every player.

    Args:
      objective: ``(params, batch, seed) -> {player: scalar loss}``.
      params: ``{player: [tensors]}``, the starting point.
      batches: a nest of tensors with a leading step axis (``batches[j]`` is
        the batch of step ``j``); at least ``steps`` long.
      inner: one inner optimizer for all players, or one per player.
      steps: number of inner steps k >= 0.
      seed: int32 ``[2]``; step ``j`` uses ``step_seed(seed, 0, j)``.
      first_order: stop gradients through the inner gradients.
      return_losses: also return the inner losses of each step.

    Returns:
      The trajectory ``[params_0, ..., params_k]`` (``params_0`` is ``params``),
      and with ``return_losses`` a list of the k loss dicts.
    """
    steps = check_steps(steps)
    players = sorted(params)
    optimizers = inner_lib.per_player(inner, players)
    current = {p: list(params[p]) for p in players}
    states = {p: optimizers[p].init(current[p]) for p in players}
    trajectory = [current]
    step_losses = []
    for j in range(steps):
        with tf.GradientTape(persistent=True) as tape:
            for p in players:
                tape.watch(current[p])
            losses = objective(current, batch_at(batches, j), step_seed(seed, _INNER_STREAM, j))
        check_losses(losses, players, f"inner step {j}")
        grads = player_gradients(tape, losses, current, f"inner step {j}")
        del tape
        new = {}
        for p in players:
            g = grads[p]
            if first_order:
                g = [tf.stop_gradient(gi) for gi in g]
            new[p], states[p] = optimizers[p].update(g, states[p], current[p])
        current = new
        trajectory.append(current)
        step_losses.append(dict(losses))
    if return_losses:
        return trajectory, step_losses
    return trajectory


def step_weights(kind: str, steps: int, iteration: Any = 0,
                 anneal_steps: int = 1000, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Weights of the validation losses along the trajectory (multi-step loss).

    Args:
      kind: ``"uniform"`` (every step 1/k; paper 000's default), ``"final"``
        (only the last step: original MAML) or ``"annealed"`` (Antoniou et al.
        2019: uniform at iteration 0, the non-final weights decaying linearly to
        ``0.03 / k`` over ``anneal_steps`` meta-iterations, the final weight
        taking up the rest).
      steps: k; with k = 0 there is one weight (the loss at the initialization).
      iteration: meta-iteration (int or scalar tensor), used by ``annealed``.
      anneal_steps: meta-iterations of the annealing.
      dtype: of the result.

    Returns:
      A ``[max(k, 1)]`` tensor summing to 1.
    """
    steps = check_steps(steps)
    n = max(steps, 1)
    if kind == "uniform":
        return tf.fill([n], tf.constant(1.0 / n, dtype))
    if kind == "final":
        return tf.one_hot(n - 1, n, dtype=dtype)
    if kind == "annealed":
        if not isinstance(anneal_steps, int) or anneal_steps < 1:
            raise ValueError(f"anneal_steps must be a positive int, got {anneal_steps!r}")
        if n == 1:
            return tf.ones([1], dtype)
        progress = tf.minimum(tf.cast(iteration, dtype) / tf.cast(anneal_steps, dtype), 1.0)
        floor = tf.constant(0.03 / n, dtype)
        non_final = (1.0 - progress) / n + progress * floor
        final = 1.0 - (n - 1) * non_final
        return tf.concat([tf.fill([n - 1], non_final), tf.reshape(final, [1])], axis=0)
    raise ValueError(
        f"unknown step_weights {kind!r}; expected 'uniform', 'final' or 'annealed'")
