"""The pre-trained baseline's fields: its plain mini-batches, and how it scores an episode.

Each, set away from its default, is refused on another learner.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting

BATCH_SIZE = 64
BASELINE_HEADS = ("centroid", "logistic")


@dataclasses.dataclass(frozen=True)
class BaselineFields:
    """Pre-training an ordinary classifier over every meta-train class."""
    batch_size: int = setting(BATCH_SIZE,
        '`algorithm`=baseline: images per training mini-batch, drawn epoch by epoch from every '
        'image of the meta-train classes (Chen et al. 2019: 16; RFS: 64); each update is one '
        'mini-batch.')
    baseline_head: str = setting("centroid",
        "`algorithm`=baseline: how an episode is scored from the frozen embedding's "
        'L2-normalized support features (the classifier over the training classes unused): '
        'centroid (the nearest class mean; SimpleShot) or logistic (a logistic regression fit '
        'on the support features by 100 gradient steps in the graph, L2 weight 0.2; RFS); '
        'it changes no trained weight.',
        choices=BASELINE_HEADS)

    def check_block(self, spec=None) -> None:
        checks.count("batch_size", self.batch_size)
        checks.one_of("baseline_head", self.baseline_head, BASELINE_HEADS)
        refuse_unused(self, (["batch_size"] if self.batch_size != BATCH_SIZE else [])
                      + (["baseline_head"] if self.baseline_head != "centroid" else []))
