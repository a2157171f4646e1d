"""The settings of a few-shot classification run: ``FewShotConfig`` and its checks.

The defaults are the README's CPU recipe: 5-way 1-shot second-order MAML on
Omniglot (the classification split, 1200/423 characters, four rotations),
Conv-4, one inner SGD step of 0.4 on the support set, 3000 meta-updates of 16
tasks with Adam at 3e-3 decayed by a cosine to 0, about 30 minutes on a
2-core CPU. :data:`PAPER` holds the published settings of each
N-way K-shot setting (meta-batch sizes, steps, iterations) for GPU runs.

Algorithms: ``maml`` (second order), ``fomaml``, ``metasgd`` (per-parameter
learned rates), ``meta_lstm`` (Ravi & Larochelle's LSTM meta-learner as the inner
optimizer, :mod:`tfmeta.inner_lstm`, input gate starting near ``inner_lr``),
``hsml`` (MAML from an initialization gated per task by a task representation
and its soft clusters, :mod:`tfmeta.algorithms.hsml`), ``reptile`` (SGD outer
step on ``init - adapted``; the inner
steps use the episode's support and query images, as Reptile trains on all of
a task's data). MAML++ (Antoniou et al. 2019) is ``maml`` with its options:
``per_step_lr`` (LSLR), ``per_step_bn`` (per-step batch norm weights and biases;
the statistics are always the batch's own), ``first_order_steps``
(derivative-order annealing),
``step_weights="annealed"`` (multi-step loss) and ``outer_lr_schedule="cosine"``.

MeGAN (paper 001, :mod:`tfmeta.megan`) is MAML with a generator: an N+1-way
Conv-4 (the classes and "fake") adapts on the support set and on generated
images (weighted ``real_weight:fake_weight``, from inner step ``fakes_from``
on), a generator (``conditioning``) adapts with its GAN loss in the same
loop, and the outer loss (``outer_loss``) reaches both initializations;
``first_order`` makes it first order. :data:`MEGAN_CPU` is its CPU recipe.

Metric learners (:mod:`tfmeta.metric`) learn a comparison instead of an
initialization: ``protonet`` (Snell et al. 2017; ``train_ways`` > ``ways`` as
the paper's 60-way training), ``matching`` (Vinyals et al. 2016; ``fce`` for
full context embeddings), ``relation`` (Sung et al. 2018) and ``siamese``
(Koch et al. 2015). They share the data, episodes, Conv-4 (without its head,
normalized with moving averages), evaluation and export; they train
``meta_batch_size`` episodes per update with Adam at ``outer_lr``, and the
inner-loop settings do not apply to them. :data:`METRIC_CPU` holds their CPU
recipes (what ``trainers.few_shot`` takes for flags not given).

Example:
    >>> config = FewShotConfig(ways=20, shots=5, **PAPER[(20, 5)])
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks

GRADIENT_ALGORITHMS = ("maml", "fomaml", "metasgd", "meta_lstm", "hsml", "reptile", "megan")
METRIC_ALGORITHMS = ("protonet", "matching", "relation", "siamese")
ALGORITHMS = GRADIENT_ALGORITHMS + METRIC_ALGORITHMS
SPLITS = ("classification", "background")
DATASETS = ("omniglot", "fashion_mnist", "mnist", "folder")
STEP_WEIGHTS = ("uniform", "final", "annealed")
OUTER_LR_SCHEDULES = ("constant", "cosine", "linear")
POOLINGS = ("stride", "max")
CONDITIONINGS = ("image", "label", "prototype", "none")   # tfmeta.nets.megan.CONDITIONINGS
OUTER_LOSSES = ("real", "fakes", "hybrid")               # tfmeta.megan.OUTER_LOSSES

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "data_dir", "download", "checkpoint_every", "keep_checkpoints",
                    "eval_every", "eval_episodes", "summary_every")

_COUNTS = ("ways", "shots", "queries", "meta_batch_size", "inner_steps", "eval_inner_steps",
           "filters", "image_size", "anneal_steps", "fce_steps", "generator_filters",
           "noise_dim", "checkpoint_every",
           "keep_checkpoints",
           "eval_every", "eval_episodes", "summary_every")


@dataclasses.dataclass(frozen=True)
class FewShotConfig:
    """Settings of an N-way K-shot meta-training run (defaults: the CPU recipe)."""
    dataset: str = "omniglot"
    split: str = "classification"
    folder: str | None = None            # dataset="folder": a directory of class folders
    data_dir: str | None = None
    download: bool = True
    image_size: int = 28
    ways: int = 5
    shots: int = 1
    queries: int = 15
    algorithm: str = "maml"
    meta_batch_size: int = 16
    inner_steps: int = 1
    eval_inner_steps: int = 3
    inner_lr: float = 0.4
    outer_lr: float = 3e-3
    outer_lr_schedule: str = "cosine"
    per_step_lr: bool = False
    per_step_bn: bool = False
    first_order_steps: int = 0
    step_weights: str = "final"
    anneal_steps: int = 1000
    train_ways: int = 0                  # metric learners: ways of training episodes (0: ways)
    train_queries: int = 0               # metric learners: training queries per class (0: queries)
    fce: bool = False                    # matching: full context embeddings
    fce_steps: int = 5                   # matching with fce: attention LSTM processing steps
    first_order: bool = False            # megan: first-order meta-gradient
    conditioning: str = "image"          # megan: what the generator is conditioned on
    real_weight: float = 3.0             # megan: inner loss weight of the real support images
    fake_weight: float = 1.0             # megan: ... and of the generated ones
    fakes_from: int = 2                  # megan: first inner step (0-based) with generated images
    outer_loss: str = "real"             # megan: real | fakes | hybrid (paper 001, Figure 6)
    generator_inner_lr: float = 0.4      # megan: the generator's inner SGD rate
    generator_filters: int = 32          # megan: the generator's base width
    noise_dim: int = 32                  # megan: the generator's noise size
    filters: int = 64
    pooling: str = "stride"
    steps: int = 3000
    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    eval_every: int = 250
    eval_episodes: int = 100
    summary_every: int = 10

    def __post_init__(self):
        checks.one_of("dataset", self.dataset, DATASETS, flag=True)
        checks.one_of("split", self.split, SPLITS, flag=True)
        checks.one_of("algorithm", self.algorithm, ALGORITHMS, flag=True)
        checks.one_of("step_weights", self.step_weights, STEP_WEIGHTS, flag=True)
        checks.one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES,
                      flag=True)
        checks.one_of("pooling", self.pooling, POOLINGS, flag=True)
        checks.one_of("conditioning", self.conditioning, CONDITIONINGS, flag=True)
        checks.one_of("outer_loss", self.outer_loss, OUTER_LOSSES, flag=True)
        checks.positive("real_weight", self.real_weight, flag=True)
        checks.positive("fake_weight", self.fake_weight, flag=True)
        checks.positive("generator_inner_lr", self.generator_inner_lr, flag=True)
        checks.count("fakes_from", self.fakes_from, minimum=0, flag=True)
        for name in _COUNTS:
            checks.count(name, getattr(self, name), flag=True)
        checks.count("steps", self.steps, minimum=0, flag=True)
        checks.count("first_order_steps", self.first_order_steps, minimum=0, flag=True)
        checks.count("seed", self.seed, minimum=0, flag=True)
        checks.positive("inner_lr", self.inner_lr, flag=True)
        checks.positive("outer_lr", self.outer_lr, flag=True)
        if self.ways < 2:
            raise ValueError(f"--ways must be at least 2, got {self.ways}")
        checks.count("train_ways", self.train_ways, minimum=0, flag=True)
        checks.count("train_queries", self.train_queries, minimum=0, flag=True)
        self._check_family()
        if self.dataset == "folder" and not self.folder:
            raise ValueError("--dataset=folder needs --folder=DIR (a directory of class folders)")
        if self.first_order_steps and self.algorithm != "maml":
            raise ValueError(f"--first_order_steps (derivative-order annealing) applies to "
                             f"--algorithm=maml, not {self.algorithm!r}")
        if self.per_step_bn and self.algorithm == "reptile":
            raise ValueError("--per_step_bn (MAML++ per-step batch norm weights and biases) "
                             "applies to maml, fomaml and metasgd, not 'reptile'")
        if self.algorithm == "meta_lstm" and not 0.0 < self.inner_lr < 1.0:
            raise ValueError(f"--algorithm=meta_lstm: --inner_lr={self.inner_lr} is the input "
                             f"gate's starting value, a sigmoid: it must be in (0, 1)")
        if self.per_step_lr and self.algorithm in ("metasgd", "meta_lstm", "reptile"):
            raise ValueError(f"--per_step_lr (MAML++ LSLR) applies to maml and fomaml, not "
                             f"{self.algorithm!r}")

    @property
    def metric(self) -> bool:
        """Whether the algorithm is a metric learner (no inner loop)."""
        return self.algorithm in METRIC_ALGORITHMS

    @property
    def training_ways(self) -> int:
        """N of the training episodes."""
        return self.train_ways or self.ways

    @property
    def training_queries(self) -> int:
        """Queries per class of the training episodes."""
        return self.train_queries or self.queries

    def _check_megan(self) -> None:
        if self.algorithm != "megan":
            defaults = FewShotConfig.__dataclass_fields__
            given = [f"--{name}={getattr(self, name)}" for name in MEGAN_FIELDS
                     if getattr(self, name) != defaults[name].default]
            if given:
                hint = (" (first-order MAML is --algorithm=fomaml)"
                        if given == ["--first_order=True"] else "")
                verb = "applies" if len(given) == 1 else "apply"
                raise ValueError(f"{', '.join(given)} {verb} to --algorithm=megan, not "
                                 f"{self.algorithm!r}{hint}")
            return
        if self.inner_steps <= self.fakes_from:
            raise ValueError(f"--algorithm=megan: --inner_steps={self.inner_steps} must exceed "
                             f"--fakes_from={self.fakes_from} (the first inner step with "
                             "generated images, 0-based), or no generated image ever enters "
                             "the inner loop")
        if self.first_order and self.outer_loss == "real":
            raise ValueError("--algorithm=megan --first_order: with --outer_loss=real the "
                             "generator gets no first-order meta-gradient (the real query loss "
                             "reaches it only through the classifier's inner gradients); use "
                             "--outer_loss=hybrid (its GAN loss) or --outer_loss=fakes")

    def _check_family(self) -> None:
        self._check_megan()
        if self.metric:
            gradient_only = [f"--{name}" for name in ("per_step_lr", "per_step_bn")
                             if getattr(self, name)]
            if self.first_order_steps:
                gradient_only.append("--first_order_steps")
            if gradient_only:
                raise ValueError(f"{', '.join(gradient_only)} apply to the gradient-based "
                                 f"learners (maml, fomaml, metasgd), not {self.algorithm!r}")
        elif self.train_ways and self.train_ways != self.ways:
            raise ValueError(f"--train_ways={self.train_ways} applies to the metric learners "
                             f"({', '.join(METRIC_ALGORITHMS)}): {self.algorithm!r} learns a "
                             f"{self.ways}-way head")
        elif self.train_queries and self.train_queries != self.queries:
            raise ValueError(f"--train_queries={self.train_queries} applies to the metric "
                             f"learners ({', '.join(METRIC_ALGORITHMS)}); {self.algorithm!r} "
                             f"trains and tests with --queries")
        if self.train_ways and self.train_ways < 2:
            raise ValueError(f"--train_ways must be 0 (as --ways) or at least 2, got "
                             f"{self.train_ways}")
        if self.fce and self.algorithm != "matching":
            raise ValueError(f"--fce (full context embeddings) applies to --algorithm=matching, "
                             f"not {self.algorithm!r}")

    @property
    def megan(self) -> bool:
        """Whether the run is MeGAN (a generator beside the classifier)."""
        return self.algorithm == "megan"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# Published settings (MAML, Finn et al. 2017, appendix; MAML++ keeps them) for the full-length
# GPU runs: meta-batch sizes, inner steps and rate, iterations; 10 inner steps at test time.
PAPER: dict[tuple[int, int], dict] = {
    (5, 1): dict(meta_batch_size=32, inner_steps=1, inner_lr=0.4, steps=60000,
                 eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (5, 5): dict(meta_batch_size=32, inner_steps=1, inner_lr=0.4, steps=60000,
                 eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (20, 1): dict(meta_batch_size=16, inner_steps=5, inner_lr=0.1, steps=60000,
                  eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (20, 5): dict(meta_batch_size=16, inner_steps=5, inner_lr=0.1, steps=60000,
                  eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
}


MEGAN_FIELDS = ("first_order", "conditioning", "real_weight", "fake_weight", "fakes_from",
                "outer_loss", "generator_inner_lr", "generator_filters", "noise_dim")

# MeGAN (paper 001): five inner steps, generated images from the third (what trainers.few_shot
# takes, over the defaults, for flags not given; --preset=paper: over PAPER's).
MEGAN_PAPER: dict = dict(inner_steps=5, fakes_from=2)
MEGAN_CPU: dict = dict(inner_steps=5, eval_inner_steps=5, fakes_from=2, meta_batch_size=4,
                       outer_lr=3e-3, outer_lr_schedule="cosine", steps=1500, eval_every=250)


# CPU recipes of the metric learners (5-way 1-shot on Omniglot, 2-core CPU; see
# docs/results/few_shot.md): what trainers.few_shot takes, over the defaults, for flags not given.
METRIC_CPU: dict[str, dict] = {
    "protonet": dict(train_ways=60, train_queries=5, meta_batch_size=1, outer_lr=1e-3,
                     outer_lr_schedule="cosine", steps=8000, eval_every=500),
    "matching": dict(meta_batch_size=4, outer_lr=1e-3, outer_lr_schedule="cosine",
                     steps=4000, eval_every=500),
    "relation": dict(meta_batch_size=1, outer_lr=1e-3, outer_lr_schedule="cosine",
                     steps=1500, eval_every=250),
    "siamese": dict(meta_batch_size=4, outer_lr=1e-3, outer_lr_schedule="cosine",
                    steps=3000, eval_every=500),
}

# The metric papers' training settings for full-length GPU runs (any ways/shots; Omniglot):
# Snell et al.: 60-way training episodes with 5 queries per class, Adam 1e-3 (halved every 2000
# episodes in the paper; a cosine here), max-pooled Conv-4; Sung et al.: 19 queries (1-shot),
# Adam 1e-3, max-pool in the first two blocks; Vinyals et al. and Koch et al. give no episode
# schedule for Conv-4, so theirs take the prototypical schedule at the evaluation ways.
METRIC_PAPER: dict[str, dict] = {
    "protonet": dict(train_ways=60, train_queries=5, meta_batch_size=1, outer_lr=1e-3,
                     steps=20000, pooling="max"),
    "matching": dict(meta_batch_size=1, outer_lr=1e-3, steps=20000, pooling="max"),
    "relation": dict(train_queries=19, meta_batch_size=1, outer_lr=1e-3, steps=100000,
                     pooling="max"),
    "siamese": dict(meta_batch_size=1, outer_lr=1e-3, steps=20000, pooling="max"),
}
