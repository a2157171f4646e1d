"""The sinusoid experiment's settings (defaults: the MAML paper's, section 5.1).

Example:
    >>> SinusoidConfig(steps=2000, shots=5)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import setting

__all__ = ["SinusoidConfig"]


@dataclasses.dataclass(frozen=True)
class SinusoidConfig:
    """Settings of the sinusoid experiment (defaults: the MAML paper's).

    Raises:
      ValueError: a count below 1 or a non-positive learning rate; the message
        names the field and the value.
    """
    steps: int = setting(70000,
        'Meta-updates of MAML (and updates of the pre-training baseline, which gets the same '
        'number).')
    shots: int = setting(10, 'K: support points per task (the paper uses 5 or 10).')
    meta_batch_size: int = setting(25, 'Tasks per meta-update.')
    inner_lr: float = setting(0.01, 'SGD step size of adaptation (training and evaluation).')
    outer_lr: float = setting(1e-3, 'Adam learning rate of the meta-update and pre-training.')
    train_inner_steps: int = setting(1, 'Inner SGD steps of adaptation in meta-training (the paper: 1).')
    eval_steps: int = setting(10, 'Fine-tuning steps scored at evaluation.')
    eval_tasks: int = setting(600, 'Held-out tasks scored (>= 100 for tight intervals).')
    eval_query: int = setting(100, 'Query points of a held-out task (where the MSE is measured).')
    hidden: tuple = setting((40, 40), 'Hidden layer widths of the regressor (the paper: 40,40).')
    seed: int = setting(0, 'Seed of initialization and of the task stream.')

    def __post_init__(self):
        for name in ("steps", "shots", "meta_batch_size", "train_inner_steps", "eval_steps",
                     "eval_query"):
            checks.count(name, getattr(self, name))
        checks.count("eval_tasks", self.eval_tasks, minimum=2)
        for name in ("inner_lr", "outer_lr"):
            checks.positive(name, getattr(self, name))
        for width in self.hidden:
            checks.count("hidden", width)
