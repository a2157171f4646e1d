"""``MetaLearner``: the glue that owns meta-variables and outer optimizers.

It is a :class:`tfmeta.types.Learner` (``step``, ``train_step``,
``learning_rates``), the protocol :func:`tfmeta.training.meta_train` drives.

The math lives in pure functions (:mod:`.adapt`, :mod:`.maml`, :mod:`.reptile`);
this class only owns state and compiles two functions:

* ``compute_gradients(tasks)`` (optionally XLA-compiled): the mean meta-gradient
  of a meta-batch's N tasks, run in a ``tf.while_loop`` (one traced copy of the
  per-task graph, each task's inner graph freed once its gradient is taken);
* ``apply_gradients(grads)``: checks that losses and gradients are finite --
  a non-finite value raises ``InvalidArgumentError`` *before* any variable
  changes -- then lets each player's outer optimizer step.

Example:
    >>> learner = MetaLearner({"generator": g.trainable_variables,
    ...                        "discriminator": d.trainable_variables},
    ...                       objective, inner.rmsprop(1e-4),
    ...                       outer=lambda: keras.optimizers.RMSprop(1e-4),
    ...                       algorithm="maml", inner_steps=10)
    >>> metrics = learner.train_step(tasks)   # tasks: a stacked tfmeta.types.Task
    >>> learner.learning_rates()
    {'discriminator': 0.0001, 'generator': 0.0001}
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping

import keras
import tensorflow as tf

from tfmeta import checks, distribute
from tfmeta import inner as inner_lib
from tfmeta.algorithms.adapt import step_weights as make_step_weights
from tfmeta.algorithms.inner_loop import InnerLoop, resolve
from tfmeta.algorithms.maml import check_modulation, meta_gradients, meta_variables
from tfmeta.algorithms import carried, selection, step as one_step
from tfmeta.algorithms.reptile import reptile_direction
from tfmeta.algorithms.tasks import mean_over_tasks
from tfmeta.types import Objective, Task

ALGORITHMS = ("maml", "fomaml", "reptile")
TASKS_MODES = ("loop", "vectorized")


class MetaLearner(tf.Module):
    """Meta-trains the initialization of every player of an objective.

    Args:
      variables: ``{player: [variables]}``, the meta-learned initialization.
      objective: ``(params, batch, seed) -> {player: loss}``.
      inner: inner optimizer for all players or one per player (Meta-SGD: a
        :func:`tfmeta.inner.meta_sgd` per player; its learning rates are trained).
      outer: a zero-argument factory of Keras optimizers (one is made per
        player) or a ``{player: optimizer}`` dict.
      algorithm: ``"maml"`` (second order), ``"fomaml"`` or ``"reptile"``.
      inner_loop: the inner loop's settings as one
        :class:`tfmeta.algorithms.InnerLoop` (default: ``InnerLoop()``, 10 steps).
      inner_steps, step_weights, anneal_steps, first_order_steps, first_order_players,
        remat, unroll, carry_inner_state, adapt_only: the fields of
        :class:`tfmeta.algorithms.InnerLoop`, given one by one (None: ``inner_loop``'s, or
        the default); a value that differs from ``inner_loop``'s is a TypeError. ``steps``
        is the deprecated name of ``inner_steps``.
      jit_compile: XLA-compile the meta-gradient computation.
      tasks_mode: ``"loop"`` (default) computes a meta-batch's tasks one after another in
        a ``tf.while_loop``, ``"vectorized"`` as one batched computation
        (``tf.vectorized_map``). Same meta-gradient; the loop is faster on a 2-core CPU.
      parallel_tasks: ``"loop"``: how many tasks the runtime may compute at
        once (``parallel_iterations``); 1 keeps one task's graph in memory.
      step: the meta-step counter (``annealed`` and ``first_order_steps`` read
        it); default: a new one that ``apply_gradients`` advances. One passed in
        is advanced by its owner (tfmeta.keras: the optimizer's ``iterations``).
      strategy: a ``tf.distribute`` strategy (default: the one in scope when
        the learner is made, if any). Its replicas split each meta-batch
        (:func:`tfmeta.distribute.replica_gradients`); ``variables`` must have
        been created in its scope, and the outer optimizers are made in it.
      modulation: ``{player: tfmeta.types.TaskModulation}`` (MAML/FOMAML): the
        inner steps start from the modulated initialization; its variables are
        meta-variables of the player (HSML, :mod:`tfmeta.algorithms.hsml`).

    With ``carry_inner_state`` (Reptile), :meth:`carried_inner` adapts from the
    carried :attr:`inner_state` at test time.
    """

    def __init__(self, variables: Mapping[str, list], objective: Objective, inner: Any,
                 outer: Callable[[], keras.optimizers.Optimizer] | Mapping[str, Any], *,
                 algorithm: str = "maml", inner_loop: InnerLoop | None = None,
                 inner_steps: int | None = None, step_weights: str | None = None,
                 anneal_steps: int | None = None, jit_compile: bool = False,
                 remat: bool | None = None, unroll: bool | None = None,
                 first_order_steps: int | None = None, first_order_players: Any = None,
                 tasks_mode: str = "loop", parallel_tasks: int = 1, step: Any = None,
                 strategy: tf.distribute.Strategy | None = None,
                 modulation: Mapping[str, Any] | None = None, name: str | None = None,
                 steps: int | None = None, carry_inner_state: bool | None = None,
                 adapt_only: Mapping[str, Any] | None = None):
        super().__init__(name=name)
        self.inner_loop = spec = resolve(
            inner_loop, inner_steps=checks.renamed("inner_steps", inner_steps, "steps", steps,
                                                   default=None),
            step_weights=step_weights, anneal_steps=anneal_steps,
            first_order_steps=first_order_steps, first_order_players=first_order_players,
            remat=remat, unroll=unroll, carry_inner_state=carry_inner_state,
            adapt_only=adapt_only)
        steps, step_weights, anneal_steps = spec.inner_steps, spec.step_weights, spec.anneal_steps
        remat, unroll, carry_inner_state = spec.remat, spec.unroll, spec.carry_inner_state
        if strategy is None and tf.distribute.has_strategy():
            strategy = tf.distribute.get_strategy()
        self.strategy = strategy
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
        self.algorithm = algorithm
        self.remat = bool(remat)
        self.unroll = unroll
        self.inner_steps = steps
        if algorithm == "reptile" and remat:
            raise ValueError("remat=True applies to maml and fomaml (it recomputes inner steps "
                             "for the meta-gradient); reptile takes no gradient through them")
        if algorithm == "reptile" and self.inner_steps < 1:
            raise ValueError(f"reptile needs steps >= 1, got {steps!r}")
        self.step_weights_kind = step_weights
        self.anneal_steps = anneal_steps
        self.players = sorted(variables)
        if not self.players:
            raise ValueError("variables is empty; pass {player: [variables]}")
        self.objective = objective
        self.inner = inner_lib.per_player(inner, self.players)
        if algorithm == "reptile" and any(o.variables for o in self.inner.values()):
            raise ValueError("reptile cannot train inner-optimizer meta-variables "
                             "(Meta-SGD learning rates); use algorithm='maml'")
        # untracked (tf.Module would wrap its NamedTuples); its variables are in ``targets``
        self.modulation = self._no_dependency(
            check_modulation(modulation, self.players, algorithm) or None)
        self.model_variables = {p: list(variables[p]) for p in self.players}
        self.adapt_only = self._no_dependency(   # ANIL: checked now, one error at build time
            selection.for_learner(spec.adapt_only, self.model_variables, algorithm))
        self.targets = meta_variables(self.model_variables, self.inner, modulation)
        self._check_distributed(self.targets)
        if carry_inner_state and algorithm != "reptile":
            raise ValueError(f"carry_inner_state applies to algorithm='reptile', not "
                             f"{algorithm!r}")
        with self._scope():
            self.inner_state = (carried.state_variables(self.inner, self.model_variables)
                                if carry_inner_state else {})
            self._make_outer(outer)
            self._owns_step = step is None
            self.step = (tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_step")
                         if step is None else step)
        for name in ("first_order_steps", "first_order_players"):   # MAML's derivative order
            if getattr(spec, name) and algorithm != "maml":
                raise ValueError(f"{name} applies to algorithm='maml', not {algorithm!r}")
        one_step.first_order_players(spec.first_order_players, self.players)   # not players?
        checks.count("parallel_tasks", parallel_tasks)
        if tasks_mode not in TASKS_MODES:
            raise ValueError(f"tasks_mode must be one of {TASKS_MODES}, got {tasks_mode!r}")
        self.tasks_mode = tasks_mode
        self.first_order_steps = spec.first_order_steps
        self.parallel_tasks = parallel_tasks
        # Under a strategy XLA compiles each replica's share (strategy.run cannot be compiled).
        jit_all = jit_compile and self.strategy is None
        self._replica_compute = (tf.function(self.mean_gradients, jit_compile=True)
                                 if jit_compile and not jit_all else self.mean_gradients)
        self._compute = tf.function(self.compute_gradients, jit_compile=jit_all,
                                    reduce_retracing=True)
        self._compute_first_order = tf.function(
            lambda tasks: self.compute_gradients(tasks, first_order=True),
            jit_compile=jit_all, reduce_retracing=True)
        self._apply = tf.function(self.apply_gradients)

    def _make_outer(self, outer) -> None:
        if isinstance(outer, Mapping):
            inner_lib.per_player(dict(outer), self.players)  # same keys check
            self.outer = {p: outer[p] for p in self.players}
        elif callable(outer) and not isinstance(outer, keras.optimizers.Optimizer):
            self.outer = {p: outer() for p in self.players}
        else:
            raise ValueError(
                f"outer must be a factory (e.g. lambda: keras.optimizers.RMSprop(1e-4)) or a "
                f"{{player: optimizer}} dict, got {outer!r}; one optimizer cannot serve "
                "several players")
        for p in self.players:
            self.outer[p].build(self.targets[p])
        if self.strategy is not None:
            self._check_distributed({p: self.outer[p].variables for p in self.players},
                                    "outer optimizer")

    def _scope(self):   # noqa: D102
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def _check_distributed(self, variables, what: str = "meta-learned") -> None:
        if self.strategy is None:
            return
        for p in self.players:
            for v in variables[p]:
                if not self.strategy.extended.variable_created_in_scope(getattr(v, "value", v)):
                    raise ValueError(
                        f"{what} variable {v.name!r} of player {p!r} was not created in the "
                        f"scope of the learner's {type(self.strategy).__name__}; make the "
                        "models, meta-variables and optimizers inside `with strategy.scope():`")

    # -- per task -------------------------------------------------------------
    def task_gradients(self, task: Task, first_order: bool | None = None):
        """``(grads, meta_losses, metrics)`` of one task, grads aligned with ``targets``.

        ``first_order`` overrides the algorithm's order (MAML's annealing).
        """
        if self.algorithm == "reptile":
            params = {p: [tf.convert_to_tensor(v) for v in self.model_variables[p]]
                      for p in self.players}
            states = carried.read(self.inner_state)
            direction, losses, final = reptile_direction(
                self.objective, params, task, self.inner, inner_steps=self.inner_steps,
                return_losses=True, states=states, return_states=True)
            meta = dict(losses[-1])
            metrics = {f"inner_loss/{p}": tf.add_n([l[p] for l in losses]) / len(losses)
                       for p in self.players}
            metrics.update(carried.as_metrics(final, self.inner_state))   # averaged as one
            return direction, meta, metrics
        weights = self.step_weights_kind  # fixed weights by name ("final": last loss only)
        if weights == "annealed":
            weights = make_step_weights(weights, self.inner_steps, self.step, self.anneal_steps)
        return meta_gradients(self.objective, self.model_variables, task, self.inner,
                              inner_steps=self.inner_steps,
                              first_order=(self.algorithm == "fomaml" if first_order is None
                                           else first_order) or self.inner_loop.first_order_players,
                              step_weights=weights, remat=self.remat, unroll=self.unroll,
                              modulation=self.modulation, adapt_only=self.adapt_only)

    # -- per meta-batch ---------------------------------------------------------
    def compute_gradients(self, tasks: Task, first_order: bool | None = None):
        """``(grads, metrics)``: the mean meta-gradient over a stacked meta-batch (``grads[p]``
        aligned with ``self.targets[p]``), ``meta_loss/<p>`` and ``inner_loss/<p>`` (means over
        tasks) and ``grad_norm/<p>``. Under a strategy each replica computes its share of the
        tasks and the result is the all-reduced mean (this process's copy)."""
        if self.strategy is not None:
            return distribute.replica_gradients(
                self.strategy, lambda mine: self._replica_compute(mine, first_order), tasks,
                self._norms)
        grads, metrics = self.mean_gradients(tasks, first_order)
        return grads, dict(metrics, **self._norms(grads))

    def _norms(self, grads) -> dict:
        return {f"grad_norm/{p}": tf.linalg.global_norm(grads[p]) for p in self.players}

    def mean_gradients(self, tasks: Task, first_order: bool | None = None):
        """Mean meta-gradient and metrics of exactly ``tasks`` (no split, no all-reduce): a
        replica's share; without a strategy, :meth:`compute_gradients` less the norms."""
        metric_names = [f"{k}/{p}" for k in ("meta_loss", "inner_loss") for p in self.players]
        metric_names += list(carried.zeros(self.inner_state))

        def one_task(task):
            grads, meta, metrics = self.task_gradients(task, first_order)
            metrics = dict(metrics, **{f"meta_loss/{p}": meta[p] for p in self.players})
            return grads, {k: metrics[k] for k in metric_names}

        state_zeros = carried.zeros(self.inner_state)
        zeros = ({p: [tf.zeros_like(v) for v in self.targets[p]] for p in self.players},
                 {k: state_zeros[k] if k in state_zeros
                  else tf.zeros([], self.targets[k.split("/")[1]][0].dtype)
                  for k in metric_names})
        grads, metrics = mean_over_tasks(one_task, tasks, zeros, mode=self.tasks_mode,
                                         parallel=self.parallel_tasks)
        return {p: grads[p] for p in self.players}, metrics

    def carried_inner(self, player: str) -> inner_lib.InnerOptimizer:
        """``player``'s inner optimizer starting from the carried :attr:`inner_state`."""
        return carried.starting_from(self.inner[player], self.inner_state[player])

    def apply_gradients(self, grads: Mapping[str, list], metrics: Mapping[str, tf.Tensor]):
        """Raises InvalidArgumentError on a non-finite loss or gradient, else steps."""
        for key in sorted(metrics):
            tf.debugging.assert_all_finite(
                metrics[key], f"non-finite {key} at meta-step; nothing was updated")
        with tf.control_dependencies([tf.debugging.assert_all_finite(
                g, f"non-finite meta-gradient of player {p}; nothing was updated")
                for p in self.players for g in grads[p]]):
            for p in self.players:
                self.outer[p].apply_gradients(zip(grads[p], self.targets[p]))
            if self._owns_step:
                self.step.assign_add(1)

    def train_step(self, tasks: Task) -> dict[str, tf.Tensor]:
        """One meta-update on a stacked meta-batch; returns the metrics."""
        if self.strategy is not None:
            distribute.check_split(tasks, self.strategy)
        if self.first_order_steps and int(self.step.numpy()) < self.first_order_steps:
            grads, metrics = self._compute_first_order(tasks)
        else:
            grads, metrics = self._compute(tasks)
        self._apply(grads, metrics)
        return carried.store(self.inner_state, metrics)

    def learning_rates(self) -> dict[str, float]:
        """``{player: outer learning rate}`` now (a schedule read at its current iteration)."""
        # through a tensor: under a strategy a constant rate is a distributed variable
        return {p: float(tf.convert_to_tensor(self.outer[p].learning_rate))
                for p in self.players}
