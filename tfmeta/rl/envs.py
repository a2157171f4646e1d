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


def get(name: str, normalize_actions: bool = False) -> Environment:
    """The environment called ``name``; ``normalize_actions``: navigation2d with the policy's
    actions in [-1, 1] (:data:`tfmeta.rl.navigation.NORMALIZED`; the half-cheetah's are
    already). One ``ValueError`` line for an unknown name or a cheetah normalized."""
    env = ENVS[checks.one_of("env", name, NAMES)]
    if not normalize_actions:
        return env
    if env is not navigation.ENV:
        raise ValueError(f"`normalize_actions` applies to navigation2d; {name}'s actions are "
                         "already in [-1, 1]")
    return navigation.NORMALIZED
