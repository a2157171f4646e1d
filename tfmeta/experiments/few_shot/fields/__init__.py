"""The few-shot config's fields by family, as frozen dataclass blocks.

:class:`tfmeta.experiments.few_shot.FewShotConfig` inherits every block, so
its fields stay flat: each keeps its name, default, help and flag, and
``config.json`` is one flat dict. A learner
(:class:`tfmeta.experiments.few_shot.learners.LearnerSpec`) names the option
blocks that apply to it; each block's ``check_block`` checks its fields and
refuses its switches where they do not apply.

* :mod:`.shared` -- every learner's: :class:`DataFields`, :class:`EpisodeFields`,
  :class:`TrainingFields`;
* :mod:`.inner_loop` -- the gradient family's: :class:`InnerLoopFields`;
* :mod:`.megan` -- MeGAN's: :class:`MeganFields`;
* :mod:`.metric` -- the metric learners': :class:`MetricFields`;
* :mod:`.reptile` -- Reptile's: :class:`ReptileFields`;
* :mod:`.baseline` -- the pre-trained baseline's: :class:`BaselineFields`.
"""

from tfmeta.experiments.few_shot.fields.baseline import BaselineFields
from tfmeta.experiments.few_shot.fields.inner_loop import ADAPTS, STEP_WEIGHTS, InnerLoopFields
from tfmeta.experiments.few_shot.fields.megan import (CONDITIONINGS, MEGAN_FIELDS, OUTER_LOSSES,
                                                      MeganFields)
from tfmeta.experiments.few_shot.fields.metric import MetricFields
from tfmeta.experiments.few_shot.fields.reptile import INNER_OPTIMIZERS, ReptileFields
from tfmeta.experiments.few_shot.fields.shared import (DATASETS, OUTER_LR_SCHEDULES, POOLINGS,
                                                       SPLITS, DataFields, EpisodeFields,
                                                       TrainingFields)

SHARED_BLOCKS = (DataFields, EpisodeFields, TrainingFields)
OPTION_BLOCKS = (InnerLoopFields, MeganFields, MetricFields, ReptileFields, BaselineFields)

__all__ = ["ADAPTS", "BaselineFields", "CONDITIONINGS", "DATASETS", "INNER_OPTIMIZERS",
           "MEGAN_FIELDS", "OPTION_BLOCKS",
           "OUTER_LOSSES", "OUTER_LR_SCHEDULES", "POOLINGS", "SHARED_BLOCKS", "SPLITS",
           "STEP_WEIGHTS", "DataFields", "EpisodeFields", "InnerLoopFields", "MeganFields",
           "MetricFields", "ReptileFields", "TrainingFields"]
