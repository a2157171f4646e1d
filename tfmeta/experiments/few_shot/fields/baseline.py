"""The pre-trained baseline's field: its plain mini-batches.

`batch_size` set away from its default is refused on another learner.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting

BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class BaselineFields:
    """Pre-training an ordinary classifier over every meta-train class."""
    batch_size: int = setting(BATCH_SIZE,
        '`algorithm`=baseline: images per training mini-batch, drawn epoch by epoch from every '
        'image of the meta-train classes (Chen et al. 2019: 16; RFS: 64); each update is one '
        'mini-batch.')

    def check_block(self, spec=None) -> None:
        checks.count("batch_size", self.batch_size)
        refuse_unused(self, ["batch_size"] if self.batch_size != BATCH_SIZE else [])
