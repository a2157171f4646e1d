"""The one inner loop: differentiable adaptation of every player of an objective.

Every meta-learner in tfmeta runs this loop. At step ``j`` the objective is
evaluated once at the current parameters of all players; each player's
gradient is taken of *its own* loss with respect to *its own* parameters, and
all players are updated from the same pre-update parameters (Algorithm 1 of
paper 000: D and G step together).

Second order comes for free: when the caller opens a ``GradientTape`` around
:func:`adapt`, the inner gradients are themselves recorded, so the outer
gradient flows through them. ``first_order=True`` puts the inner gradients
behind ``tf.stop_gradient`` (first-order MAML).

Two forms of the loop: :func:`adapt` unrolls it in Python (inside ``tf.function``
one graph node set per step; it returns the whole trajectory) and
:func:`adapt_loop` runs it as one ``tf.while_loop`` (one traced step, whatever
k; it folds over the steps). :func:`rematerialize` trades compute for memory
in either: a step's activations are recomputed when the outer gradient needs
them instead of being kept.

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
          return_losses: bool = False, remat: bool = False):
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
      remat: trade compute for memory: keep only each step's parameters and
        optimizer state for the outer gradient and recompute the step's
        activations (forward pass and inner gradient) when the outer gradient
        reaches it (:func:`rematerialize`). Same results; the second-order
        backward pass runs every inner step's forward again. Takes effect
        inside ``tf.function`` (graph mode); eagerly the steps run as usual.

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
        current, states, losses = take_step(objective, optimizers, current, states,
                                            batch_at(batches, j), step_seed(seed, _INNER_STREAM, j),
                                            first_order=first_order, remat=remat, where=j)
        trajectory.append(current)
        step_losses.append(losses)
    if return_losses:
        return trajectory, step_losses
    return trajectory


def take_step(objective: Objective, optimizers: Mapping[str, inner_lib.InnerOptimizer],
              current: Mapping[str, list], states: Mapping[str, Any], batch: Any,
              seed: tf.Tensor, *, first_order: bool = False, remat: bool = False,
              where: Any = "") -> tuple[dict, dict, dict]:
    """One inner step of every player from the same parameters.

    Returns ``(new_params, new_states, losses)``; with ``remat`` inside
    ``tf.function`` the step is :func:`rematerialize`-d.
    """
    players = sorted(current)

    def step(current, states):
        with tf.GradientTape(persistent=True) as tape:
            for p in players:
                tape.watch(current[p])
            losses = objective(current, batch, seed)
        check_losses(losses, players, f"inner step {where}")
        grads = player_gradients(tape, losses, current, f"inner step {where}")
        del tape
        new, new_states = {}, {}
        for p in players:
            g = grads[p]
            if first_order:
                g = [tf.stop_gradient(gi) for gi in g]
            new[p], new_states[p] = optimizers[p].update(g, states[p], current[p])
        return new, new_states, dict(losses)

    if remat and not tf.executing_eagerly():
        return rematerialize(step, dict(current), dict(states))
    return step(current, states)


def adapt_loop(objective: Objective, params: Mapping[str, list], batches: Any,
               inner: inner_lib.InnerOptimizer | Mapping[str, inner_lib.InnerOptimizer],
               *, steps: int, seed: tf.Tensor, first_order: bool = False,
               remat: bool = False, after_step=None, carry: Any = ()):
    """:func:`adapt` as one symbolic loop (``tf.while_loop``), folding over the steps.

    Where :func:`adapt` unrolls ``k`` copies of the step into the graph, this
    traces the step once: the graph, its trace and compile time and the memory
    the runtime spends on it no longer grow with ``k``. Gradients through the
    loop (second-order MAML) are exact; with ``remat`` the loop keeps only each
    step's parameters and optimizer state for them.

    Args:
      after_step: ``(j, new_params, inner_losses, carry) -> carry``, called in
        the loop body after step ``j`` (a scalar int32 tensor), for example to
        add a validation loss at the new parameters to a running meta-loss.
      carry: a nest of tensors with fixed shapes and dtypes, the fold's start.
      Others as :func:`adapt`.

    Returns:
      ``(adapted_params, carry)``.
    """
    steps = check_steps(steps)
    players = sorted(params)
    optimizers = inner_lib.per_player(inner, players)
    current = {p: list(params[p]) for p in players}
    states = {p: optimizers[p].init(current[p]) for p in players}
    if steps == 0:
        return current, carry

    def body(j, current, states, carry):
        new, new_states, losses = take_step(
            objective, optimizers, current, states, batch_at(batches, j),
            step_seed(seed, _INNER_STREAM, j), first_order=first_order, remat=remat,
            where="(in the loop)")
        if after_step is not None:
            carry = after_step(j, new, losses, carry)
        return j + 1, new, new_states, carry

    _, current, _, carry = tf.while_loop(
        lambda j, *_: j < steps, body, (tf.constant(0), current, states, carry),
        maximum_iterations=steps, parallel_iterations=1)
    return current, carry


def rematerialize(fn, *args):
    """``fn(*args)``, with its intermediate tensors recomputed for the gradient.

    ``args`` and the result are nests of float tensors. A tape around the call
    records only the result's dependence on ``args`` (and on variables ``fn``
    reads, such as Meta-SGD's learning rates): when the gradient reaches the
    result, ``fn`` runs again under its own tape, and the vector-Jacobian
    product is taken there. ``fn`` may itself take gradients (an inner step
    does), and these are differentiated exactly: the recomputation tape records
    the inner tape's gradient ops.

    The recomputation is made to wait for the incoming gradient (a control
    dependency), otherwise the graph executor would run it during the forward
    pass and hold its tensors anyway -- the reason ``tf.recompute_grad`` saves
    no memory in ``tf.function`` (tensorflow/tensorflow#36981). Graph mode only:
    eagerly, ``tf.custom_gradient`` stops all tapes inside ``fn``.

    Inside a ``tf.while_loop`` body (:func:`adapt_loop`), ``fn`` must read only
    tensors of that body: pass outside tensors in through ``args`` or compute
    them in the body first, and read no variables (TensorFlow's while-loop
    gradient rejects what the recomputation would capture).

    Example:
        >>> new_params, new_state, losses = rematerialize(step, params, state)
    """
    if tf.executing_eagerly():
        raise ValueError("rematerialize works inside tf.function only; call it from a "
                         "traced function (eagerly, tapes inside fn would be stopped)")
    structure = args
    flat_args = [tf.convert_to_tensor(a) for a in tf.nest.flatten(args)]
    out_structure = []

    def flat_fn(xs):
        result = fn(*tf.nest.pack_sequence_as(structure, list(xs)))
        out_structure[:] = [result]
        return [tf.convert_to_tensor(r) for r in tf.nest.flatten(result)]

    @tf.custom_gradient
    def forward(*xs):
        outputs = flat_fn(xs)

        def grad(*dys, variables=None):
            dys = [tf.zeros_like(o) if d is None else d for o, d in zip(outputs, dys)]
            with tf.control_dependencies(dys):
                again = [tf.identity(x) for x in xs]
            watched = list(variables or [])
            with tf.GradientTape() as tape:
                tape.watch(again)
                tape.watch(watched)
                recomputed = flat_fn(again)
            grads = tape.gradient(recomputed, again + watched, output_gradients=dys,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return grads[:len(again)], grads[len(again):]

        return outputs, grad

    flat_out = forward(*flat_args)
    return tf.nest.pack_sequence_as(out_structure[0], list(flat_out))


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
