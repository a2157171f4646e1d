"""The settings of a few-shot classification run: ``FewShotConfig``, one block per family.

The defaults are the README's CPU recipe: 5-way 1-shot second-order MAML on
Omniglot (the classification split, 1200/423 characters, four rotations),
Conv-4, one inner SGD step of 0.4 on the support set, 3000 meta-updates of 16
tasks with Adam at 3e-3 decayed by a cosine to 0, about 30 minutes on a
2-core CPU. The presets (CPU recipes, published settings) are in :mod:`.presets`.

The fields come in blocks (:mod:`tfmeta.experiments.few_shot.fields`): the
shared ones (data, episodes, net and run), the gradient family's inner loop
and MAML++ options (``per_step_lr``, ``per_step_bn``, ``first_order_steps``,
``step_weights="annealed"``; with ``outer_lr_schedule="cosine"`` that is
MAML++), MeGAN's generator options, the metric learners' training episodes
and FCE, Reptile's inner optimizer and training mini-batches, and the
pre-trained baseline's ``batch_size``.
:class:`FewShotConfig` inherits them all: one flat dataclass, one flag per
field, one flat ``config.json``. ``algorithm`` names a registered
learner (:mod:`tfmeta.experiments.few_shot.learners`), which says which
option blocks apply to it; every block checks its own fields and refuses its
switches on a learner they do not apply to, then the learner checks what is
its own (MeGAN: ``inner_steps`` above ``fakes_from``).

Example:
    >>> config = FewShotConfig(ways=20, shots=5, algorithm="protonet")
"""

from __future__ import annotations

import dataclasses

from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.fields import (CONDITIONINGS, DATASETS, MEGAN_FIELDS,
                                                OPTION_BLOCKS, OUTER_LOSSES, OUTER_LR_SCHEDULES,
                                                POOLINGS, SHARED_BLOCKS, SPLITS, STEP_WEIGHTS,
                                                BaselineFields, DataFields, EpisodeFields,
                                                InnerLoopFields, MeganFields, MetricFields,
                                                ReptileFields, TrainingFields)
from tfmeta.experiments.settings import setting

__all__ = ["ALGORITHMS", "BLOCKS", "CONDITIONINGS", "DATASETS", "FewShotConfig",
           "GRADIENT_ALGORITHMS", "MEGAN_FIELDS", "METRIC_ALGORITHMS", "OUTER_LOSSES",
           "OUTER_LR_SCHEDULES", "POOLINGS", "RESUMABLE_FIELDS", "SPLITS", "STEP_WEIGHTS"]

# The built-in learners, in the order they registered (the `algorithm` choices).
GRADIENT_ALGORITHMS = learners.names("gradient")
METRIC_ALGORITHMS = learners.names("metric")
ALGORITHMS = learners.names()
BLOCKS = SHARED_BLOCKS + OPTION_BLOCKS

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "max_minutes", "data_dir", "download", "checkpoint_every",
                    "keep_checkpoints", "eval_every", "eval_episodes", "summary_every",
                    "first_order_steps")


def _algorithm_help() -> str:
    def listed(family):
        return "; ".join(f"{n}: {learners.get(n).help}" for n in learners.names(family))
    return (f"{listed('gradient')}. MAML++ is maml with `per_step_lr`, `per_step_bn`, "
            "`first_order_steps`, `step_weights`=annealed and `outer_lr_schedule`=cosine. "
            "Metric learners (a Conv-4 embedding trained with Adam at `outer_lr`; the "
            f"inner-loop flags do not apply): {listed('metric')}. Each metric learner but baseline "
            "has its own CPU recipe for flags not given.")


@dataclasses.dataclass(frozen=True)
class FewShotConfig(BaselineFields, ReptileFields, MetricFields, MeganFields, InnerLoopFields,
                    TrainingFields, EpisodeFields, DataFields):
    """Settings of an N-way K-shot meta-training run (defaults: the CPU recipe)."""
    algorithm: str = setting("maml", _algorithm_help(), choices=ALGORITHMS)

    def __post_init__(self):
        spec = learners.get(self.algorithm)
        for block in BLOCKS:
            block.check_block(self, spec)
        if spec.check is not None:
            spec.check(self)

    @property
    def metric(self) -> bool:
        """Whether the algorithm is a metric learner (no inner loop)."""
        return learners.get(self.algorithm).family == "metric"

    @property
    def megan(self) -> bool:
        """Whether the run is MeGAN (a generator beside the classifier)."""
        return MeganFields in learners.get(self.algorithm).blocks

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
