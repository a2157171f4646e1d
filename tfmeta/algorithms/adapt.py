"""The one inner loop: differentiable adaptation of every player of an objective.

Every meta-learner in tfmeta runs this loop. Its step is
:func:`tfmeta.algorithms.step.take_step`: the objective is evaluated at the
current parameters of all players; each player's gradient is taken of *its
own* loss with respect to *its own* parameters, and all players are updated
from the same pre-update parameters (Algorithm 1 of paper 000: D and G step
together), or one after another for an objective with a ``player_order``.

Second order comes for free: when the caller opens a ``GradientTape`` around
:func:`adaptation_trajectory`, the inner gradients are themselves recorded, so the outer
gradient flows through them. ``first_order=True`` puts the inner gradients
behind ``tf.stop_gradient`` (first-order MAML).

Two forms of the loop: :func:`adaptation_trajectory` unrolls it in Python (inside ``tf.function``
one graph node set per step; it returns the whole trajectory) and
:func:`adapted_params_and_carry` runs it as one ``tf.while_loop`` (one traced step, whatever
k; it folds over the steps and returns the adapted parameters and the fold's carry). :func:`tfmeta.algorithms.remat.rematerialize` trades
compute for memory in either: a step's activations are recomputed when the
outer gradient needs them instead of being kept.

The batches of the steps are either stacked per step (``batches[j]``) or one
batch reused at every step (:class:`tfmeta.types.Reused`, e.g. an episode's
support set); every form of the loop accepts both.

``adapt_only={player: indices}`` adapts only those tensors (ANIL;
:mod:`tfmeta.algorithms.selection`): the others pass through every step unchanged.

Example:
    >>> trajectory = adaptation_trajectory(objective, params, task.inner, rmsprop(1e-4),
    ...                                    inner_steps=10, seed=task.seed)
    >>> adapted = trajectory[-1]
    >>> adaptation_trajectory(objective, params, Reused(support), sgd(0.4), inner_steps=5,
    ...                       seed=seed)[-1]

``steps=`` is the deprecated name of ``inner_steps=`` (it still works, with a
DeprecationWarning); so are ``adapt`` and ``adapt_loop`` of the two forms of the loop
(:mod:`tfmeta.algorithms.renamed`).
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import checks
from tfmeta import inner as inner_lib
from tfmeta.algorithms.remat import rematerialize  # noqa: F401 (imported from here too)
from tfmeta.algorithms.selection import adapted_part, check_adapt_only
# The step lives in tfmeta.algorithms.step; importing its names from here still works.
from tfmeta.algorithms.step import (call_objective, check_losses, player_gradients,  # noqa: F401
                                    player_order, take_step)
from tfmeta.types import Objective, Reused, batch_at

INNER_STREAM = 0   # the inner steps' seed stream (step_seed)
_VAL_STREAM = 1


def step_seed(seed: tf.Tensor, stream: int, step: int) -> tf.Tensor:
    """Seed of inner step ``step`` (stream 0) or validation ``step`` (stream 1)."""
    seed = tf.cast(seed, tf.int32)
    return tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(seed, stream), step)


def check_steps(steps: Any, name: str = "steps") -> int:
    """Returns ``steps`` as an int or raises ValueError naming it (as ``name``)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"{name} must be a non-negative int, got {steps!r}")
    return steps


def adaptation_trajectory(objective: Objective, params: Mapping[str, list], batches: Any,
                          inner: inner_lib.InnerOptimizer | Mapping[str, inner_lib.InnerOptimizer],
                          *, inner_steps: int | None = None, seed: tf.Tensor,
                          first_order: bool = False, return_losses: bool = False,
                          remat: bool = False, steps: int | None = None,
                          adapt_only: Mapping[str, Any] | None = None):
    """Takes ``inner_steps`` differentiable inner steps of every player; their trajectory.

    Args:
      objective: ``(params, batch, seed) -> {player: scalar loss}``.
      params: ``{player: [tensors]}``, the starting point.
      batches: a nest of tensors with a leading step axis (``batches[j]`` is
        the batch of step ``j``), at least ``inner_steps`` long; or
        ``tfmeta.types.Reused(batch)``, one batch used at every step (an
        episode's support set, not copied k times).
      inner: one inner optimizer for all players, or one per player.
      inner_steps: number of inner steps k >= 0 (required).
      seed: int32 ``[2]``; step ``j`` uses ``step_seed(seed, 0, j)``.
      first_order: stop gradients through the inner gradients: True every player's,
        or player names only theirs (:func:`tfmeta.algorithms.step.first_order_players`).
      return_losses: also return the inner losses of each step.
      steps: the deprecated name of ``inner_steps``.
      remat: trade compute for memory: keep only each step's parameters and
        optimizer state for the outer gradient and recompute the step's
        activations (forward pass and inner gradient) when the outer gradient
        reaches it (:func:`rematerialize`). Same results; the second-order
        backward pass runs every inner step's forward again. Takes effect
        inside ``tf.function`` (graph mode); eagerly the steps run as usual.

    Returns:
      The trajectory ``[params_0, ..., params_k]`` (``params_0`` is ``params``),
      and with ``return_losses`` a list of the k loss dicts.

    Raises:
      TypeError: ``inner_steps`` and ``steps`` both given, or neither.
    """
    steps = check_steps(checks.renamed_keyword("adaptation_trajectory", "inner_steps",
                                               inner_steps, "steps", steps), "inner_steps")
    players = sorted(params)
    optimizers = inner_lib.per_player(inner, players)
    current = {p: list(params[p]) for p in players}
    adapt_only = check_adapt_only(adapt_only, current)
    states = {p: optimizers[p].init(adapted_part(current, adapt_only)[p]) for p in players}
    trajectory = [current]
    step_losses = []
    for j in range(steps):
        current, states, losses = take_step(objective, optimizers, current, states,
                                            batch_at(batches, j), step_seed(seed, INNER_STREAM, j),
                                            first_order=first_order, remat=remat, where=j,
                                            index=j, adapt_only=adapt_only)
        trajectory.append(current)
        step_losses.append(losses)
    if return_losses:
        return trajectory, step_losses
    return trajectory


