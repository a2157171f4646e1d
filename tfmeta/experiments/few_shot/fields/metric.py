"""The metric learners' fields: their training episodes, Matching networks' FCE and scale.

`train_ways` and `train_queries` set to other values than 0 or `ways` /
`queries`, `fce` and a `matching_scale` other than 1 are refused on a learner
they do not apply to; `fce_steps` is ignored there.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting


@dataclasses.dataclass(frozen=True)
class MetricFields:
    """Training episodes of their own, and full context embeddings."""
    train_ways: int = setting(0,
        'Metric learners: classes per training episode (0: `ways`; Prototypical networks '
        'train 60-way to test 5-way).')
    train_queries: int = setting(0,
        'Metric learners: query images per class of a training episode (0: `queries`; the '
        'prototypical recipe: 5).')
    fce: bool = setting(False,
        '`algorithm`=matching: full context embeddings (a bidirectional LSTM over the support '
        'set, an attention LSTM per query).')
    fce_steps: int = setting(5, '`fce`: processing steps of the attention LSTM.')
    matching_scale: float = setting(1.0,
        '`algorithm`=matching: the cosine similarities are multiplied by this before the '
        "attention's softmax. 1 is the paper's formula; on the non-negative Conv-4 features "
        "it caps the right support's attention at 40.5% (5-way) and plateaus near 89% on "
        'Omniglot 5-way 1-shot; 10 reaches 96% in the CPU recipe '
        '(docs/results/fidelity.md).')

    @property
    def training_ways(self) -> int:
        """N of the training episodes."""
        return self.train_ways or self.ways

    @property
    def training_queries(self) -> int:
        """Queries per class of the training episodes."""
        return self.train_queries or self.queries

    def check_block(self, spec=None) -> None:
        checks.count("train_ways", self.train_ways, minimum=0)
        checks.count("train_queries", self.train_queries, minimum=0)
        checks.count("fce_steps", self.fce_steps)
        if not self.matching_scale > 0:
            raise ValueError(f"`matching_scale` must be > 0, got {self.matching_scale}")
        given = [name for name, value, same in (("train_ways", self.train_ways, self.ways),
                                                ("train_queries", self.train_queries,
                                                 self.queries))
                 if value and value != same]
        given += ["fce"] if self.fce else []
        given += ["matching_scale"] if self.matching_scale != 1.0 else []
        refuse_unused(self, given, notes={
            "train_ways": f"{self.algorithm!r} learns a {self.ways}-way head",
            "train_queries": f"{self.algorithm!r} trains and tests with `queries`"})
        if self.train_ways and self.train_ways < 2:
            raise ValueError(f"`train_ways` must be 0 (as `ways`) or at least 2, got "
                             f"{self.train_ways}")
