"""The MAML-RL experiment's settings (defaults: the MAML paper's 2D navigation, section 5.3).

The half-cheetah tasks at the paper's size set ``horizon=200`` and
``meta_batch_size=40`` (the authors' cheetah script); the defaults stay navigation's,
as stored runs resume from them.

The paper and its code (cbfinn/maml_rl): a 2x100 ReLU Gaussian policy, one
vanilla policy-gradient inner step of 0.1 on 20 rollouts per task, the linear
feature baseline, discount 0.99, 20 tasks per meta-update, TRPO with max KL
0.01 as the meta-optimizer, evaluation after 0..3 steps on held-out goals. The
authors' test scripts step first at the training step and then at half of it, on
4000 time steps (40 rollouts of 100) per step: the evaluation's defaults here.

Example:
    >>> MamlRLConfig(steps=200, first_order=True)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import setting
from tfmeta.rl import envs
from tfmeta.rl.envs import NAMES as ENVS
from tfmeta.rl.learner import OUTERS
from tfmeta.rl.policy import ACTIVATIONS

# What a run stored before a field existed did: a field missing from its config.json
# takes this value, not the default.
LEGACY = {"normalize_actions": False, "eval_lr_grid": ()}

# First evaluation steps each policy chooses from (`eval_lr_grid`): the authors' tests used 0.1
# to 1.0 (MAML 0.1, pre-trained 0.2, random 1.0 on the half-cheetah); a pre-trained navigation
# policy whose noise has shrunk needs 0.03 (docs/results/maml_rl.md).
FIRST_STEPS = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)

# Time steps per task of an evaluation step in the authors' test scripts (rllab VPG's batch).
EVAL_SAMPLES = 4000

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "max_minutes", "checkpoint_every", "eval_every", "eval_tasks",
                    "eval_steps", "eval_lr", "eval_lr_grid", "eval_lr_decay", "eval_rollouts")


@dataclasses.dataclass(frozen=True)
class MamlRLConfig:
    """Settings of a MAML-RL run (and its pre-trained baseline).

    Raises:
      ValueError: one line naming the field and the value it got.
    """
    env: str = setting("navigation2d",
        'Task family: navigation2d (goals uniform in [-0.5, 0.5]^2), cheetah_dir (run forward '
        'or backward) or cheetah_vel (run at a goal velocity in [0, 2]); the half-cheetah tasks '
        'need gymnasium[mujoco] (the rl extra).', choices=ENVS)
    normalize_actions: bool = setting(True,
        'The policy acts in [-1, 1], as the authors\' code (rllab\'s normalize): for '
        'navigation2d, times 0.1 onto the moves\' [-0.1, 0.1] and clipped; off (navigation2d '
        'only; runs made before this setting existed): its actions are the moves, clipped (as '
        'pytorch-maml-rl). The half-cheetah\'s actions are always in [-1, 1].')
    steps: int = setting(500, 'Meta-updates of the run (each also takes one update of the '
                         'pre-trained baseline when `pretrain` is on).')
    max_minutes: float = setting(0.0, 'Stop when training has taken this many minutes '
                                 '(0: no limit); the run then ends as complete.')
    meta_batch_size: int = setting(20, 'Tasks per meta-update (the paper: 20 for navigation2d, '
                                   '40 for the half-cheetah tasks).')
    rollouts: int = setting(20, 'Rollouts per task for each inner step and for the meta-loss '
                            '(the paper: 20).')
    horizon: int = setting(100, 'Steps per rollout (the paper: 100 for navigation2d, 200 for '
                           'the half-cheetah tasks).')
    inner_lr: float = setting(0.1, 'Step size of the inner policy-gradient step (the paper: 0.1).')
    inner_steps: int = setting(1, 'Inner policy-gradient steps in meta-training (the paper: 1).')
    first_order: bool = setting(False, 'First-order meta-gradient (inner gradients stopped).')
    gamma: float = setting(0.99, 'Discount of the returns the baseline and advantages use.')
    outer: str = setting("trpo", 'Meta-optimizer: trpo (the paper) or ppo (clipped surrogate, '
                         'Adam; cheaper).', choices=OUTERS)
    max_kl: float = setting(0.01, 'TRPO: mean KL bound of a meta-update (the paper: 0.01).')
    cg_iterations: int = setting(10, 'TRPO: conjugate-gradient iterations.')
    ppo_epochs: int = setting(5, 'PPO: Adam steps on each meta-batch.')
    outer_lr: float = setting(3e-4, 'PPO: Adam learning rate.')
    hidden: tuple = setting((100, 100), 'Hidden layer widths of the policy (the paper: 100,100).')
    activation: str = setting("relu", 'Activation of the policy.', choices=ACTIVATIONS)
    pretrain: bool = setting(True, 'Also train the baseline policy with the same outer update on '
                             'the same tasks, without adaptation (the paper\'s "pretrained").')
    eval_tasks: int = setting(40, 'Held-out tasks of the final evaluation.')
    eval_steps: int = setting(3, 'Policy-gradient steps scored at evaluation (the paper: 3).')
    eval_lr: float = setting(0.0, 'Size of the first policy-gradient step at curve points, and '
                             'at the final evaluation when `eval_lr_grid` is empty, for MAML '
                             'and the baselines alike (0: `inner_lr`; the authors\' point test: '
                             'the MAML run\'s training step).')
    eval_lr_grid: tuple[float, ...] = setting(
        FIRST_STEPS, 'First step sizes each policy chooses from at the final evaluation: MAML, '
        'the pre-trained policy and the random initialization are each scored at the one (or '
        'the shared step of `eval_lr`, always a candidate) that gives it the best mean return '
        'after one step on `meta_batch_size` selection tasks, drawn apart from the held-out '
        'ones; later steps are `eval_lr_decay` times it. The authors\' half-cheetah test gave '
        'each policy its own step (MAML 0.1, pre-trained 0.2, random 1.0). Empty '
        '(`eval_lr_grid`=""): every policy at the shared step, as their point test.')
    eval_lr_decay: float = setting(0.5, 'Size of each later evaluation step as a fraction of '
                                   'the first (the authors\' test scripts, rllab\'s VPG: 0.5; '
                                   '1: every step the same).')
    eval_rollouts: int = setting(0, 'Rollouts per task for each evaluation step and curve point '
                                 '(0: 4000 time steps\' worth, as the authors\' test scripts: '
                                 '4000 / `horizon`, at least `rollouts`; 40 for navigation2d).')
    eval_every: int = setting(25, 'Meta-updates between curve points (return after 0 and 1 '
                              'steps on `meta_batch_size` held-out tasks).')
    checkpoint_every: int = setting(10, 'Meta-updates between checkpoints.')
    seed: int = setting(0, 'Seed of the initialization, the training tasks and the rollouts.')

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        checks.one_of("env", self.env, ENVS)
        checks.one_of("outer", self.outer, OUTERS)
        checks.one_of("activation", self.activation, ACTIVATIONS)
        for name in ("steps", "meta_batch_size", "horizon", "inner_steps", "cg_iterations",
                     "ppo_epochs", "eval_steps", "eval_every", "checkpoint_every"):
            checks.count(name, getattr(self, name))
        for name in ("rollouts", "eval_tasks"):
            checks.count(name, getattr(self, name), minimum=2)
        for name in ("inner_lr", "gamma", "max_kl", "outer_lr", "eval_lr_decay"):
            checks.positive(name, getattr(self, name))
        checks.positive("eval_lr", self.eval_lr, allow_zero=True)
        object.__setattr__(self, "eval_lr_grid", tuple(self.eval_lr_grid))
        for value in self.eval_lr_grid:
            checks.positive("eval_lr_grid", value)
        if self.eval_rollouts:
            checks.count("eval_rollouts", self.eval_rollouts, minimum=2)
        checks.positive("max_minutes", self.max_minutes, allow_zero=True)
        for name in ("first_order", "pretrain", "normalize_actions"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be true or false, got {getattr(self, name)!r}")
        for width in self.hidden:
            checks.count("hidden", width)
        self.environment()          # refuses a half-cheetah without `normalize_actions`

    def evaluation_rollouts(self) -> int:
        """Rollouts per task of each evaluation step (``eval_rollouts``, or its default)."""
        return self.eval_rollouts or max(self.rollouts, EVAL_SAMPLES // self.horizon)

    def evaluation_step_sizes(self, steps: int, first: float | None = None) -> tuple[float, ...]:
        """The sizes of evaluation steps 1..``steps``: the first ``first`` (default: the shared
        step, ``eval_lr`` or ``inner_lr``), each later one ``eval_lr_decay`` times it."""
        first = first or self.eval_lr or self.inner_lr
        return ((first,) + (first * self.eval_lr_decay,) * (steps - 1))[:steps]

    def first_step_candidates(self) -> tuple[float, ...]:
        """The first steps the final evaluation chooses from per policy: ``eval_lr_grid`` and
        the shared step, ascending; empty: every policy takes the shared step."""
        if not self.eval_lr_grid:
            return ()
        return tuple(sorted(set(self.eval_lr_grid) | {self.evaluation_step_sizes(1)[0]}))

    def environment(self):
        """The run's task family (:func:`tfmeta.rl.envs.get`)."""
        return envs.get(self.env, self.normalize_actions)

    def to_json(self) -> dict:
        """The settings as JSON stores them (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}