def adapted_params_and_carry(
        objective: Objective, params: Mapping[str, list], batches: Any,
        inner: inner_lib.InnerOptimizer | Mapping[str, inner_lib.InnerOptimizer], *,
        inner_steps: int, seed: tf.Tensor, first_order: bool = False, remat: bool = False,
        after_step=None, carry: Any = (), adapt_only: Mapping[str, Any] | None = None):
    """:func:`adaptation_trajectory` as one symbolic loop (``tf.while_loop``), folding over
    the steps: the adapted parameters and the fold's carry.

    Where :func:`adaptation_trajectory` unrolls ``k`` copies of the step into the graph, this
    traces the step once: the graph, its trace and compile time and the memory
    the runtime spends on it no longer grow with ``k``. Gradients through the
    loop (second-order MAML) are exact; with ``remat`` the loop keeps only each
    step's parameters and optimizer state for them.

    Args:
      after_step: ``(j, new_params, inner_losses, carry) -> carry``, called in
        the loop body after step ``j`` (a scalar int32 tensor), for example to
        add a validation loss at the new parameters to a running meta-loss.
      carry: a nest of tensors with fixed shapes and dtypes, the fold's start.
      Others as :func:`adaptation_trajectory`.

    Returns:
      ``(adapted_params, carry)``.
    """
    steps = check_steps(inner_steps, "inner_steps")
    players = sorted(params)
    optimizers = inner_lib.per_player(inner, players)
    current = {p: list(params[p]) for p in players}
    adapt_only = check_adapt_only(adapt_only, current)
    states = {p: optimizers[p].init(adapted_part(current, adapt_only)[p]) for p in players}
    if steps == 0:
        return current, carry

    # A reused batch rides along as a loop variable, so that the step reads a tensor of
    # the loop body (a rematerialized step's recomputation may read no outside tensor).
    reused = isinstance(batches, Reused)

    def body(j, current, states, carry, *invariant):
        step_batches = Reused(invariant[0]) if reused else batches
        new, new_states, losses = take_step(
            objective, optimizers, current, states, batch_at(step_batches, j),
            step_seed(seed, INNER_STREAM, j), first_order=first_order, remat=remat,
            where="(in the loop)", index=j, adapt_only=adapt_only)
        if after_step is not None:
            carry = after_step(j, new, losses, carry)
        return (j + 1, new, new_states, carry) + tuple(invariant)

    start = (tf.constant(0), current, states, carry) + ((batches.batch,) if reused else ())
    _, current, _, carry, *_ = tf.while_loop(
        lambda j, *_: j < steps, body, start, maximum_iterations=steps, parallel_iterations=1)
    return current, carry


def step_weights(kind: str, inner_steps: int | None = None, iteration: Any = 0,
                 anneal_steps: int = 1000, dtype: tf.DType = tf.float32, *,
                 steps: int | None = None) -> tf.Tensor:
    """Weights of the validation losses along the trajectory (multi-step loss).

    Args:
      kind: ``"uniform"`` (every step 1/k; paper 000's default), ``"final"``
        (only the last step: original MAML) or ``"annealed"`` (Antoniou et al.
        2019: uniform at iteration 0, the non-final weights decaying linearly to
        ``0.03 / k`` over ``anneal_steps`` meta-iterations, the final weight
        taking up the rest).
      inner_steps: k; with k = 0 there is one weight (the loss at the initialization).
      iteration: meta-iteration (int or scalar tensor), used by ``annealed``.
      anneal_steps: meta-iterations of the annealing.
      dtype: of the result.
      steps: the deprecated name of ``inner_steps``.

    Returns:
      A ``[max(k, 1)]`` tensor summing to 1.
    """
    steps = check_steps(checks.renamed_keyword("step_weights", "inner_steps", inner_steps,
                                               "steps", steps))
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
