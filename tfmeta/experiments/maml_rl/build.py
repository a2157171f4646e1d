"""Builds a MAML-RL run: the MAML learner, the pre-trained baseline, the task stream.

The environment (``env``: 2D navigation or a half-cheetah task family,
:mod:`tfmeta.rl.envs`) gives the policy's observation and action sizes, the tasks
and the rollouts.

Both policies start from the same initialization (the seed's); that
initialization, rebuilt, is the random-initialization baseline.

Example:
    >>> setup = build(MamlRLConfig(steps=10))
    >>> setup.learner.train_step(training_batches(setup.config)(0))
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import tensorflow as tf

from tfmeta.experiments.maml_rl.config import MamlRLConfig
from tfmeta.rl.learner import MetaPolicyLearner
from tfmeta.rl.policy import build_policy

EVAL_SEED_OFFSET = 10_000
SELECTION_SEED_OFFSET = 20_000


class PairLearner:
    """One MAML meta-update and (``pretrain``) one baseline update per step, on the same tasks.

    The step counter is MAML's; metrics are ``maml/...`` and ``pretrain/...``.
    """
    optimizer = None   # the outer updates own theirs

    def __init__(self, maml: MetaPolicyLearner, pretrain: MetaPolicyLearner | None):
        self.maml, self.pretrain = maml, pretrain
        self.step = maml.step

    def train_step(self, batch) -> dict:
        metrics = {f"maml/{k}": v for k, v in self.maml.train_step(batch).items()}
        if self.pretrain is not None:
            metrics.update({f"pretrain/{k}": v
                            for k, v in self.pretrain.train_step(batch).items()})
        return metrics


class MamlRLSetup(NamedTuple):
    config: MamlRLConfig
    learner: PairLearner
    maml: MetaPolicyLearner
    pretrain: MetaPolicyLearner | None
    checkpoint: tf.train.Checkpoint


def policy_learner(config: MamlRLConfig, inner_steps: int) -> MetaPolicyLearner:
    """A learner of the run's settings on a fresh policy at the seed's initialization."""
    env = config.environment()
    model = build_policy(env.observation_dim, env.action_dim, config.hidden, config.activation,
                         seed=config.seed)
    return MetaPolicyLearner(
        model, inner_lr=config.inner_lr, inner_steps=inner_steps,
        first_order=config.first_order, rollouts=config.rollouts, horizon=config.horizon,
        gamma=config.gamma, outer=config.outer, max_kl=config.max_kl,
        cg_iterations=config.cg_iterations, ppo_epochs=config.ppo_epochs,
        outer_lr=config.outer_lr, env=env)


def build(config: MamlRLConfig) -> MamlRLSetup:
    """The MAML learner, the baseline (``pretrain``), their pair and the checkpoint.

    Raises:
      ValueError: the environment cannot run here (the half-cheetah tasks without gymnasium).
    """
    config.environment().check()
    maml = policy_learner(config, config.inner_steps)
    pretrain = policy_learner(config, 0) if config.pretrain else None
    items: dict[str, Any] = {"maml": tf.train.Checkpoint(**maml.checkpoint_items()),
                             "step": maml.step}
    if pretrain is not None:
        items["pretrain"] = tf.train.Checkpoint(**pretrain.checkpoint_items())
    return MamlRLSetup(config, PairLearner(maml, pretrain), maml, pretrain,
                       tf.train.Checkpoint(**items))


def training_batches(config: MamlRLConfig) -> Callable[[Any], tuple]:
    """``step -> (tasks [meta_batch_size, task_dim], rollout seed [2])``, deterministic in
    step."""
    env = config.environment()

    def sample(step):
        seed = tf.random.experimental.stateless_fold_in(tf.constant([config.seed, 0]), step)
        return (env.sample_tasks(seed, config.meta_batch_size),
                tf.random.experimental.stateless_fold_in(seed, 1))
    return sample


def held_out_tasks(config: MamlRLConfig, count: int,
                   selection: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """The first ``count`` held-out tasks (the same for every run of a seed and env) and
    their rollout seed; ``selection``: another stream, the tasks that choose each policy's
    evaluation step."""
    offset = SELECTION_SEED_OFFSET if selection else EVAL_SEED_OFFSET
    seed = tf.constant([config.seed + offset, 0])
    return (config.environment().sample_tasks(seed, count),
            tf.constant([config.seed + offset, 1]))
