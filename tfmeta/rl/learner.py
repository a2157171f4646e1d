"""MAML for reinforcement learning (Finn et al. 2017, Algorithm 3), as a learner.

One :meth:`MetaPolicyLearner.train_step` on a meta-batch of tasks (goals, directions,
velocities: rows of the environment's ``sample_tasks``):

1. roll out ``rollouts`` rollouts per task with the policy ``theta``; fit each task's
   baseline; take ``inner_steps`` vanilla policy-gradient steps per task on the
   engine's inner loop (:func:`tfmeta.algorithms.adaptation_trajectory`, SGD of
   ``inner_lr`` on :func:`tfmeta.rl.losses.reinforce_loss`), rolling out again after
   each step;
2. the outer loss is the post-update surrogate of the adapted policies
   ``theta'_i(theta)`` on their own rollouts, differentiated through the inner
   steps (second order; ``first_order`` stops the inner gradients); TRPO (conjugate
   gradient on the Fisher-vector product of the mean KL, also through the
   adaptation, then a line search) or PPO-clip epochs with Adam update ``theta``.

``inner_steps=0`` is plain TRPO/PPO on the same tasks: the pre-trained baseline.
Rollouts (the :class:`tfmeta.rl.environment.Environment`'s, in the graph; MuJoCo
steps through ``tf.numpy_function``) are stateless in the batch's seed, so a step is
a pure function of (variables, batch): resumption is exact.

Example:
    >>> learner = MetaPolicyLearner(build_policy(2, 2), inner_lr=0.1)
    >>> metrics = learner.train_step((goals, tf.constant([0, 7])))
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfmeta import checks
from tfmeta import inner as inner_lib
from tfmeta.algorithms import adaptation_trajectory
from tfmeta.rl import losses, navigation, returns, trpo
from tfmeta.rl.environment import Environment, rollout_returns
from tfmeta.rl import policy as policy_lib
from tfmeta.types import task_at

OUTERS = ("trpo", "ppo")


class MetaPolicyLearner:
    """Owns a policy's variables and step counter; :meth:`train_step` is one meta-update."""

    def __init__(self, model: keras.Model, *, inner_lr: float, inner_steps: int = 1,
                 first_order: bool = False, rollouts: int = 20, horizon: int | None = None,
                 gamma: float = 0.99, outer: str = "trpo", max_kl: float = 0.01,
                 cg_iterations: int = 10, cg_damping: float = 1e-5, ppo_epochs: int = 5,
                 ppo_clip: float = 0.2, outer_lr: float = 3e-4,
                 env: Environment = navigation.ENV):
        horizon = env.horizon if horizon is None else horizon
        checks.positive("inner_lr", inner_lr)
        checks.count("inner_steps", inner_steps, minimum=0)
        checks.count("rollouts", rollouts, minimum=2)
        checks.count("horizon", horizon)
        checks.one_of("outer", outer, OUTERS)
        self.model, self.outer_update, self.env = model, outer, env
        self.inner_lr, self.inner_steps, self.first_order = inner_lr, inner_steps, first_order
        self.rollouts, self.horizon, self.gamma = rollouts, horizon, gamma
        self.max_kl, self.cg_iterations, self.cg_damping = max_kl, cg_iterations, cg_damping
        self.ppo_epochs, self.ppo_clip = ppo_epochs, ppo_clip
        self.variables = list(model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.objective = losses.reinforce_objective(model)
        self.inner = inner_lib.sgd(inner_lr)
        self.optimizer = None
        if outer == "ppo":
            self.optimizer = keras.optimizers.Adam(outer_lr)
            self.optimizer.build(self.variables)
        self._collect = tf.function(self.collect)
        self._loss = tf.function(self.meta_loss)
        self._loss_and_grad = tf.function(self.meta_loss_and_gradient)
        self._fvp = tf.function(self.fisher_product)
        self._ppo_update = tf.function(self.ppo_update)

    def checkpoint_items(self) -> dict:
        """What a checkpoint must hold to resume this learner exactly."""
        items = {"policy": self.model, "step": self.step}
        if self.optimizer is not None:
            items["optimizer"] = self.optimizer
        return items

    def params(self) -> list[tf.Tensor]:
        return [tf.convert_to_tensor(v) for v in self.variables]

    # -- rollouts and adaptation (no outer gradient) --

    def policy_of(self, per_task: Sequence[list]):
        """``observations [N * E, obs] -> (mean, log_std)``, task ``i``'s rows under
        ``per_task[i]`` (one forward pass when all tasks share the parameters)."""
        n = len(per_task)
        if all(p is per_task[0] for p in per_task):
            return lambda obs: policy_lib.distribution(self.model, per_task[0], obs)

        def act(obs):
            obs = tf.reshape(obs, [n, -1, obs.shape[-1]])
            outs = [policy_lib.distribution(self.model, p, obs[i]) for i, p in enumerate(per_task)]
            return tuple(tf.reshape(tf.stack(o), [-1, o[0].shape[-1]]) for o in zip(*outs))
        return act

    def batch_of(self, per_task, rollouts) -> losses.PolicyBatch:
        """The rollouts as a :class:`losses.PolicyBatch` with a task axis ``[N, E, T, ..]``."""
        n = len(per_task)
        split = [tf.reshape(t, [n, -1, *t.shape[1:]]) for t in rollouts]
        obs, act, rew, mask = split
        adv = tf.stack([returns.advantages(obs[i], rew[i], mask[i], gamma=self.gamma)
                        for i in range(n)])
        dists = [policy_lib.distribution(self.model, p, obs[i]) for i, p in enumerate(per_task)]
        old_mean = tf.stop_gradient(tf.stack([d[0] for d in dists]))
        old_log_std = tf.stop_gradient(tf.stack([d[1] for d in dists]))
        return losses.PolicyBatch(obs, act, adv, mask, old_mean, old_log_std)

    def adapt(self, params, inner_batches, seed, first_order: bool, inner=None):
        """The adapted parameters after the inner steps on ``inner_batches`` (step axis first),
        by ``inner`` (default: SGD of ``inner_lr``)."""
        if inner_batches is None:
            return list(params)
        k = int(inner_batches.mask.shape[0])
        trajectory = adaptation_trajectory(self.objective, {losses.PLAYER: list(params)},
                                           inner_batches, inner or self.inner, inner_steps=k,
                                           seed=seed, first_order=first_order)
        return trajectory[-1][losses.PLAYER]

    def collect(self, params, tasks, seed, steps: int, deterministic: bool = False,
                rollouts: int | None = None, step_sizes: Sequence[float] | None = None):
        """Rolls out, adapts one step per task, rolls out again... ``steps`` times.

        ``rollouts`` per task (default: the learner's); step ``j`` of SGD at
        ``step_sizes[j]`` (default: ``inner_lr`` each; a ``[steps]`` tensor: new sizes
        need no new trace of ``_collect``).

        Returns ``(batches, returns, per_step_params)``: ``steps + 1`` PolicyBatches
        ``[N, E, T, ..]``, the mean rollout return of each task after 0..steps steps
        ``[steps + 1, N]``, and each step's per-task parameters.
        """
        n, rollouts = int(tasks.shape[0]), rollouts or self.rollouts
        sizes = None if step_sizes is None else (
            int(step_sizes.shape[0]) if tf.is_tensor(step_sizes) else len(step_sizes))
        if sizes is not None and sizes < steps:
            raise ValueError(f"collect needs a step size for each of its {steps} steps, got "
                             f"{list(step_sizes)}")
        per_task = [list(params)] * n
        rows = tf.repeat(tasks, rollouts, axis=0)
        batches, means, history = [], [], [per_task]
        for j in range(steps + 1):
            traj = self.env.rollout(self.policy_of(per_task), rows, horizon=self.horizon,
                                    seed=tf.random.experimental.stateless_fold_in(seed, j),
                                    deterministic=deterministic)
            ret = rollout_returns(traj)
            means.append(tf.reduce_mean(tf.reshape(ret, [n, rollouts]), axis=1))
            batch = self.batch_of(per_task, traj)
            batches.append(batch)
            if j < steps:
                inner = None if step_sizes is None else inner_lib.sgd(step_sizes[j])
                per_task = [self.adapt(per_task[i], tf.nest.map_structure(
                    lambda t: t[i][None], batch), seed, first_order=True, inner=inner)
                    for i in range(n)]
                history.append(per_task)
        return batches, tf.stack(means), history

    # -- the outer objective (differentiable in params) --

    def meta_loss(self, params, inner, outer, seed, kind: str = "trpo"):
        """``(loss, kl)``: the mean over tasks of the outer surrogate at the adapted policies."""
        loss_fn = losses.trpo_surrogate if kind == "trpo" else (
            lambda m, p, b: losses.ppo_clip_loss(m, p, b, self.ppo_clip))
        out = []
        for i in range(int(outer.mask.shape[0])):
            task_inner = None if inner is None else task_at(inner, i)
            adapted = self.adapt(params, task_inner, seed, self.first_order)
            out.append(loss_fn(self.model, adapted, task_at(outer, i)))
        loss, kl = zip(*out)
        return tf.add_n(loss) / len(loss), tf.add_n(kl) / len(kl)

    def meta_loss_and_gradient(self, params, inner, outer, seed):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, kl = self.meta_loss(params, inner, outer, seed)
        return loss, kl, tape.gradient(loss, params)

    def fisher_product(self, params, inner, outer, seed, vector):
        """``F v``: the Hessian of the mean KL (through the adaptation) times ``vector``."""
        with tf.GradientTape() as outer_tape:
            outer_tape.watch(params)
            with tf.GradientTape() as tape:
                tape.watch(params)
                _, kl = self.meta_loss(params, inner, outer, seed)
            grad = trpo.flatten(tape.gradient(kl, params))
            grad_v = tf.tensordot(grad, tf.stop_gradient(vector), 1)
        return trpo.flatten(outer_tape.gradient(grad_v, params))

    def ppo_update(self, inner, outer, seed):
        params = self.params()
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, kl = self.meta_loss(params, inner, outer, seed, kind="ppo")
        self.optimizer.apply_gradients(zip(tape.gradient(loss, params), self.variables))
        return loss, kl

    # -- one meta-update --

    def train_step(self, batch) -> dict[str, tf.Tensor]:
        """One meta-update on ``batch = (tasks [N, task_dim], seed int32 [2])``; returns
        metrics."""
        tasks, seed = batch
        params = self.params()
        batches, means, _ = self._collect(params, tasks, seed, self.inner_steps)
        inner = (None if self.inner_steps == 0 else
                 tf.nest.map_structure(lambda *t: tf.stack(t, axis=1), *batches[:-1]))
        outer = batches[-1]
        metrics = {"return/pre": tf.reduce_mean(means[0]),
                   "return/post": tf.reduce_mean(means[-1])}
        if self.outer_update == "ppo":
            for _ in range(self.ppo_epochs):
                loss, kl = self._ppo_update(inner, outer, seed)
            metrics.update(loss=loss, kl=kl)
        else:
            loss, _, grads = self._loss_and_grad(params, inner, outer, seed)
            full = trpo.trust_region_step(
                trpo.flatten(grads), lambda v: self._fvp(params, inner, outer, seed, v),
                max_kl=self.max_kl, iterations=self.cg_iterations, damping=self.cg_damping)
            flat = trpo.flatten(params)
            _, new, info = trpo.line_search(
                lambda c: self._loss(trpo.unflatten(c, params), inner, outer, seed),
                flat, full, float(loss), max_kl=self.max_kl)
            for var, value in zip(self.variables, trpo.unflatten(new, params)):
                var.assign(value)
            metrics.update(loss=tf.constant(info["loss"]), kl=tf.constant(info["kl"]),
                           backtracks=tf.constant(float(info["backtracks"])))
        self.step.assign_add(1)
        return metrics
