"""One inner step of every player of an objective (the step of :mod:`tfmeta.algorithms.adapt`).

At a step the objective is evaluated at the current parameters of all players;
each player's gradient is taken of *its own* loss with respect to *its own*
parameters, and all players are updated from the same pre-update parameters
(Algorithm 1 of paper 000: D and G step together) -- or, for an objective with
a ``player_order``, one player after another, each from the parameters the
players before it reached (FIGR's critic-then-generator step).

Example:
    >>> new, states, losses = take_step(objective, optimizers, params, states, batch, seed)
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms.remat import rematerialize
from tfmeta.algorithms.selection import adapted_part, check_adapt_only, with_adapted
from tfmeta.types import Objective

__all__ = ["call_objective", "check_losses", "first_order_players", "player_gradients",
           "player_order", "take_step"]


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


def call_objective(objective: Objective, params, batch, seed, step) -> Any:
    """``objective(params, batch, seed)``; objectives with ``takes_step = True`` also get
    ``step=`` (an int or int32 scalar tensor): the inner step whose loss it is, or for a
    validation loss the number of inner steps taken (MAML++'s per-step batch norm)."""
    if getattr(objective, "takes_step", False):
        return objective(params, batch, seed, step=step)
    return objective(params, batch, seed)


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


def first_order_players(first_order: Any, players) -> frozenset:
    """The players whose inner gradients a step puts behind ``tf.stop_gradient``.

    ``first_order``: True (every player's: first-order MAML), False (none: second
    order), or player names (a name or a collection): only theirs, so their
    meta-gradients are first order and the others' second order. ValueError for a
    name that is not a player.
    """
    if not isinstance(first_order, (str, tuple, list, set, frozenset)):
        return frozenset(players) if first_order else frozenset()
    named = frozenset([first_order] if isinstance(first_order, str) else first_order)
    if not named <= set(players):
        raise ValueError(f"first_order names {sorted(named - set(players))}, which are not "
                         f"players; expected some of {sorted(players)}")
    return named


def player_order(objective: Objective, players) -> tuple | None:
    """The order in which the players of ``objective`` take an inner step, or None.

    None (the default: an objective without ``player_order``): every player
    steps from the same parameters (paper 000's Algorithm 1). An objective whose
    ``player_order`` attribute names every player once has them step one after
    another, each from the parameters the players before it reached (FIGR's
    critic-then-generator order); the objective is then evaluated once per
    player and step. ValueError for an order that is not the players.
    """
    order = getattr(objective, "player_order", None)
    if order is None:
        return None
    if sorted(order) != sorted(players):
        raise ValueError(f"the objective's player_order {tuple(order)} must name each of the "
                         f"players {tuple(sorted(players))} once")
    return tuple(order)


def take_step(objective: Objective, optimizers: Mapping[str, inner_lib.InnerOptimizer],
              current: Mapping[str, list], states: Mapping[str, Any], batch: Any,
              seed: tf.Tensor, *, first_order: Any = False, remat: bool = False,
              where: Any = "", index: Any = 0,
              adapt_only: Mapping[str, tuple] | None = None) -> tuple[dict, dict, dict]:
    """One inner step of every player from the same parameters (or, for an objective
    with a ``player_order``, one after another: :func:`player_order`).

    ``index`` is the step's number, given to objectives that take it
    (:func:`call_objective`). ``first_order``: whose inner gradients are stopped
    (:func:`first_order_players`). ``adapt_only`` (as :func:`check_adapt_only` returns it;
    None: all): the tensors the step differentiates and updates, each player's
    ``states`` being its inner optimizer's state of those; the others pass through.

    Returns ``(new_params, new_states, losses)``; with ``remat`` inside
    ``tf.function`` the step is :func:`rematerialize`-d.
    """
    players = sorted(current)
    selected = check_adapt_only(adapt_only, current)
    order = player_order(objective, players)
    stopped = first_order_players(first_order, players)

    def update(p, g, loss, state, adapted):
        if p in stopped:
            g, loss = [tf.stop_gradient(gi) for gi in g], tf.stop_gradient(loss)
        if optimizers[p].takes_loss:
            return optimizers[p].update(g, state, adapted, loss=loss)
        return optimizers[p].update(g, state, adapted)

    def simultaneous_step(current, states):
        adapted = adapted_part(current, selected)
        with tf.GradientTape(persistent=True) as tape:
            for p in players:
                tape.watch(adapted[p])   # only these: the inner gradient's backward pass
            losses = call_objective(objective, current, batch, seed, index)
        check_losses(losses, players, f"inner step {where}")
        grads = player_gradients(tape, losses, adapted, f"inner step {where}")
        del tape
        new, new_states = {}, {}
        for p in players:
            new[p], new_states[p] = update(p, grads[p], losses[p], states[p], adapted[p])
        return with_adapted(current, new, selected), new_states, dict(losses)

    def sequential_step(current, states):
        # Each player steps from the parameters the players before it reached.
        new_states, step_losses = {}, {}
        for p in order:
            adapted = adapted_part(current, selected)
            with tf.GradientTape() as tape:
                tape.watch(adapted[p])
                losses = call_objective(objective, current, batch, seed, index)
            check_losses(losses, players, f"inner step {where}")
            grads = player_gradients(tape, {p: losses[p]}, {p: adapted[p]},
                                     f"inner step {where}")
            moved, new_states[p] = update(p, grads[p], losses[p], states[p], adapted[p])
            current = with_adapted(current, {**adapted, p: moved}, selected)
            step_losses[p] = losses[p]
        return current, new_states, step_losses

    step = simultaneous_step if order is None else sequential_step
    if remat and not tf.executing_eagerly():
        return rematerialize(step, dict(current), dict(states))
    return step(current, states)
