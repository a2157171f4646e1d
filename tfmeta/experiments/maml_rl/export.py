"""Exports a MAML-RL run's meta-learned policy as a SavedModel with ``adapt_and_act``.

Example:
    >>> export_policy("runs/nav", "exports/nav/1")
"""

from __future__ import annotations

from tfmeta import checkpoint_state
from tfmeta.experiments import rundir
from tfmeta.experiments.maml_rl.build import build
from tfmeta.experiments.maml_rl.config import LEGACY, MamlRLConfig
from tfmeta.savedmodel.common import save_module
from tfmeta.savedmodel.policy import PolicyModule


def export_policy(workdir: str, path: str) -> dict:
    """Writes the run's MAML policy, adapting as in training (one step of ``inner_lr``, the
    run's ``gamma``), to the SavedModel directory ``path``; returns its metadata.

    Raises:
      FileNotFoundError: ``workdir`` holds no checkpoint.
    """
    config = rundir.read_config(MamlRLConfig, workdir, what="MAML-RL run", legacy=LEGACY)
    setup = build(config)
    latest = checkpoint_state.latest_checkpoint(workdir)
    if latest is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint (checkpoints/ is empty)")
    setup.checkpoint.restore(latest).expect_partial()   # a time budget's seconds are not needed
    module = PolicyModule(setup.maml.model, inner_lr=config.inner_lr, gamma=config.gamma)
    metadata = {"kind": "maml_rl_policy", "env": config.env,
                "normalize_actions": config.normalize_actions,
                "step": int(setup.maml.step.numpy()),
                "inner_lr": config.inner_lr, "gamma": config.gamma,
                "observation_dim": module.obs_dim, "action_dim": module.act_dim,
                "signatures": ["adapt_and_act", "act"]}
    save_module(module, path, metadata)
    return metadata
