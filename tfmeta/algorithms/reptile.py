"""Reptile (Nichol et al. 2018) with a FIGR-style outer step.

The inner loop runs without an outer tape; the meta-gradient of each player is
``init - adapted``, which the outer optimizer takes as an ordinary gradient
(FIGR, Clouatre & Demers 2019: Reptile + WGAN-GP). With outer SGD at learning
rate ``epsilon`` this is Reptile's ``init += epsilon * (adapted - init)``.

Example:
    >>> direction = reptile_direction(objective, params, task, adam(1e-4, beta_1=0.5),
    ...                               inner_steps=10)
    >>> outer.apply(direction["generator"], generator.trainable_variables)
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from tfmeta import checks
from tfmeta import inner as inner_lib
from tfmeta.algorithms.adapt import INNER_STREAM, check_steps, step_seed, take_step
from tfmeta.types import Objective, Reused, Task, batch_at


def reptile_direction(objective: Objective, params: Mapping[str, list], task: Task,
                      inner: Any, *, inner_steps: int | None = None,
                      return_losses: bool = False, states: Mapping[str, Any] | None = None,
                      return_states: bool = False, steps: int | None = None):
    """``{player: [init - adapted]}`` after ``inner_steps`` inner steps on ``task``.

    Args:
      objective: ``(params, batch, seed) -> {player: loss}``.
      params: ``{player: [tensors]}``.
      task: a :class:`tfmeta.types.Task`; only ``task.inner`` (per-step batches
        or a ``Reused`` batch) and ``task.seed`` are used.
      inner: inner optimizer (or one per player).
      inner_steps: k >= 1 (``steps``: its deprecated name).
      return_losses: also return the inner loss dicts of each step.
      states: ``{player: inner optimizer state}`` to start from (default: each
        optimizer's ``init``, a fresh state); the Reptile reference's Adam runs
        on from task to task (:class:`tfmeta.algorithms.MetaLearner`'s
        ``carry_inner_state``).
      return_states: also return the final ``{player: state}``.

    Returns:
      The direction, then the losses and the final states if asked, in that order.
    """
    steps = check_steps(checks.renamed_keyword("reptile_direction", "inner_steps", inner_steps,
                                                "steps", steps))
    if steps < 1:
        raise ValueError(f"reptile needs at least one inner step, got inner_steps={steps!r}")
    players = sorted(params)
    optimizers = inner_lib.per_player(inner, players)
    current = {p: list(params[p]) for p in players}
    states = ({p: optimizers[p].init(current[p]) for p in players} if states is None
              else {p: states[p] for p in players})
    losses = []
    for j in range(steps):   # adapt()'s steps, first order, with the state in and out
        current, states, step_losses = take_step(
            objective, optimizers, current, states, batch_at(task.inner, j),
            step_seed(task.seed, INNER_STREAM, j), first_order=True, where=j, index=j)
        losses.append(step_losses)
    direction = {p: [a - b for a, b in zip(params[p], current[p])] for p in players}
    out = (direction,) + ((losses,) if return_losses else ()) + (
        (states,) if return_states else ())
    return out if len(out) > 1 else direction


def whole_episodes(tasks: Task) -> Task:
    """A stacked meta-batch of episodes whose inner batch is each episode's support *and* query set.

    Reptile has no separate validation loss: it adapts on a task's whole
    training set, so an episode's images all feed the inner steps.
    """
    (sx, sy), (qx, qy) = tasks.inner.batch, tasks.val.batch
    both = (tf.concat([sx, qx], axis=1), tf.concat([sy, qy], axis=1))
    return Task(inner=Reused(both), val=tasks.val, seed=tasks.seed)


def mini_batches(tasks: Task, *, batch: int, steps: int) -> Task:
    """``tasks`` whose inner batch is ``steps`` mini-batches of ``batch`` examples per task.

    Reptile's reference code (``_mini_batches`` of openai/supervised-reptile)
    shuffles a task's examples and deals them out ``batch`` at a time,
    reshuffling when they are used up; the same here, per task, from the task's
    seed (deterministic). ``tasks.inner`` is a stacked ``Reused((images,
    labels))`` batch of ``M >= batch`` examples per task (e.g. from
    :func:`whole_episodes`); the result's ``inner`` is per-step: ``[T, steps,
    batch, ...]``.
    """
    images, labels = tasks.inner.batch
    count = images.shape[1]
    if count is None or not 1 <= batch <= count:
        raise ValueError(f"a mini-batch of {batch} examples needs 1 to {count} examples per task")
    rounds = -(-steps * batch // count)    # shuffled passes needed, the last one partly used
    tasks_n = images.shape[0]
    if tasks_n is None:
        raise ValueError("mini_batches needs a static number of tasks")
    picked_images, picked_labels = [], []
    for t in range(tasks_n):
        key = tf.random.experimental.stateless_fold_in(tasks.seed[t], 7)
        order = tf.argsort(tf.random.stateless_uniform([rounds, count], key), axis=-1)
        order = tf.reshape(tf.reshape(order, [-1])[:steps * batch], [steps, batch])
        picked_images.append(tf.gather(images[t], order))
        picked_labels.append(tf.gather(labels[t], order))
    return Task(inner=(tf.stack(picked_images), tf.stack(picked_labels)), val=tasks.val,
                seed=tasks.seed)
