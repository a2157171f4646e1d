"""The HSML regression experiment's settings (defaults: the HSML code's toy-group runs).

``HSML_toygroup_5shot.sh`` of the paper's code: K = 5 support and 10 query
points, 5 inner SGD steps of 0.001, meta-batch 25, Adam 0.001 with gradients
clipped to [-3, 3], a 1-40-40-1 ReLU regressor, task representations of 40,
clusters 4 then 2, sigma 2, reconstruction weight 0.01, 70,000 meta-updates.
``algorithm="maml"`` trains the same regressor with the same settings and no
modulation: the baseline.

Example:
    >>> HSMLConfig(algorithm="hsml", shots=10, steps=3000)
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import setting
from tfmeta.algorithms.hsml import ACTIVATIONS, GATES

ALGORITHMS = ("hsml", "maml")
# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "jit_compile", "checkpoint_every", "eval_every", "eval_tasks",
                    "curve_tasks")


@dataclasses.dataclass(frozen=True)
class HSMLConfig:
    """Settings of an HSML (or plain MAML) run on the heterogeneous regression tasks.

    Raises:
      ValueError: one line naming the field and the value it got.
    """
    algorithm: str = setting("hsml",
        'hsml: MAML from a per-task gated initialization; maml: the baseline.', choices=ALGORITHMS)
    shots: int = setting(5, 'K: support points per task (the paper: 5 or 10).')
    query: int = setting(10, 'Query points of a training task.')
    steps: int = setting(70000, 'Total meta-updates of the run (the paper: 70,000).')
    meta_batch_size: int = setting(25, 'Tasks per meta-update.')
    inner_steps: int = setting(5, 'Inner SGD steps in meta-training.')
    inner_lr: float = setting(0.001, 'Inner SGD step size (training and evaluation).')
    outer_lr: float = setting(0.001, 'Adam learning rate of the meta-update.')
    clip: float = setting(3.0,
        'Clip each outer gradient entry to [-clip, clip] (the HSML code: 3); 0 turns clipping '
        'off.')
    first_order: bool = setting(False, 'First-order meta-gradient (FOMAML).')
    jit_compile: bool = setting(True,
        'XLA-compile the meta-update (same numbers to float precision, several times faster '
        'on a CPU).')
    hidden: tuple = setting((40, 40), 'Hidden layer widths of the regressor, e.g. 40,40.')
    activation: str = setting("relu",
        "Activation of the regressor and of HSML's autoencoder.", choices=('relu', 'softplus', 'tanh'))
    task_hidden: int = setting(40,
        'HSML: size of the task representation and of the cluster nodes.')
    encoder_hidden: int = setting(20, "HSML: the autoencoder's middle layer.")
    clusters: tuple = setting((4, 2), 'HSML: clusters per level, bottom up (the paper: 4,2).')
    sigma: float = setting(2.0, 'HSML: length scale of the soft cluster assignment.')
    reconstruction_weight: float = setting(0.01,
        "HSML: weight xi of the autoencoder's reconstruction loss in the meta-loss.")
    gate: str = setting("weight",
        "HSML: a gate per parameter entry (the paper's code) or per output unit.", choices=GATES)
    eval_tasks: int = setting(1000, 'Held-out tasks of the final evaluation.')
    eval_query: int = setting(100, 'Query points of a held-out task.')
    eval_steps: int = setting(10, 'Inner steps scored at evaluation.')
    eval_every: int = setting(1000, 'Meta-updates between curve points.')
    curve_tasks: int = setting(200, 'Held-out tasks of a curve point.')
    checkpoint_every: int = setting(500, 'Meta-updates between checkpoints.')
    seed: int = setting(0, 'Seed of initialization, training tasks and the held-out tasks.')

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "clusters", tuple(self.clusters))
        checks.one_of("algorithm", self.algorithm, ALGORITHMS)
        checks.one_of("gate", self.gate, GATES)
        checks.one_of("activation", self.activation, sorted(ACTIVATIONS))
        for name in ("shots", "query", "steps", "meta_batch_size", "inner_steps", "task_hidden",
                     "encoder_hidden", "eval_query", "eval_steps", "eval_every",
                     "checkpoint_every"):
            checks.count(name, getattr(self, name))
        for name in ("eval_tasks", "curve_tasks"):
            checks.count(name, getattr(self, name), minimum=2)
        for name in ("inner_lr", "outer_lr", "sigma"):
            checks.positive(name, getattr(self, name))
        for name in ("clip", "reconstruction_weight"):
            checks.positive(name, getattr(self, name), allow_zero=True)
        for name in ("first_order", "jit_compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be true or false, got "
                                 f"{getattr(self, name)!r}")
        if not self.hidden:
            raise ValueError("`hidden` must name at least one layer width, got ()")
        for width in self.hidden:
            checks.count("hidden", width)
        if not self.clusters:
            raise ValueError("`clusters` must name at least one level, got ()")
        for k in self.clusters:
            checks.count("clusters", k)

    def to_json(self) -> dict:
        """The settings as JSON stores them (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}
