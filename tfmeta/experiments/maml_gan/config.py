"""The settings of a MAML-GAN run: ``MamlGanConfig``, its choices, checks and presets.

The defaults are paper 000's (section 5). ``PRESETS`` names whole recipes the
trainer's ``--preset`` picks from: ``paper`` (the defaults, sized for a GPU)
and ``cpu`` (the README's CPU recipe, about 30 minutes on a 2-core CPU).

Example:
    >>> config = MamlGanConfig(dataset="mnist", **PRESETS["cpu"])
    >>> config.inner_lrs()
    {'generator': 0.004, 'discriminator': 0.004}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tfmeta import checks
from tfmeta.gan import LOSSES

ALGORITHMS = ("maml", "fomaml", "metasgd", "reptile", "scratch")
INNER_OPTIMIZERS = ("rmsprop", "sgd", "adam")
STEP_WEIGHTS = ("uniform", "final", "annealed")
OUTER_LR_SCHEDULES = ("constant", "cosine")
GRID_STEPS = (1, 5, 10)   # paper 000, Figure 5: after 1, 5 and 10 adaptation steps
GRID_SUPPORT = 32          # images a grid's class adapts on (trainers.evaluate's --support_size)

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "data_dir", "download", "checkpoint_every", "keep_checkpoints",
                    "sample_every", "summary_every", "grid_samples", "grid_steps", "remat")

_COUNTS = ("inner_steps", "meta_batch_size", "batch_size", "anneal_steps", "latent_dim",
           "generator_width", "discriminator_width", "image_size", "checkpoint_every",
           "keep_checkpoints", "sample_every", "summary_every", "grid_samples")
_RATES = ("inner_lr", "inner_epsilon", "outer_lr", "reptile_step_size")


@dataclasses.dataclass(frozen=True)
class MamlGanConfig:
    """Settings of a MAML-GAN run; defaults are paper 000's (section 5)."""
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = True
    algorithm: str = "maml"
    loss: str = "wgan-gp"
    inner_steps: int = 10
    meta_batch_size: int = 4
    batch_size: int = 32
    inner_optimizer: str = "rmsprop"
    inner_lr: float = 1e-4
    inner_epsilon: float = 1e-7                  # rmsprop/adam denominator floor
    discriminator_inner_lr: float | None = None   # None: inner_lr
    outer_lr: float = 1e-4
    outer_lr_schedule: str = "constant"
    reptile_step_size: float = 0.1
    step_weights: str = "uniform"
    anneal_steps: int = 1000
    steps: int = 20000
    seed: int = 0
    jit_compile: bool = False
    remat: bool = False
    latent_dim: int = 100
    generator_width: int = 64
    discriminator_width: int = 64
    image_size: int = 28
    gp_weight: float = 10.0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    sample_every: int = 500
    summary_every: int = 10
    grid_samples: int = 8
    grid_steps: tuple = GRID_STEPS

    def __post_init__(self):
        checks.one_of("algorithm", self.algorithm, ALGORITHMS, flag=True)
        checks.one_of("loss", self.loss, tuple(LOSSES), flag=True)
        checks.one_of("inner_optimizer", self.inner_optimizer, INNER_OPTIMIZERS, flag=True)
        checks.one_of("step_weights", self.step_weights, STEP_WEIGHTS, flag=True)
        checks.one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES, flag=True)
        for name in _COUNTS:
            checks.count(name, getattr(self, name), flag=True)
        checks.count("steps", self.steps, minimum=0, flag=True)
        for name in _RATES:
            checks.positive(name, getattr(self, name), flag=True)
        if self.discriminator_inner_lr is not None:   # unset: --inner_lr
            checks.positive("discriminator_inner_lr", self.discriminator_inner_lr, flag=True)
        # A JSON list reads back as a tuple.
        object.__setattr__(self, "grid_steps",
                           checks.increasing("grid_steps", self.grid_steps, flag=True))
        if self.image_size % 4:
            raise ValueError(f"--image_size must be a multiple of 4 (two stride-2 layers), "
                             f"got {self.image_size}")

    def inner_lrs(self) -> dict[str, float]:
        """The inner learning rate of each player."""
        d = self.inner_lr if self.discriminator_inner_lr is None else self.discriminator_inner_lr
        return {"generator": self.inner_lr, "discriminator": d}

    def inner_kwargs(self, name: str) -> dict[str, float]:
        """Keyword arguments of inner optimizer ``name`` beyond its learning rate."""
        return {"epsilon": self.inner_epsilon} if name in ("rmsprop", "adam") else {}

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["grid_steps"] = list(self.grid_steps)
        return out


# Whole recipes for ``--preset``; a field not named keeps MamlGanConfig's default.
PRESETS: dict[str, dict] = {
    # Paper 000's settings: 20000 second-order updates, 5-11 s each on a 2-core CPU
    # (28-61 hours), minutes on a GPU.
    "paper": {},
    # The README's CPU recipe: about 30 minutes on a 2-core CPU, recognisable held-out
    # digits after 40-80 adaptation steps.
    "cpu": dict(algorithm="fomaml", loss="non-saturating", inner_steps=10, meta_batch_size=4,
                batch_size=32, generator_width=32, discriminator_width=32, inner_lr=4e-3,
                outer_lr=1e-3, outer_lr_schedule="cosine", grid_steps=(1, 5, 10, 40, 80),
                sample_every=480, steps=960),
}


def preset_values(name: str) -> dict:
    """Every field of ``MamlGanConfig`` under preset ``name`` (defaults filled in)."""
    checks.one_of("preset", name, tuple(PRESETS), flag=True)
    values = MamlGanConfig().to_json()
    values.update(PRESETS[name])
    values["grid_steps"] = tuple(values["grid_steps"])
    return values


def resolve(preset: str, given: Mapping[str, Any], stored: Mapping[str, Any] | None,
            gpu: bool) -> tuple[MamlGanConfig, str | None, str]:
    """A run's config from settings given explicitly, a preset and a stored run.

    Every setting in ``given`` wins. The others take the stored run's settings
    (``stored``: its ``config.json``, None for a new run) unless ``preset`` is
    named explicitly (``paper``/``cpu``, not ``auto``), else the preset's;
    ``auto`` is ``paper`` when ``gpu`` else ``cpu``. Meta-SGD defaults to one
    inner step.

    Returns:
      ``(config, preset, how)``: the preset the settings come from (None for a
      stored run that did not record one) and how it was chosen, for the banner.
    """
    checks.one_of("preset", preset, ("auto", *PRESETS), flag=True)
    from_stored = stored is not None and preset == "auto"
    if from_stored:
        chosen = stored.get("preset")
        base = dict(MamlGanConfig().to_json(), **stored)
        how = "as stored with the run" if chosen else "the run's stored settings"
    else:
        chosen = preset if preset != "auto" else ("paper" if gpu else "cpu")
        base = preset_values(chosen)
        how = ("given" if preset != "auto" else
               "auto: a GPU is visible" if gpu else "auto: no GPU visible")
    names = [f.name for f in dataclasses.fields(MamlGanConfig)]
    values = {n: given[n] if n in given else base[n] for n in names}
    if not from_stored and "inner_steps" not in given and values["algorithm"] == "metasgd":
        values["inner_steps"] = 1
    return MamlGanConfig(**values), chosen, how
