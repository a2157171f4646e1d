"""Shared types of the engine: players, parameters, objectives, tasks and learners.

A *player* is a named set of parameters with its own loss (a GAN has the
players ``"generator"`` and ``"discriminator"``; a classifier has one player,
conventionally ``"model"``).

An *objective* maps parameters, a batch and a seed to one scalar loss per
player::

    losses = objective(params, batch, seed)   # {"generator": g, "discriminator": d}

``seed`` is an int32 tensor of shape ``[2]`` for ``tf.random.stateless_*`` ops,
so every random draw of an objective (latents, gradient-penalty mixing) is a
pure function of the seed and results are reproducible.

A *learner* (:class:`Learner`) is anything the training loop can drive: an
update counter ``step`` and ``train_step(batch) -> metrics``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Protocol, runtime_checkable

import tensorflow as tf

Params = Mapping[str, list]          # player -> list of tensors
Objective = Callable[[Params, Any, tf.Tensor], Mapping[str, tf.Tensor]]


class Reused(NamedTuple):
    """The same batch at every step: ``Reused(batch)`` in place of step-stacked batches.

    An N-way K-shot episode adapts on one support set at every inner step and
    scores every step on one query set; ``Task(inner=Reused(support),
    val=Reused(query), seed)`` says so without copying the sets k times.
    ``batch`` is any nest of tensors without a step axis. ``Reused`` is a
    NamedTuple, so ``tf.nest`` (stacking tasks, :func:`task_at`,
    ``tf.function`` arguments) sees through it and keeps it.
    """
    batch: Any


class Task(NamedTuple):
    """One task's data for a meta-update (or a meta-batch of them, stacked).

    Attributes:
      inner: batches for the inner steps, in one of two forms: per-step
        batches, a nest of tensors with a leading axis of length >= k (step
        ``j`` uses ``inner[j]``), or ``Reused(batch)``, one batch (no step
        axis) used at every step, e.g. an episode's support set.
      val: batches for the validation losses, in either form; per-step,
        ``val[j]`` scores the parameters after step ``j + 1`` (Algorithm 1 of
        paper 000 resamples after every step); ``Reused(query)`` scores every
        step on the same batch. With k = 0 steps, ``val[0]`` (or the reused
        batch) scores the initial parameters.
      seed: int32 ``[2]`` seed of the task's random draws.

    A meta-batch is a ``Task`` whose tensors carry one more leading axis, the
    task index: per-step ``inner`` is ``[N, k, ...]``, ``Reused`` batches are
    ``[N, ...]``, and ``seed`` is ``[N, 2]``.

    Example:
        >>> Task(inner=images[:k], val=images[k:], seed=tf.constant([0, 1]))   # per step
        >>> Task(inner=Reused((support_x, support_y)), val=Reused((query_x, query_y)),
        ...      seed=tf.constant([0, 1]))                                      # an episode
    """
    inner: Any
    val: Any
    seed: tf.Tensor


def task_at(tasks: Task, i) -> Task:
    """Returns task ``i`` of a stacked meta-batch (``i`` may be a tensor)."""
    return tf.nest.map_structure(lambda t: tf.gather(t, i), tasks)


def batch_at(batches: Any, j) -> Any:
    """Batch ``j`` of step-stacked batches, or the batch of a :class:`Reused`.

    ``j`` is an int or a scalar integer tensor (inside ``tf.while_loop``).
    Only a top-level ``Reused`` is recognised: ``Reused((x, y))``, not
    ``(Reused(x), y)``.
    """
    if isinstance(batches, Reused):
        return batches.batch
    return tf.nest.map_structure(lambda t: t[j], batches)


class TaskModulation(NamedTuple):
    """Tailors a player's initialization to a task before its inner steps (HSML).

    Attributes:
      apply: ``(params, support) -> (task_params, auxiliary_loss)``: ``params``
        is the player's list of tensors, ``support`` the batch of its first
        inner step; the inner steps start from ``task_params`` and
        ``auxiliary_loss`` (a scalar) is added to the player's meta-loss.
        Differentiable.
      variables: meta-variables it reads; trained with the player's meta-loss.
      name: for error messages.
      inspect: optional ``support -> anything``, what the modulation saw of a
        task (HSML: its soft cluster assignments), for analysis.
    """
    apply: Callable[[list, Any], tuple[list, tf.Tensor]]
    variables: tuple = ()
    name: str = "modulation"
    inspect: Callable[[Any], Any] | None = None


@runtime_checkable
class Learner(Protocol):
    """What the training loop (:func:`tfmeta.training.meta_train`) needs of a learner.

    Attributes:
      step: int64 ``tf.Variable``, the number of updates taken (checkpointed
        with the learner; a resumed run continues from it).

    Methods:
      train_step(batch): one update on ``batch`` (a meta-batch of tasks, a
        batch of episodes, a plain batch: whatever the learner trains on);
        returns ``{name: scalar tensor}`` metrics and adds 1 to ``step``.

    Optional (not part of the isinstance check): ``learning_rates() ->
    {name: float}``, the current (outer) learning rates for summaries.
    :class:`tfmeta.algorithms.MetaLearner` satisfies this protocol, and so does
    a learner without an inner loop (prototypical networks, plain supervised).
    """
    step: tf.Variable

    def train_step(self, batch: Any) -> Mapping[str, tf.Tensor]:
        ...


def learning_rates(learner: Any) -> dict[str, float]:
    """``learner.learning_rates()`` if the learner has it, else ``{}``."""
    method = getattr(learner, "learning_rates", None)
    return dict(method()) if callable(method) else {}
