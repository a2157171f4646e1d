"""Reinforcement learning for MAML (Finn et al. 2017, section 5.3): 2D navigation and the
half-cheetah tasks, a Gaussian MLP policy at fast weights, the paper's linear baseline and
policy-gradient estimator, TRPO and PPO-clip outer updates.

Modules: :mod:`.environment` (what a task family offers), :mod:`.envs` (them by name),
:mod:`.navigation` (2D navigation, in-graph rollouts), :mod:`.cheetah` (the half-cheetah
direction and velocity tasks on gymnasium's MuJoCo HalfCheetah), :mod:`.policy`,
:mod:`.returns` (returns, baseline, advantages), :mod:`.losses`, :mod:`.trpo`,
:mod:`.learner` (:class:`MetaPolicyLearner`).

Example:
    >>> from tfmeta import rl
    >>> learner = rl.MetaPolicyLearner(rl.build_policy(2, 2), inner_lr=0.1)
"""

from tfmeta.rl.learner import MetaPolicyLearner
from tfmeta.rl.policy import build_policy

__all__ = ["MetaPolicyLearner", "build_policy"]
