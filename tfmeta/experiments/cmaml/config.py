"""Settings of a CMAML (or plain MAML) few-shot classification run, checked on creation.

Defaults are the CPU recipe of docs/results/cmaml.md (5-way 1-shot Omniglot,
Conv-4 with 32 filters); :data:`GPU` holds the full-length settings.

Example:
    >>> config = CmamlConfig(algorithm="cmaml", steps=2000, data_dir="../shared/tensorflow_datasets")
    >>> CmamlConfig(threshold=-1.0)
    Traceback (most recent call last):
    ValueError: --threshold must be a finite number >= 0, got -1.0
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks

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
      ValueError: one line naming the flag, the value and what was expected.
    """
    algorithm: str = "cmaml"         # "cmaml" or "maml" (Conv-4 alone, same backbone)
    dataset: str = "omniglot"        # or "folder" (--folder: one sub-folder per class)
    folder: str = ""
    data_dir: str | None = None      # TFDS data directory
    ways: int = 5
    shots: int = 1
    queries: int = 5                 # per class, training and evaluation
    filters: int = 32                # Conv-4 channels (the shared module)
    private_hidden: tuple = (32, 32, 32)   # widths of the private MLP's hidden layers
    meta_batch_size: int = 4
    inner_steps: int = 1
    inner_lr: float = 0.4
    outer_lr: float = 1e-3
    steps: int = 1000                # meta-updates in all (pre-training included)
    pretrain_steps: int = 200        # CMAML: first meta-updates with nothing pruned (MAML)
    prune_steps: int = 5             # Algorithm 1: L1 fine-tuning steps on the support set
    prune_lr: float = 0.1
    l1: float = 0.1                  # L1 weight of the fine-tuning
    threshold: float = 0.1           # gamma: sparsity threshold of the pruning
    eval_inner_steps: int = 3
    eval_episodes: int = 200
    sharing_pairs: int = 100         # task pairs per kind for the mask-overlap measurement
    checkpoint_every: int = 100
    seed: int = 0

    def __post_init__(self):
        checks.one_of("algorithm", self.algorithm, ALGORITHMS, flag=True)
        checks.one_of("dataset", self.dataset, DATASETS, flag=True)
        if self.dataset == "folder" and not self.folder:
            raise ValueError("--dataset=folder needs --folder=<a folder of class folders>")
        checks.count("ways", self.ways, 2, flag=True)
        for name in ("shots", "queries", "filters", "meta_batch_size", "steps",
                     "eval_episodes", "sharing_pairs", "checkpoint_every"):
            checks.count(name, getattr(self, name), 1, flag=True)
        checks.count("eval_episodes", self.eval_episodes, 2, flag=True)
        checks.count("sharing_pairs", self.sharing_pairs, 2, flag=True)
        for name in ("inner_steps", "eval_inner_steps", "prune_steps", "pretrain_steps", "seed"):
            checks.count(name, getattr(self, name), 0, flag=True)
        for name in ("inner_lr", "outer_lr", "prune_lr"):
            checks.positive(name, getattr(self, name), flag=True)
        for name in ("l1", "threshold"):
            checks.positive(name, getattr(self, name), flag=True, allow_zero=True)
        hidden = self.private_hidden
        if (isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple))
                or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in hidden)):
            raise ValueError(f"--private_hidden must be widths >= 1 (e.g. 32,32,32), "
                             f"got {hidden!r}")
        object.__setattr__(self, "private_hidden", tuple(int(w) for w in hidden))

    def to_json(self) -> dict:
        """The fields as JSON values (``private_hidden`` a list, as ``config.json`` stores it)."""
        return dict(dataclasses.asdict(self), private_hidden=list(self.private_hidden))
