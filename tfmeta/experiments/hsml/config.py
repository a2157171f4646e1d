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
from tfmeta.algorithms.hsml import ACTIVATIONS, GATES

ALGORITHMS = ("hsml", "maml")
# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "jit_compile", "checkpoint_every", "eval_every", "eval_tasks",
                    "curve_tasks")


@dataclasses.dataclass(frozen=True)
class HSMLConfig:
    """Settings of an HSML (or plain MAML) run on the heterogeneous regression tasks.

    Raises:
      ValueError: one line naming the flag and the value it got.
    """
    algorithm: str = "hsml"
    shots: int = 5                  # K support points
    query: int = 10                 # query points of a training task
    steps: int = 70000              # meta-updates
    meta_batch_size: int = 25
    inner_steps: int = 5
    inner_lr: float = 0.001
    outer_lr: float = 0.001
    clip: float = 3.0               # outer gradients clipped to [-clip, clip]; 0: none
    first_order: bool = False
    jit_compile: bool = True        # XLA-compile the meta-update (4-6x faster for these nets)
    hidden: tuple = (40, 40)        # the regressor's hidden layers
    activation: str = "relu"        # the regressor's (and the autoencoder's) activation
    task_hidden: int = 40           # HSML: size of task representations and cluster nodes
    encoder_hidden: int = 20        # HSML: the autoencoder's middle layer
    clusters: tuple = (4, 2)        # HSML: clusters per level, bottom up
    sigma: float = 2.0              # HSML: the clustering's length scale
    reconstruction_weight: float = 0.01
    gate: str = "weight"            # HSML: a gate per entry ("weight") or per unit
    eval_tasks: int = 1000          # held-out tasks of the final evaluation
    eval_query: int = 100           # query points of a held-out task
    eval_steps: int = 10            # inner steps scored at evaluation (0..eval_steps)
    eval_every: int = 1000          # meta-updates between learning-curve points
    curve_tasks: int = 200          # held-out tasks of a curve point (the first ones)
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "clusters", tuple(self.clusters))
        checks.one_of("algorithm", self.algorithm, ALGORITHMS, flag=True)
        checks.one_of("gate", self.gate, GATES, flag=True)
        checks.one_of("activation", self.activation, sorted(ACTIVATIONS), flag=True)
        for name in ("shots", "query", "steps", "meta_batch_size", "inner_steps", "task_hidden",
                     "encoder_hidden", "eval_query", "eval_steps", "eval_every",
                     "checkpoint_every"):
            checks.count(name, getattr(self, name), flag=True)
        for name in ("eval_tasks", "curve_tasks"):
            checks.count(name, getattr(self, name), minimum=2, flag=True)
        for name in ("inner_lr", "outer_lr", "sigma"):
            checks.positive(name, getattr(self, name), flag=True)
        for name in ("clip", "reconstruction_weight"):
            checks.positive(name, getattr(self, name), flag=True, allow_zero=True)
        for name in ("first_order", "jit_compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"--{name} must be true or false, got "
                                 f"{getattr(self, name)!r}")
        if not self.hidden:
            raise ValueError("--hidden must name at least one layer width, got ()")
        for width in self.hidden:
            checks.count("hidden", width, flag=True)
        if not self.clusters:
            raise ValueError("--clusters must name at least one level, got ()")
        for k in self.clusters:
            checks.count("clusters", k, flag=True)

    def to_json(self) -> dict:
        """The settings as JSON stores them (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}
