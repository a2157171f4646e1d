"""Reptile's fields: its inner optimizer and its training episodes (Nichol et al. 2018).

The paper's runs (openai/supervised-reptile, README: 5-way 1-shot Omniglot)
adapt with Adam (beta1 = 0) at 1e-3 on mini-batches of 10 drawn from 10
images per class, 5 inner steps; at test 50 Adam steps on the support set.
The defaults keep the plain form (SGD, the whole episode at every step);
the `paper` and `cpu` presets set the paper's. Every field is refused, set
away from its default, on another learner.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting

INNER_OPTIMIZERS = ("sgd", "adam", "adam_carried")


@dataclasses.dataclass(frozen=True)
class ReptileFields:
    """The inner optimizer and the inner steps' mini-batches."""
    inner_optimizer: str = setting("sgd",
        "`algorithm`=reptile: the inner optimizer at `inner_lr`, in training and at test: sgd; "
        "adam (beta1 = 0, beta2 = 0.999, epsilon 1e-8: the Reptile paper's; its moments start "
        'from zero for every task); or adam_carried (the same Adam with its moments carried '
        "as the paper's code does: they run on from task to task in training, here as the "
        'mean over the tasks of each meta-update, and every test adaptation starts from '
        'them).', choices=INNER_OPTIMIZERS)
    inner_batch: int = setting(0,
        '`algorithm`=reptile: images per inner step in training, drawn without replacement '
        "from the training episode's images and reshuffled when used up (0: every image at "
        'every step; the paper: 10).')
    train_shots: int = setting(0,
        '`algorithm`=reptile: images per class of a training episode, all of them for the '
        'inner steps (0: `shots` + `queries`; the paper: 10).')

    def check_block(self, spec=None) -> None:
        checks.one_of("inner_optimizer", self.inner_optimizer, INNER_OPTIMIZERS)
        checks.count("inner_batch", self.inner_batch, minimum=0)
        checks.count("train_shots", self.train_shots, minimum=0)
        given = [name for name, off in (("inner_optimizer", "sgd"), ("inner_batch", 0),
                                        ("train_shots", 0)) if getattr(self, name) != off]
        refuse_unused(self, given)
        if self.train_shots and self.train_shots <= self.shots:
            raise ValueError(f"`train_shots`={self.train_shots} must be above `shots`="
                             f"{self.shots} (or 0: `shots` + `queries`)")
        if self.inner_batch and self.inner_batch > self.training_images:
            raise ValueError(f"`inner_batch`={self.inner_batch} is more than the "
                             f"{self.training_images} images of a training episode "
                             f"({self.ways} ways x {self.training_images // self.ways})")

    @property
    def training_images(self) -> int:
        """Images of one Reptile training episode (all of them feed the inner steps)."""
        return self.ways * (self.train_shots or self.shots + self.queries)
