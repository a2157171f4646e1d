"""The sinusoid experiment's settings (defaults: the MAML paper's, section 5.1).

Example:
    >>> SinusoidConfig(steps=2000, shots=5)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks

__all__ = ["SinusoidConfig"]


@dataclasses.dataclass(frozen=True)
class SinusoidConfig:
    """Settings of the sinusoid experiment (defaults: the MAML paper's).

    Raises:
      ValueError: a count below 1 or a non-positive learning rate; the message
        names the flag and the value.
    """
    steps: int = 70000            # meta-updates (and pre-training updates)
    shots: int = 10               # K
    meta_batch_size: int = 25
    inner_lr: float = 0.01
    outer_lr: float = 1e-3
    train_inner_steps: int = 1
    eval_steps: int = 10
    eval_tasks: int = 600
    eval_query: int = 100
    hidden: tuple = (40, 40)
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "shots", "meta_batch_size", "train_inner_steps", "eval_steps",
                     "eval_query"):
            checks.count(name, getattr(self, name), flag=True)
        checks.count("eval_tasks", self.eval_tasks, minimum=2, flag=True)
        for name in ("inner_lr", "outer_lr"):
            checks.positive(name, getattr(self, name), flag=True)
        for width in self.hidden:
            checks.count("hidden", width, flag=True)
