"""The task families of :mod:`tfmeta.rl` by name: the ``env`` setting's choices.

Example:
    >>> env = get("cheetah_vel")
    >>> env.observation_dim, env.action_dim, env.horizon
    (17, 6, 200)
"""

from __future__ import annotations

from tfmeta import checks
from tfmeta.rl import cheetah, navigation
from tfmeta.rl.environment import Environment

ENVS: dict[str, Environment] = {
    env.name: env for env in (navigation.ENV, cheetah.DIRECTION, cheetah.VELOCITY)}
NAMES = tuple(ENVS)


def get(name: str, normalize_actions: bool = True) -> Environment:
    """The environment called ``name``. ``normalize_actions`` (the authors' rllab
    ``normalize``): the policy acts in [-1, 1]; for navigation2d that is
    :data:`tfmeta.rl.navigation.NORMALIZED`, off its raw-move :data:`~tfmeta.rl.navigation.ENV`;
    the half-cheetah's actions are in [-1, 1] only. One ``ValueError`` line for an unknown name
    or a half-cheetah without it."""
    env = ENVS[checks.one_of("env", name, NAMES)]
    if env is not navigation.ENV:
        if not normalize_actions:
            raise ValueError(f"`normalize_actions`=false applies to navigation2d; {name}'s "
                             "actions are always in [-1, 1]")
        return env
    return navigation.NORMALIZED if normalize_actions else env
