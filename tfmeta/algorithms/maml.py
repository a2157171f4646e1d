"""MAML (second and first order), and Meta-SGD, over players.

Each player's meta-loss is the weighted sum of its validation losses along the
adaptation trajectory (multi-step loss). The initialization of each player
moves by the gradient of *its own* meta-loss: for a GAN,
``dL_D^meta/dphi`` and ``dL_G^meta/dtheta``, each through every path of the
coupled inner graph (paper 000, Algorithm 1).

Meta-SGD is MAML with ``inner_steps=1`` and the :func:`tfmeta.inner.meta_sgd` inner
optimizer: its learning rates are meta-variables of the player they update and
receive the gradient of that player's meta-loss.

ANIL (Raghu et al. 2020) is MAML, first-order MAML or Meta-SGD with
``adapt_only={player: head indices}``: the inner steps adapt only those tensors
(the inner optimizer, Meta-SGD's rates included, is of those alone); the others
are shared by the steps and get their meta-gradient through the adapted
tensors' query loss -- exactly in second order, and in first order as FOMAML
does (the inner gradients behind ``tf.stop_gradient``).

Example:
    >>> grads, meta, metrics = meta_gradients(objective, variables, task, rmsprop(1e-4),
    ...                                       inner_steps=10, first_order=False)
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import checks
from tfmeta import inner as inner_lib
from tfmeta.algorithms.adapt import (_VAL_STREAM, adaptation_trajectory,
                                     adapted_params_and_carry, call_objective, check_losses,
                                     check_steps, step_seed)
from tfmeta.algorithms.adapt import step_weights as make_step_weights
from tfmeta.algorithms.remat import rematerialize
from tfmeta.types import Objective, Reused, Task, TaskModulation, batch_at


def maml_losses(objective: Objective, params: Mapping[str, list], task: Task,
                inner: Any, *, inner_steps: int | None = None, first_order: bool = False,
                step_weights: Any = "uniform", return_metrics: bool = False,
                remat: bool = False, unroll: bool | None = None, steps: int | None = None,
                adapt_only: Mapping[str, Any] | None = None):
    """Each player's multi-step meta-loss on one task.

    Args:
      objective: ``(params, batch, seed) -> {player: loss}``.
      params: ``{player: [tensors]}``; differentiate the result w.r.t. these.
      task: a :class:`tfmeta.types.Task` (not stacked); its ``inner`` and
        ``val`` may each be per-step batches or a ``Reused`` batch.
      inner: inner optimizer (or one per player).
      inner_steps: inner steps k >= 0 (required); k = 0 gives the plain loss at
        ``params``.
      first_order: stop gradients through the inner gradients: True every player's,
        or player names only theirs (:func:`tfmeta.algorithms.step.first_order_players`).
      step_weights: a name for :func:`tfmeta.algorithms.adapt.step_weights` or a
        ``[max(k,1)]`` tensor. ``"final"`` by name computes only the last
        validation loss (a one-hot tensor gives the same numbers, computing
        every step's).
      return_metrics: also return ``{"inner_loss/<p>": mean inner loss}``.
      remat: trade compute for memory: recompute each inner step and each
        validation loss when the meta-gradient reaches it instead of keeping
        their activations (:func:`tfmeta.algorithms.remat.rematerialize`).
        Takes effect inside ``tf.function``.
      unroll: ``True`` builds the k steps into the graph one after another
        (:func:`tfmeta.algorithms.adaptation_trajectory`); ``False`` runs them as one
        symbolic loop (:func:`tfmeta.algorithms.adapted_params_and_carry`), whose
        graph, trace and compile time do not grow with k. Default: unrolled,
        the fastest per meta-update, unless ``remat`` (then the loop, whose
        memory holds only each step's parameters and optimizer state).
        Meta-SGD (inner optimizers with meta-variables) with ``remat`` is
        always unrolled. Same numbers either way.
      steps: the deprecated name of ``inner_steps``.
      adapt_only: ``{player: indices}``: the inner steps adapt only these tensors of
        those players (ANIL; :func:`tfmeta.algorithms.adaptation_trajectory`).

    Returns:
      ``{player: scalar meta-loss}`` (and the metrics dict if asked).

    Raises:
      TypeError: ``inner_steps`` and ``steps`` both given, or neither.
    """
    steps = check_steps(checks.renamed_keyword("maml_losses", "inner_steps", inner_steps,
                                               "steps", steps), "inner_steps")
    # "final" by name: the other steps' validation losses have weight 0, so they are
    # not computed at all (about half the work of a first-order meta-gradient).
    final_only = isinstance(step_weights, str) and step_weights == "final" and steps > 0
    if isinstance(step_weights, str):
        step_weights = make_step_weights(step_weights, steps)
    players = sorted(params)
    if unroll is None:
        unroll = not remat

    def validation(j, at, val=task.val):
        # The batch and seed are taken outside a rematerialized function: its
        # recomputation may only read tensors of the loop body it sits in.
        batch, seed = batch_at(val, j), step_seed(task.seed, _VAL_STREAM, j)

        def losses_at(at):
            # The parameters scored after inner step j have taken j + 1 steps.
            losses = call_objective(objective, at, batch, seed, j + 1 if steps > 0 else 0)
            check_losses(losses, players, f"validation step {j}")
            return losses
        if remat and not tf.executing_eagerly():
            return rematerialize(losses_at, at)
        return losses_at(at)

    if steps == 0:
        meta = validation(0, {p: list(params[p]) for p in players})
        meta = {p: tf.cast(step_weights[0], v.dtype) * v for p, v in meta.items()}
        inner_mean = dict(meta)
    elif unroll or (remat and any(o.variables for o in
                                  inner_lib.per_player(inner, players).values())):
        # A rematerialized step that reads variables (Meta-SGD's learning rates) cannot
        # sit in a symbolic loop: TensorFlow's while-loop gradient does not accept the
        # variable read its recomputation adds. Such steps are unrolled.
        trajectory, inner_losses = adaptation_trajectory(
            objective, params, task.inner, inner, inner_steps=steps, seed=task.seed,
            first_order=first_order, return_losses=True, remat=remat, adapt_only=adapt_only)
        meta = {p: 0.0 for p in players}
        for j in range(steps - 1 if final_only else 0, steps):
            losses = validation(j, trajectory[j + 1])
            for p in players:
                meta[p] = meta[p] + tf.cast(step_weights[j], losses[p].dtype) * losses[p]
        inner_mean = {p: tf.add_n([l[p] for l in inner_losses]) / steps for p in players}
    else:
        def after_inner_step(j, new, inner_losses, inner_sum):
            return {p: inner_sum[p] + tf.cast(inner_losses[p], inner_sum[p].dtype)
                    for p in players}

        # A reused validation batch rides in the carry: inside the loop, a rematerialized
        # validation loss may read only tensors of the loop body.
        reused_val = isinstance(task.val, Reused)

        def after_step(j, new, inner_losses, carry):
            meta, inner_sum, *val = carry
            losses = validation(j, new, Reused(val[0]) if reused_val else task.val)
            meta = {p: meta[p] + tf.cast(tf.gather(step_weights, j), meta[p].dtype) * losses[p]
                    for p in players}
            return (meta, after_inner_step(j, new, inner_losses, inner_sum)) + tuple(val)

        zeros = {p: tf.zeros([], params[p][0].dtype) for p in players}
        if final_only:
            adapted, inner_sum = adapted_params_and_carry(
                objective, params, task.inner, inner, inner_steps=steps, seed=task.seed,
                first_order=first_order, remat=remat, after_step=after_inner_step,
                carry=dict(zeros), adapt_only=adapt_only)
            losses = validation(steps - 1, adapted)
            meta = {p: tf.cast(step_weights[-1], losses[p].dtype) * losses[p] for p in players}
        else:
            _, (meta, inner_sum, *_) = adapted_params_and_carry(
                objective, params, task.inner, inner, inner_steps=steps, seed=task.seed,
                first_order=first_order, remat=remat, after_step=after_step,
                carry=(zeros, dict(zeros)) + ((task.val.batch,) if reused_val else ()),
                adapt_only=adapt_only)
        inner_mean = {p: inner_sum[p] / steps for p in players}
    if not return_metrics:
        return meta
    return meta, {f"inner_loss/{p}": inner_mean[p] for p in players}


def meta_variables(variables: Mapping[str, list], inner: Any,
                   modulation: Mapping[str, TaskModulation] | None = None) -> dict[str, list]:
    """Per player: its model variables, its inner optimizer's meta-variables, then its
    modulation's (HSML's), if any."""
    optimizers = inner_lib.per_player(inner, sorted(variables))
    modulation = check_modulation(modulation, variables)
    return {p: list(variables[p]) + list(optimizers[p].variables)
            + list(modulation[p].variables if p in modulation else ())
            for p in sorted(variables)}


def check_modulation(modulation, players, algorithm: str = "maml") -> dict:
    """``{player: TaskModulation}`` (``{}`` for None); ValueError on an unknown player, or
    for ``algorithm="reptile"``, whose direction has no gradient path to a modulation."""
    if modulation is None:
        return {}
    if algorithm == "reptile":
        raise ValueError("reptile cannot train a task modulation (HSML): its direction "
                         "init - adapted has no gradient path to it; use algorithm='maml'")
    if not isinstance(modulation, Mapping) or not all(
            isinstance(m, TaskModulation) for m in modulation.values()):
        raise ValueError(f"modulation must be a {{player: TaskModulation}} dict, got "
                         f"{modulation!r}")
    unknown = sorted(set(modulation) - set(players))
    if unknown:
        raise ValueError(f"modulation names players {unknown} that are not among "
                         f"{sorted(players)}")
    return dict(modulation)


def modulate(modulation: Mapping[str, TaskModulation] | None, params: Mapping[str, list],
             support: Any):
    """``(params, auxiliary_losses)``: each modulated player's start tailored to a task's
    ``support`` batch (that of its first inner step) and the loss its modulation adds."""
    modulation = check_modulation(modulation, params)
    out, extra = dict(params), {}
    for p, m in sorted(modulation.items()):
        tailored, extra[p] = m.apply(list(params[p]), support)
        if len(tailored) != len(params[p]):
            raise ValueError(f"modulation {m.name!r} of player {p!r} returned "
                             f"{len(tailored)} tensors for {len(params[p])} parameters")
        out[p] = list(tailored)
    return out, extra


def meta_gradients(objective: Objective, variables: Mapping[str, list], task: Task,
                   inner: Any, *, inner_steps: int | None = None, first_order: bool = False,
                   step_weights: Any = "uniform", remat: bool = False,
                   unroll: bool | None = None,
                   modulation: Mapping[str, TaskModulation] | None = None,
                   steps: int | None = None, adapt_only: Mapping[str, Any] | None = None):
    """Gradients of each player's meta-loss on one task w.r.t. its meta-variables.

    The inner tape of every step is opened inside this persistent outer tape,
    so with ``first_order=False`` the result is the exact second-order
    meta-gradient.

    Args:
      variables: ``{player: [variables]}`` (the initialization).
      modulation: ``{player: TaskModulation}``: the inner steps start from the
        modulated parameters and the meta-loss includes its auxiliary loss
        (HSML, :mod:`tfmeta.algorithms.hsml`).
      adapt_only: ``{player: indices}``, the tensors the inner steps adapt (ANIL); the
        others still receive their meta-gradient.
      Others as :func:`maml_losses` (``steps``: the deprecated name of ``inner_steps``).

    Returns:
      ``(grads, meta_losses, metrics)``: ``grads[p]`` is aligned with
      ``meta_variables(variables, inner, modulation)[p]``.

    Raises:
      ValueError: if a meta-variable gets no gradient from its player's meta-loss.
      TypeError: ``inner_steps`` and ``steps`` both given, or neither.
    """
    inner_steps = checks.renamed_keyword("meta_gradients", "inner_steps", inner_steps, "steps",
                                         steps)
    targets = meta_variables(variables, inner, modulation)
    with tf.GradientTape(persistent=True) as tape:
        params = {p: [tf.convert_to_tensor(v) for v in variables[p]] for p in sorted(variables)}
        params, extra = modulate(modulation, params, batch_at(task.inner, 0))
        meta, metrics = maml_losses(objective, params, task, inner, inner_steps=inner_steps,
                                    first_order=first_order, step_weights=step_weights,
                                    return_metrics=True, remat=remat, unroll=unroll,
                                    adapt_only=adapt_only)
        meta = {p: meta[p] + tf.cast(extra[p], meta[p].dtype) if p in extra else meta[p]
                for p in meta}
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
