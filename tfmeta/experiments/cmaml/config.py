"""Settings of a CMAML (or plain MAML) few-shot classification run, checked on creation.

Defaults are the CPU recipe of docs/results/cmaml.md (5-way 1-shot Omniglot,
Conv-4 with 32 filters); :data:`GPU` holds the full-length settings.

Example:
    >>> config = CmamlConfig(algorithm="cmaml", steps=2000, data_dir="../shared/tensorflow_datasets")
    >>> CmamlConfig(threshold=-1.0)
    Traceback (most recent call last):
    ValueError: `threshold` must be a finite number >= 0, got -1.0
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import data_dir_setting, setting

__all__ = ["ALGORITHMS", "DATASETS", "GPU", "RESUMABLE_FIELDS", "CmamlConfig"]

ALGORITHMS = ("cmaml", "maml")
DATASETS = ("omniglot", "folder")
# Settings a resumed run may change: they do not change the meta-updates already taken.
RESUMABLE_FIELDS = ("steps", "eval_episodes", "sharing_pairs", "checkpoint_every", "data_dir",
                    "folder")
# Full-length settings (MAML's 5-way Omniglot recipe, 64 filters); not run on the CPU.
GPU = dict(filters=64, meta_batch_size=32, steps=60000, pretrain_steps=10000,
           eval_inner_steps=10, eval_episodes=600, sharing_pairs=300)


@dataclasses.dataclass(frozen=True)
class CmamlConfig:
    """A run's settings; every field is a flag of ``trainers.cmaml`` of the same name.

    Raises:
      ValueError: one line naming the field, the value and what was expected.
    """
    algorithm: str = setting("cmaml",
        'cmaml: shared Conv-4 + gate + pruned private MLP; maml: the same Conv-4 alone.', choices=ALGORITHMS)
    dataset: str = setting("omniglot",
        'omniglot (offline TFDS copy, classification split, rotations as classes) or folder '
        '(`folder`).', choices=DATASETS)
    folder: str = setting("",
        'With `dataset`=folder: a folder of class sub-folders (70% of the classes meta-train, '
        '30% meta-test).')
    data_dir: str | None = data_dir_setting()
    ways: int = setting(5, 'N: classes per episode.')
    shots: int = setting(1, 'K: support images per class.')
    queries: int = setting(5, 'Query images per class (training and evaluation).')
    filters: int = setting(32, "Channels of Conv-4's convolutions (64 in the papers).")
    private_hidden: tuple = setting((32, 32, 32),
        'Hidden widths of the private MLP; its layers 2..L-1 are the prunable ones.')
    meta_batch_size: int = setting(4, 'Episodes per meta-update.')
    inner_steps: int = setting(1, 'SGD steps of adaptation in meta-training.')
    inner_lr: float = setting(0.4, 'SGD step size of adaptation.')
    outer_lr: float = setting(1e-3, 'Adam learning rate of the meta-update.')
    steps: int = setting(1000,
        'Meta-updates in all (CMAML: `pretrain_steps` included); may be raised when resuming.')
    pretrain_steps: int = setting(200,
        "CMAML: first meta-updates without pruning (the paper's MAML pre-training).")
    prune_steps: int = setting(5,
        'Algorithm 1: proximal L1 fine-tuning steps of the private MLP on the support set.')
    prune_lr: float = setting(0.1, 'Step size of the L1 fine-tuning.')
    l1: float = setting(0.1, 'Weight of the L1 penalty of the fine-tuning (>= 0).')
    threshold: float = setting(0.1,
        'gamma: a private edge of layers 2..L-1 is kept iff its fine-tuned |weight| exceeds '
        'it and it reaches the output (>= 0).')
    eval_inner_steps: int = setting(3, 'SGD steps of adaptation on held-out episodes.')
    eval_episodes: int = setting(200, 'Held-out episodes scored (>= 200 for a tight interval).')
    sharing_pairs: int = setting(100,
        'CMAML: task pairs of each kind (similar, dissimilar) whose masks are compared.')
    checkpoint_every: int = setting(100, 'Meta-updates between checkpoints.')
    seed: int = setting(0, 'Seed of the initialization and of the training episodes.')

    def __post_init__(self):
        checks.one_of("algorithm", self.algorithm, ALGORITHMS)
        checks.one_of("dataset", self.dataset, DATASETS)
        if self.dataset == "folder" and not self.folder:
            raise ValueError("`dataset`=folder needs `folder`=<a folder of class folders>")
        checks.count("ways", self.ways, 2)
        for name in ("shots", "queries", "filters", "meta_batch_size", "steps",
                     "eval_episodes", "sharing_pairs", "checkpoint_every"):
            checks.count(name, getattr(self, name), 1)
        checks.count("eval_episodes", self.eval_episodes, 2)
        checks.count("sharing_pairs", self.sharing_pairs, 2)
        for name in ("inner_steps", "eval_inner_steps", "prune_steps", "pretrain_steps", "seed"):
            checks.count(name, getattr(self, name), 0)
        for name in ("inner_lr", "outer_lr", "prune_lr"):
            checks.positive(name, getattr(self, name))
        for name in ("l1", "threshold"):
            checks.positive(name, getattr(self, name), allow_zero=True)
        hidden = self.private_hidden
        if (isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple))
                or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in hidden)):
            raise ValueError(f"`private_hidden` must be widths >= 1 (e.g. 32,32,32), "
                             f"got {hidden!r}")
        object.__setattr__(self, "private_hidden", tuple(int(w) for w in hidden))

    def to_json(self) -> dict:
        """The fields as JSON values (``private_hidden`` a list, as ``config.json`` stores it)."""
        return dict(dataclasses.asdict(self), private_hidden=list(self.private_hidden))
