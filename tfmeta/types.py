"""Shared types of the engine: players, parameters, objectives and tasks.

A *player* is a named set of parameters with its own loss (a GAN has the
players ``"generator"`` and ``"discriminator"``; a classifier has one player,
conventionally ``"model"``).

An *objective* maps parameters, a batch and a seed to one scalar loss per
player::

    losses = objective(params, batch, seed)   # {"generator": g, "discriminator": d}

``seed`` is an int32 tensor of shape ``[2]`` for ``tf.random.stateless_*`` ops,
so every random draw of an objective (latents, gradient-penalty mixing) is a
pure function of the seed and results are reproducible.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import tensorflow as tf

Params = Mapping[str, list]          # player -> list of tensors
Objective = Callable[[Params, Any, tf.Tensor], Mapping[str, tf.Tensor]]


class Task(NamedTuple):
    """One task's data for a meta-update (or a meta-batch of them, stacked).

    Attributes:
      inner: batches for the inner steps; every tensor has a leading axis of
        length k (step j uses ``inner[j]``). Any nest of tensors.
      val: batches for the validation losses, same structure; ``val[j]`` scores
        the parameters after step ``j + 1`` (Algorithm 1 of paper 000 resamples
        after every step). With k = 0 steps, ``val[0]`` scores the initial
        parameters.
      seed: int32 ``[2]`` seed of the task's random draws.

    A meta-batch is a ``Task`` whose tensors carry one more leading axis, the
    task index: ``inner`` is ``[N, k, ...]`` and ``seed`` is ``[N, 2]``.
    """
    inner: Any
    val: Any
    seed: tf.Tensor


def task_at(tasks: Task, i) -> Task:
    """Returns task ``i`` of a stacked meta-batch (``i`` may be a tensor)."""
    return tf.nest.map_structure(lambda t: tf.gather(t, i), tasks)


def batch_at(batches: Any, j: int) -> Any:
    """Returns batch ``j`` of a nest of step-stacked tensors."""
    return tf.nest.map_structure(lambda t: t[j], batches)
