"""The settings of a few-shot classification run: ``FewShotConfig`` and its checks.

The defaults are the README's CPU recipe: 5-way 1-shot second-order MAML on
Omniglot (the classification split, 1200/423 characters, four rotations),
Conv-4, one inner SGD step of 0.4 on the support set, 3000 meta-updates of 16
tasks with Adam at 3e-3 decayed by a cosine to 0, about 30 minutes on a
2-core CPU. The presets (CPU recipes, published settings) are in :mod:`.presets`.

Algorithms: ``maml`` (second order), ``fomaml``, ``metasgd`` (per-parameter
learned rates), ``meta_lstm`` (Ravi & Larochelle's LSTM meta-learner as the inner
optimizer, :mod:`tfmeta.inner_lstm`, input gate starting near ``inner_lr``),
``hsml`` (MAML from an initialization gated per task, :mod:`tfmeta.algorithms.hsml`),
``reptile`` (SGD outer step on ``init - adapted``; the inner steps use the
episode's support and query images). MAML++ (Antoniou et al. 2019) is ``maml``
with ``per_step_lr`` (LSLR), ``per_step_bn`` (per-step batch norm weights and
biases), ``first_order_steps`` (derivative-order annealing),
``step_weights="annealed"`` (multi-step loss) and ``outer_lr_schedule="cosine"``.

MeGAN (paper 001, :mod:`tfmeta.megan`) is MAML with a generator: an N+1-way
Conv-4 (the classes and "fake") adapts on the support set and on generated
images (weighted ``real_weight:fake_weight``, from inner step ``fakes_from``
on), a generator (``conditioning``) adapts with its GAN loss in the same
loop, and the outer loss (``outer_loss``) reaches both initializations;
``first_order`` makes it first order.

Metric learners (:mod:`tfmeta.metric`) learn a comparison instead of an
initialization: ``protonet`` (Snell et al. 2017; ``train_ways`` > ``ways`` as
the paper's 60-way training), ``matching`` (Vinyals et al. 2016; ``fce`` for
full context embeddings), ``relation`` (Sung et al. 2018) and ``siamese``
(Koch et al. 2015). They share the data, episodes, Conv-4 (without its head,
normalized with moving averages), evaluation and export; they train
``meta_batch_size`` episodes per update with Adam at ``outer_lr``, and the
inner-loop settings do not apply to them.

Example:
    >>> config = FewShotConfig(ways=20, shots=5, algorithm="protonet")
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import data_dir_setting, download_setting, setting

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
    dataset: str = setting("omniglot",
        'Classes of the episodes: omniglot (characters x 4 rotations, 28x28), fashion_mnist, '
        'mnist, or folder (`folder`: one sub-folder of images per class, 70% of the classes '
        'train).', choices=DATASETS)
    split: str = setting("classification",
        'Omniglot split: classification (1200 training / 423 test characters, the split the '
        'papers report on) or background (964 background / 659 evaluation characters, paper '
        "000's).", choices=SPLITS)
    folder: str | None = setting(None,
        '`dataset`=folder: a directory with one sub-folder of images per class.')
    data_dir: str | None = data_dir_setting()
    download: bool = download_setting()
    image_size: int = setting(28,
        'Images are resized to this square size (Omniglot in the papers: 28).')
    ways: int = setting(5, 'N: classes per episode (papers: 5 or 20).')
    shots: int = setting(1, 'K: support images per class (papers: 1 or 5).')
    queries: int = setting(15,
        'Query images per class, scored by the meta-loss and by evaluation (papers: 15).')
    algorithm: str = setting("maml",
        'maml: second-order MAML; fomaml: first order; metasgd: learned per-parameter inner '
        'rates; meta_lstm: the LSTM meta-learner of Ravi and Larochelle (learned input and '
        'forget gates, input gate starting at `inner_lr`); hsml: MAML from an initialization '
        'gated per task by a task representation and its soft clusters (Yao et al. 2019); '
        'reptile: inner SGD on support and query images, outer SGD step of `outer_lr` along '
        'init - adapted. MAML++ is maml with `per_step_lr`, `per_step_bn`, '
        '`first_order_steps`, `step_weights`=annealed and `outer_lr_schedule`=cosine. Metric '
        'learners (a Conv-4 embedding trained with Adam at `outer_lr`; the inner-loop flags '
        'do not apply): protonet (class means, squared Euclidean distance), matching (cosine '
        'attention over the support; `fce`), relation (a learned relation module on feature '
        'maps, MSE to one-hot), siamese (same/different pairs; a query takes the class of its '
        'most similar support image). Each metric learner has its own CPU recipe for flags '
        "not given. megan (paper 001): MAML whose N+1-way classifier (the classes and 'fake') "
        "also adapts on a meta-learned generator's images of the support set; its own CPU "
        'recipe (5 inner steps) for flags not given.', choices=ALGORITHMS)
    meta_batch_size: int = setting(16,
        'Episodes (tasks) per meta-update; metric learners: episodes per update.')
    inner_steps: int = setting(1, 'Inner SGD steps on the support set during meta-training.')
    eval_inner_steps: int = setting(3,
        "Inner steps at test time (the curve and trainers.few_shot_eval's default; MAML used "
        '3 and 10).')
    inner_lr: float = setting(0.4,
        "Inner SGD learning rate (Meta-SGD, `per_step_lr`: the learned rates' initial value).")
    outer_lr: float = setting(3e-3,
        "Outer learning rate: Adam's (maml, fomaml, metasgd; papers: 1e-3) or Reptile's SGD "
        'step size.')
    outer_lr_schedule: str = setting("cosine",
        'constant, cosine (MAML++: decays to 0 at `steps`) or linear (to 0 at `steps`). With '
        'a decay, `steps` cannot change when resuming.', choices=OUTER_LR_SCHEDULES)
    per_step_lr: bool = setting(False,
        'MAML++ LSLR: a learned inner rate per parameter tensor and inner step (maml, '
        'fomaml).')
    per_step_bn: bool = setting(False,
        'MAML++ per-step batch norm: learned normalization weights and biases for every inner '
        "step (the statistics are always the batch's own; maml, fomaml, metasgd).")
    first_order_steps: int = setting(0,
        'MAML++ derivative-order annealing: the first N meta-updates are first order (maml '
        'only; 0: off).')
    step_weights: str = setting("final",
        "Meta-loss over inner steps: final (MAML: the last step's query loss), uniform, or "
        'annealed (MAML++ multi-step loss: uniform decaying to final over `anneal_steps`).', choices=STEP_WEIGHTS)
    anneal_steps: int = setting(1000, 'Meta-updates of the annealed multi-step loss.')
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
    first_order: bool = setting(False,
        '`algorithm`=megan: first-order meta-gradient (needs `outer_loss`=hybrid or fakes; '
        'taken as hybrid when not given).')
    conditioning: str = setting("image",
        '`algorithm`=megan: what the generator is conditioned on: image (the support image it '
        "augments; the paper's most stable), prototype (its class's mean encoder features), "
        'label (one-hot) or none (noise only).', choices=CONDITIONINGS)
    real_weight: float = setting(3.0,
        "`algorithm`=megan: weight of the real support images in the classifier's inner loss "
        "(paper: 3, against `fake_weight`'s 1).")
    fake_weight: float = setting(1.0,
        "`algorithm`=megan: weight of the generated images (labelled 'fake') in the "
        "classifier's inner loss (paper: 1, against `real_weight`'s 3).")
    fakes_from: int = setting(2,
        '`algorithm`=megan: the first inner step (0-based) whose classifier loss includes '
        'generated images (paper: 2, the third of five); must be below `inner_steps`.')
    outer_loss: str = setting("real",
        '`algorithm`=megan: the meta-loss: real (the adapted classifier on the real queries, '
        "for both players; the paper's best), fakes (plus the adapted generator's images "
        "labelled fake) or hybrid (the generator's is its GAN loss against the adapted "
        'classifier).', choices=OUTER_LOSSES)
    generator_inner_lr: float = setting(0.4,
        "`algorithm`=megan: the generator's inner SGD rate (paper: 0.4 gave realistic images, "
        '0.001 not).')
    generator_filters: int = setting(32, "`algorithm`=megan: the generator's base width.")
    noise_dim: int = setting(32, "`algorithm`=megan: size of the generator's noise vector.")
    filters: int = setting(64, 'Conv-4 filters per block (papers: 64).')
    pooling: str = setting("stride",
        "Conv-4 down-sampling: stride (stride-2 convolutions, MAML's Omniglot net) or max "
        '(2x2 max-pool).', choices=POOLINGS)
    steps: int = setting(3000, 'Total meta-updates of the run.')
    seed: int = setting(0, 'Seed of initialization and episode stream.')
    checkpoint_every: int = setting(100, 'Meta-updates between checkpoints.')
    keep_checkpoints: int = setting(3, 'Newest checkpoints kept.')
    eval_every: int = setting(250,
        'Meta-updates between curve points (held-out accuracy, curve.json and curve.png).')
    eval_episodes: int = setting(100,
        'Held-out episodes per curve point (the same episodes every time; the final score: '
        'trainers.few_shot_eval with 600).')
    summary_every: int = setting(10, 'Meta-updates between TensorBoard scalars.')

    def __post_init__(self):
        checks.one_of("dataset", self.dataset, DATASETS)
        checks.one_of("split", self.split, SPLITS)
        checks.one_of("algorithm", self.algorithm, ALGORITHMS)
        checks.one_of("step_weights", self.step_weights, STEP_WEIGHTS)
        checks.one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES)
        checks.one_of("pooling", self.pooling, POOLINGS)
        checks.one_of("conditioning", self.conditioning, CONDITIONINGS)
        checks.one_of("outer_loss", self.outer_loss, OUTER_LOSSES)
        checks.positive("real_weight", self.real_weight)
        checks.positive("fake_weight", self.fake_weight)
        checks.positive("generator_inner_lr", self.generator_inner_lr)
        checks.count("fakes_from", self.fakes_from, minimum=0)
        for name in _COUNTS:
            checks.count(name, getattr(self, name))
        checks.count("steps", self.steps, minimum=0)
        checks.count("first_order_steps", self.first_order_steps, minimum=0)
        checks.count("seed", self.seed, minimum=0)
        checks.positive("inner_lr", self.inner_lr)
        checks.positive("outer_lr", self.outer_lr)
        if self.ways < 2:
            raise ValueError(f"`ways` must be at least 2, got {self.ways}")
        checks.count("train_ways", self.train_ways, minimum=0)
        checks.count("train_queries", self.train_queries, minimum=0)
        self._check_family()
        if self.dataset == "folder" and not self.folder:
            raise ValueError("`dataset`=folder needs `folder`=DIR (a directory of class folders)")
        if self.first_order_steps and self.algorithm != "maml":
            raise ValueError(f"`first_order_steps` (derivative-order annealing) applies to "
                             f"`algorithm`=maml, not {self.algorithm!r}")
        if self.per_step_bn and self.algorithm == "reptile":
            raise ValueError("`per_step_bn` (MAML++ per-step batch norm weights and biases) "
                             "applies to maml, fomaml and metasgd, not 'reptile'")
        if self.algorithm == "meta_lstm" and not 0.0 < self.inner_lr < 1.0:
            raise ValueError(f"`algorithm`=meta_lstm: `inner_lr`={self.inner_lr} is the input "
                             f"gate's starting value, a sigmoid: it must be in (0, 1)")
        if self.per_step_lr and self.algorithm in ("metasgd", "meta_lstm", "reptile"):
            raise ValueError(f"`per_step_lr` (MAML++ LSLR) applies to maml and fomaml, not "
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
            given = [f"`{name}`={getattr(self, name)}" for name in MEGAN_FIELDS
                     if getattr(self, name) != defaults[name].default]
            if given:
                hint = (" (first-order MAML is `algorithm`=fomaml)"
                        if given == ["`first_order`=True"] else "")
                verb = "applies" if len(given) == 1 else "apply"
                raise ValueError(f"{', '.join(given)} {verb} to `algorithm`=megan, not "
                                 f"{self.algorithm!r}{hint}")
            return
        if self.inner_steps <= self.fakes_from:
            raise ValueError(f"`algorithm`=megan: `inner_steps`={self.inner_steps} must exceed "
                             f"`fakes_from`={self.fakes_from} (the first inner step with "
                             "generated images, 0-based), or no generated image ever enters "
                             "the inner loop")
        if self.first_order and self.outer_loss == "real":
            raise ValueError("`algorithm`=megan `first_order`: with `outer_loss`=real the "
                             "generator gets no first-order meta-gradient (the real query loss "
                             "reaches it only through the classifier's inner gradients); use "
                             "`outer_loss`=hybrid (its GAN loss) or `outer_loss`=fakes")

    def _check_family(self) -> None:
        self._check_megan()
        if self.metric:
            gradient_only = [f"`{name}`" for name in ("per_step_lr", "per_step_bn")
                             if getattr(self, name)]
            if self.first_order_steps:
                gradient_only.append("`first_order_steps`")
            if gradient_only:
                raise ValueError(f"{', '.join(gradient_only)} apply to the gradient-based "
                                 f"learners (maml, fomaml, metasgd), not {self.algorithm!r}")
        elif self.train_ways and self.train_ways != self.ways:
            raise ValueError(f"`train_ways`={self.train_ways} applies to the metric learners "
                             f"({', '.join(METRIC_ALGORITHMS)}): {self.algorithm!r} learns a "
                             f"{self.ways}-way head")
        elif self.train_queries and self.train_queries != self.queries:
            raise ValueError(f"`train_queries`={self.train_queries} applies to the metric "
                             f"learners ({', '.join(METRIC_ALGORITHMS)}); {self.algorithm!r} "
                             f"trains and tests with `queries`")
        if self.train_ways and self.train_ways < 2:
            raise ValueError(f"`train_ways` must be 0 (as `ways`) or at least 2, got "
                             f"{self.train_ways}")
        if self.fce and self.algorithm != "matching":
            raise ValueError(f"`fce` (full context embeddings) applies to `algorithm`=matching, "
                             f"not {self.algorithm!r}")

    @property
    def megan(self) -> bool:
        """Whether the run is MeGAN (a generator beside the classifier)."""
        return self.algorithm == "megan"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


MEGAN_FIELDS = ("first_order", "conditioning", "real_weight", "fake_weight", "fakes_from",
                "outer_loss", "generator_inner_lr", "generator_filters", "noise_dim")
