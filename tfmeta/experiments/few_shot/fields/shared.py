"""The fields every few-shot learner takes: the data, the episodes, the net and the run.

Each block is a frozen dataclass of fields declared with
:func:`tfmeta.experiments.settings.setting`; :class:`FewShotConfig` inherits
them all, so the fields stay flat (one flag each, one ``config.json``). A
block's ``check_block(config)`` checks its own fields.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.data.augment import AUGMENTS
from tfmeta.experiments.settings import download_setting, setting

SPLITS = ("classification", "background")
BENCHMARK_DATASETS = ("mini_imagenet", "tiered_imagenet", "cifar_fs", "fc100", "cub")
DATASETS = ("omniglot", "fashion_mnist", "mnist", "folder") + BENCHMARK_DATASETS
OUTER_LR_SCHEDULES = ("constant", "cosine", "linear", "step")
POOLINGS = ("stride", "max")
BACKBONES = ("conv4", "resnet12")


@dataclasses.dataclass(frozen=True)
class DataFields:
    """Where the classes of the episodes come from."""
    dataset: str = setting("omniglot",
        'Classes of the episodes: omniglot (characters x 4 rotations, 28x28), fashion_mnist, '
        'mnist, folder (`folder`: one sub-folder of images per class, 70% of the classes '
        'train), or a benchmark read from its files in `data_dir` (docs/datasets.md): '
        'mini_imagenet, tiered_imagenet, cub (84x84 RGB), cifar_fs, fc100 (32x32 RGB), '
        'meta-trained on their train classes, scored on their test classes.',
        choices=DATASETS)
    split: str = setting("classification",
        'Omniglot split: classification (1200 training / 423 test characters, the split the '
        'papers report on) or background (964 background / 659 evaluation characters, paper '
        "000's).", choices=SPLITS)
    folder: str | None = setting(None,
        '`dataset`=folder: a directory with one sub-folder of images per class.')
    data_dir: str | None = setting(None,
        'TFDS data directory (omniglot, mnist, fashion_mnist), or the folder holding a '
        "benchmark's files (mini_imagenet, tiered_imagenet, cifar_fs, fc100, cub; "
        'docs/datasets.md). Default: $TFDS_DATA_DIR, else ../shared/tensorflow_datasets next '
        "to the project if present, else TFDS's default (~/tensorflow_datasets).")
    download: bool = download_setting()
    image_size: int | None = setting(None,
        "Images are resized to this square size (default: the dataset's, as in the papers: "
        '28 for omniglot, mnist, fashion_mnist and folder; 84 for mini_imagenet, '
        'tiered_imagenet and cub; 32 for cifar_fs and fc100).')

    def check_block(self, spec=None) -> None:
        checks.one_of("dataset", self.dataset, DATASETS)
        checks.one_of("split", self.split, SPLITS)
        if self.image_size is not None:
            checks.count("image_size", self.image_size)
        if self.dataset == "folder" and not self.folder:
            raise ValueError("`dataset`=folder needs `folder`=DIR (a directory of class folders)")


@dataclasses.dataclass(frozen=True)
class EpisodeFields:
    """The shape of an episode and of a meta-batch."""
    ways: int = setting(5, 'N: classes per episode (papers: 5 or 20).')
    shots: int = setting(1, 'K: support images per class (papers: 1 or 5).')
    queries: int = setting(15,
        'Query images per class, scored by the meta-loss and by evaluation (papers: 15).')
    meta_batch_size: int = setting(16,
        'Episodes (tasks) per meta-update; metric learners: episodes per update.')
    augment: str = setting("none",
        'Augmentation of every training image (the training episodes\' support and queries; '
        '`algorithm`=baseline: its mini-batches; never the held-out episodes), drawn from the '
        'seed and step: none, crop (pad each side by 8 pixels at 84, 3 at 28, and take a '
        'random window: shifts only, for characters), rfs (RFS\'s: the crop, colour jitter '
        '0.4, a horizontal flip; for photographs) or affine (Koch et al.\'s distortions of '
        'characters: rotation up to 10 degrees, shear 0.3, scale 0.8-1.2, shift 2 pixels at '
        '105, each with probability 1/2).', choices=AUGMENTS)

    def check_block(self, spec=None) -> None:
        for name in ("ways", "shots", "queries", "meta_batch_size"):
            checks.count(name, getattr(self, name))
        checks.one_of("augment", self.augment, AUGMENTS)
        if self.ways < 2:
            raise ValueError(f"`ways` must be at least 2, got {self.ways}")


@dataclasses.dataclass(frozen=True)
class TrainingFields:
    """The net, the outer step, the run's length and what it writes along the way."""
    outer_lr: float = setting(3e-3,
        "Outer learning rate: Adam's (maml, fomaml, metasgd; papers: 1e-3) or Reptile's SGD "
        'step size.')
    outer_lr_schedule: str = setting("cosine",
        'constant, cosine (MAML++: decays to 0 at `steps`), linear (to 0 at `steps`) or step '
        "(divided by 10 after 60% and again after 80% of `steps`: RFS's epochs 60 and 80 of "
        '100). With a decay, `steps` cannot change when resuming.', choices=OUTER_LR_SCHEDULES)
    clip_norm: float = setting(0.0,
        "The outer step's gradient (Reptile: its direction) clipped to this global norm "
        "(0: off; Relation networks' code: 0.5).")
    backbone: str = setting("conv4",
        'The network: conv4 (four 3x3 conv blocks of `filters`; every paper before 2019) or '
        'resnet12 (MetaOptNet and RFS: four residual blocks of `filters` x 1, 2.5, 5 and 10 '
        'channels, 64-160-320-640 at `filters`=64, 12.4M weights; leaky ReLU 0.1, 2x2 '
        'max-pool per block, the spatial mean of the last: tfmeta.nets.resnet12). Batch '
        'statistics in the inner-loop learners, moving averages in the metric learners.',
        choices=BACKBONES)
    filters: int = setting(64, 'Conv-4 filters per block, or the width of ResNet-12\'s first '
        'block (papers: 64).')
    drop_rate: float = setting(0.0,
        '`backbone`=resnet12 of the metric learners and the baseline: dropout in its first '
        'two blocks and DropBlock in its last two at this rate, DropBlock\'s ramped up over '
        'its first 40000 training calls (RFS and MetaOptNet: 0.1; 0: none). Draws are keyed '
        'on the layers\' call counts, saved with the run: it resumes exactly.')
    drop_block_size: int = setting(5,
        "`drop_rate`: DropBlock's square side (RFS: 5 at 84x84, 2 on CIFAR-FS and FC100).")
    pooling: str = setting("stride",
        "Conv-4 down-sampling: stride (stride-2 convolutions, MAML's Omniglot net) or max "
        '(2x2 max-pool).', choices=POOLINGS)
    steps: int = setting(3000, 'Total meta-updates of the run.')
    max_minutes: float = setting(0.0,
        'A wall-clock budget (0: none): the run ends after this many minutes of training '
        '(summed over resumes, curve points excluded) or at `steps`, whichever comes first, '
        'and a cosine or linear `outer_lr_schedule` decays over it (read at max(update / '
        '`steps`, time / budget)): learners compared at exactly equal time. Resumes, but not '
        'bit for bit. Not with `distribute`.')
    seed: int = setting(0, 'Seed of initialization and episode stream.')
    checkpoint_every: int = setting(100, 'Meta-updates between checkpoints.')
    keep_checkpoints: int = setting(3, 'Newest checkpoints kept.')
    eval_every: int = setting(250,
        'Meta-updates between curve points (held-out accuracy, curve.json and curve.png).')
    eval_episodes: int = setting(100,
        'Held-out episodes per curve point (the same episodes every time; the final score: '
        'trainers.few_shot_eval with 600).')
    summary_every: int = setting(10, 'Meta-updates between TensorBoard scalars.')

    def check_block(self, spec=None) -> None:
        checks.one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES)
        checks.one_of("pooling", self.pooling, POOLINGS)
        checks.one_of("backbone", self.backbone, BACKBONES)
        if spec is not None and self.backbone not in spec.backbones:
            raise ValueError(f"`algorithm`={spec.name} builds {', '.join(spec.backbones)} only, "
                             f"not `backbone`={self.backbone}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"`drop_rate` must be in [0, 1), got {self.drop_rate!r}")
        checks.count("drop_block_size", self.drop_block_size)
        if self.drop_rate and (self.backbone != "resnet12"
                               or (spec is not None and spec.family != "metric")):
            raise ValueError(f"`drop_rate`={self.drop_rate:g} applies to `backbone`=resnet12 of "
                             "the metric learners and the baseline (moving-average batch norm; "
                             "an inner loop's net must be a pure function of its weights)")
        if self.backbone == "resnet12" and self.pooling != "stride":
            raise ValueError(f"`pooling`={self.pooling} applies to Conv-4; ResNet-12 max-pools "
                             "every block (leave `pooling` at stride)")
        for name in ("filters", "checkpoint_every", "keep_checkpoints", "eval_every",
                     "eval_episodes", "summary_every"):
            checks.count(name, getattr(self, name))
        checks.count("steps", self.steps, minimum=0)
        checks.count("seed", self.seed, minimum=0)
        checks.positive("outer_lr", self.outer_lr)
        checks.positive("clip_norm", self.clip_norm, allow_zero=True)
        checks.positive("max_minutes", self.max_minutes, allow_zero=True)
