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


def get(name: str) -> Environment:
    """The environment called ``name``; one ``ValueError`` line for an unknown name."""
    return ENVS[checks.one_of("env", name, NAMES)]
