"""The pre-trained baseline's fields: its plain mini-batches, and how it scores an episode.

Each, set away from its default, is refused on another learner. The fine-tuning
head's settings are read by `baseline_head` finetune only; a run of another head
keeps them, so it can be scored with that head later without retraining.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting
from tfmeta.metric.logistic import FINETUNE_LR, FINETUNE_STEPS

BATCH_SIZE = 64
BASELINE_HEADS = ("centroid", "logistic", "finetune")
BASELINE_OPTIMIZERS = ("adam", "sgd")
MOMENTUM = 0.9   # RFS's SGD


@dataclasses.dataclass(frozen=True)
class BaselineFields:
    """Pre-training an ordinary classifier over every meta-train class."""
    batch_size: int = setting(BATCH_SIZE,
        '`algorithm`=baseline: images per training mini-batch, drawn epoch by epoch from every '
        'image of the meta-train classes (Chen et al. 2019: 16; RFS: 64); each update is one '
        'mini-batch.')
    baseline_optimizer: str = setting("adam",
        '`algorithm`=baseline: the optimizer at `outer_lr` under its schedule: adam, or sgd '
        '(momentum 0.9, as RFS: `outer_lr`=0.05 with `weight_decay`=5e-4).',
        choices=BASELINE_OPTIMIZERS)
    weight_decay: float = setting(0.0,
        '`algorithm`=baseline: L2 weight decay added to every weight\'s gradient, as '
        'torch\'s SGD applies it (RFS: 5e-4; 0: none).')
    baseline_head: str = setting("centroid",
        "`algorithm`=baseline: how an episode is scored from the frozen embedding's "
        'L2-normalized support features (the classifier over the training classes unused): '
        'centroid (the nearest class mean; SimpleShot), logistic (a logistic regression fit '
        'on the support features by 100 gradient steps in the graph, L2 weight 0.2; RFS) or '
        'finetune (a new linear head imprinted with the normalized class means, then '
        '`finetune_steps` gradient steps of cross-entropy at `finetune_lr`, the embedding '
        "frozen; Chen et al.'s Baseline); it changes no trained weight.",
        choices=BASELINE_HEADS)
    finetune_steps: int = setting(FINETUNE_STEPS,
        '`baseline_head`=finetune: full-batch gradient steps of the new head on an episode\'s '
        'support features (0: the imprinted head, cosine to the normalized class means).')
    finetune_lr: float = setting(FINETUNE_LR,
        '`baseline_head`=finetune: the rate of those steps (below 2 descends on unit '
        'features).')

    def check_block(self, spec=None) -> None:
        checks.count("batch_size", self.batch_size)
        check_head(self.baseline_head, self.finetune_steps, self.finetune_lr)
        checks.one_of("baseline_optimizer", self.baseline_optimizer, BASELINE_OPTIMIZERS)
        checks.positive("weight_decay", self.weight_decay, allow_zero=True)
        refuse_unused(self, (["batch_size"] if self.batch_size != BATCH_SIZE else [])
                      + (["baseline_optimizer"] if self.baseline_optimizer != "adam" else [])
                      + (["weight_decay"] if self.weight_decay else [])
                      + (["baseline_head"] if self.baseline_head != "centroid" else [])
                      + (["finetune_steps"] if self.finetune_steps != FINETUNE_STEPS else [])
                      + (["finetune_lr"] if self.finetune_lr != FINETUNE_LR else []))


def check_head(baseline_head: str | None = None, finetune_steps: int | None = None,
               finetune_lr: float | None = None) -> None:
    """Refuses a scoring head's value out of range, in one line (None: not given)."""
    if baseline_head is not None:
        checks.one_of("baseline_head", baseline_head, BASELINE_HEADS)
    if finetune_steps is not None:
        checks.count("finetune_steps", finetune_steps, minimum=0)
    if finetune_lr is not None:
        checks.positive("finetune_lr", finetune_lr)
