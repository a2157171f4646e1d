"""A meta-learned policy as a serving module: adapt on a task's rollouts, then act.

:class:`PolicyModule` holds a :mod:`tfmeta.rl` policy's variables and two
signatures:

* ``adapt_and_act(observations [E, T, obs], actions [E, T, act], rewards [E, T],
  mask [E, T], new_observations [n, obs]) -> {"actions": [n, act]}``: fits the
  linear baseline on the rollouts, takes one inner policy-gradient step (SGD
  of ``inner_lr`` on the REINFORCE loss, through the engine's inner loop) and
  returns the adapted policy's mean action for each new observation;
* ``act(new_observations) -> {"actions"}``: the meta-learned policy's mean action.

Requests are checked in the graph: a bad one fails with one
``InvalidArgumentError`` line naming the argument. The SavedModel loads and runs
with TensorFlow alone (no Keras, no tfmeta).

Example:
    >>> module = PolicyModule(model, inner_lr=0.1, gamma=0.99)
    >>> tf.saved_model.save(module, "exports/nav/1", signatures=module.signatures())
"""

from __future__ import annotations

import tensorflow as tf

from tfmeta import inner as inner_lib
from tfmeta.algorithms import adaptation_trajectory
from tfmeta.rl import losses, returns
from tfmeta.rl import policy as policy_lib
from tfmeta.savedmodel.common import Untracked, tf_variable
from tfmeta.savedmodel.validation import runtime_rank, runtime_view, validate
from tfmeta.types import Reused


def _shape_checks(x, name: str, rank: int, expected: str, trailing=None, like=None, like_name=""):
    x = runtime_view(x)
    shape = tf.concat([tf.shape(x), tf.zeros([rank], tf.int32)], 0)
    checks = [(tf.equal(runtime_rank(x), rank), f"{name} must have shape {expected}; got shape",
               tf.shape(x))]
    if trailing is not None:
        checks.append((tf.equal(shape[rank - 1], trailing),
                       f"{name} must have shape {expected}; got shape", tf.shape(x)))
    if like is not None:
        checks.append((tf.reduce_all(tf.equal(shape[:2], like)),
                       f"{name} must have the [E, T] of {like_name}; got shape", tf.shape(x)))
    checks.append((tf.reduce_all(tf.math.is_finite(tf.reshape(x, [-1]))),
                   f"{name} must be finite", tf.shape(x)))
    return checks


def _guard(x, ok, rank: int, last: int | None = None):
    """``x`` if the request passed its checks, else a small valid zero tensor."""
    fallback = [1] * (rank - 1) + [last if last is not None else 1]
    safe = tf.cond(ok, lambda: tf.identity(x), lambda: tf.zeros(fallback, x.dtype))
    safe.set_shape([None] * (rank - 1) + [last])
    return safe


class PolicyModule(tf.Module):
    """The policy's variables and the ``adapt_and_act`` and ``act`` signatures."""

    def __init__(self, model, *, inner_lr: float, gamma: float, max_rollouts: int = 1000,
                 max_steps: int = 10000, max_batch: int = 100000):
        super().__init__(name="policy_module")
        self.policy_variables = [tf_variable(v) for v in model.trainable_variables]
        self._held = Untracked(model=model, objective=losses.reinforce_objective(model),
                               inner=inner_lib.sgd(inner_lr))
        self.gamma = gamma
        self.bounds = (max_rollouts, max_steps, max_batch)
        self.obs_dim = int(model.inputs[0].shape[-1])
        self.act_dim = int(model.outputs[0].shape[-1]) // 2
        f32 = tf.float32
        self.adapt_and_act = tf.function(self._adapt_and_act, input_signature=[
            tf.TensorSpec(None, f32, name) for name in
            ("observations", "actions", "rewards", "mask", "new_observations")])
        self.act = tf.function(self._act, input_signature=[
            tf.TensorSpec(None, f32, "new_observations")])

    def signatures(self) -> dict:
        return {"adapt_and_act": self.adapt_and_act.get_concrete_function(),
                "act": self.act.get_concrete_function(),
                "serving_default": self.act.get_concrete_function()}

    def _new_obs_checks(self, new_observations):
        checks = _shape_checks(new_observations, "new_observations", 2, f"[n, {self.obs_dim}]",
                               self.obs_dim)
        n = tf.concat([tf.shape(runtime_view(new_observations)), [0]], 0)[0]
        checks.append((tf.logical_and(n >= 1, n <= self.bounds[2]),
                       f"new_observations must hold between 1 and {self.bounds[2]} rows; got n =",
                       tf.reshape(n, [1])))
        return checks

    def _mean_actions(self, params, new_observations):
        mean, _ = policy_lib.distribution(self._held.model, params, new_observations)
        return {"actions": mean}

    def _act(self, new_observations):
        ok = validate(self._new_obs_checks(new_observations))
        new = _guard(new_observations, ok, 2, self.obs_dim)
        return self._mean_actions([tf.convert_to_tensor(v) for v in self.policy_variables], new)

    def _adapt_and_act(self, observations, actions, rewards, mask, new_observations):
        rollouts, steps, _ = self.bounds
        obs_view = runtime_view(observations)
        et = tf.concat([tf.shape(obs_view), [0, 0]], 0)[:2]
        o, a = self.obs_dim, self.act_dim
        checks = _shape_checks(observations, "observations", 3, f"[E, T, {o}]", o)
        checks.append((tf.logical_and(tf.reduce_all(et >= 1), tf.logical_and(
            et[0] <= rollouts, et[1] <= steps)), f"observations must hold 1 to {rollouts} "
            f"rollouts of 1 to {steps} steps; got [E, T] =", et))
        checks += _shape_checks(actions, "actions", 3, f"[E, T, {a}]", a, et, "observations")
        checks += _shape_checks(rewards, "rewards", 2, "[E, T]", None, et, "observations")
        checks += _shape_checks(mask, "mask", 2, "[E, T]", None, et, "observations")
        flat_mask = tf.reshape(runtime_view(mask), [-1])
        checks.append((tf.reduce_all(tf.logical_or(tf.equal(flat_mask, 0.0),
                                                   tf.equal(flat_mask, 1.0))),
                       "mask must hold only 0 and 1 (1: a step taken)", tf.shape(mask)))
        checks += self._new_obs_checks(new_observations)
        ok = validate(checks)
        obs, act = _guard(observations, ok, 3, o), _guard(actions, ok, 3, a)
        rew, msk = _guard(rewards, ok, 2), _guard(mask, ok, 2)
        new = _guard(new_observations, ok, 2, o)
        adv = returns.advantages(obs, rew, msk, gamma=self.gamma)
        zeros = tf.zeros_like(act)
        batch = losses.PolicyBatch(obs, act, adv, msk, zeros, zeros)
        params = [tf.convert_to_tensor(v) for v in self.policy_variables]
        adapted = adaptation_trajectory(self._held.objective, {losses.PLAYER: params},
                                        Reused(batch), self._held.inner, inner_steps=1,
                                        seed=tf.constant([0, 0]), first_order=True)[-1]
        return self._mean_actions(adapted[losses.PLAYER], new)
