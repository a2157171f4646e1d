"""The settings of a MAML-GAN run: ``MamlGanConfig``, its choices, checks and presets.

The defaults are paper 000's (section 5). ``PRESETS`` names whole recipes that
the `preset` setting picks from: ``paper`` (the defaults, sized for a GPU)
and ``cpu`` (the README's CPU recipe, 10-36 minutes on a 2-core CPU).

Example:
    >>> config = MamlGanConfig(dataset="mnist", **PRESETS["cpu"].overrides)
    >>> config.inner_lrs()
    {'generator': 0.004, 'discriminator': 0.004}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tfmeta import checks
from tfmeta.experiments import settings
from tfmeta.experiments.settings import (NoneOf, OneOf, Preset, Rule, data_dir_setting,
                                         download_setting, setting)
from tfmeta.gan import INNER_ORDERS, LOSSES
from tfmeta.savedmodel.common import MAX_ADAPT_STEPS

ALGORITHMS = ("maml", "fomaml", "metasgd", "reptile", "scratch")
INNER_OPTIMIZERS = ("rmsprop", "sgd", "adam")
STEP_WEIGHTS = ("uniform", "final", "annealed")
OUTER_LR_SCHEDULES = ("constant", "cosine")
GRID_STEPS = (1, 5, 10)   # paper 000, Figure 5: after 1, 5 and 10 adaptation steps
GRID_SUPPORT = 32          # images a grid's class adapts on (evaluation's `support_size`)

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "data_dir", "download", "checkpoint_every", "keep_checkpoints",
                    "sample_every", "summary_every", "grid_samples", "grid_steps", "remat",
                    "serve_steps", "discriminator_meta_steps", "adapt_lr_scale")

_COUNTS = ("inner_steps", "meta_batch_size", "batch_size", "anneal_steps", "latent_dim",
           "generator_width", "discriminator_width", "image_size", "checkpoint_every",
           "keep_checkpoints", "sample_every", "summary_every", "grid_samples")
_RATES = ("inner_lr", "inner_epsilon", "outer_lr", "outer_epsilon", "reptile_step_size")


@dataclasses.dataclass(frozen=True)
class MamlGanConfig:
    """Settings of a MAML-GAN run; defaults are paper 000's (section 5)."""
    dataset: str = setting("mnist",
        'TFDS dataset of the tasks (one task per class): mnist (meta-train digits 0-6, test '
        '7-9), fashion_mnist, omniglot.')
    data_dir: str | None = data_dir_setting()
    download: bool = download_setting()
    algorithm: str = setting("maml",
        'maml: second-order MAML-GAN; fomaml: first order; metasgd: one step with learned '
        'per-parameter rates (paper 000 used it with `loss`=minimax only); reptile: FIGR '
        '(Reptile + WGAN-GP, inner Adam beta_1=0.5, outer SGD); scratch: no meta-training, '
        "the random initialization ('Not pre-trained').", choices=ALGORITHMS)
    loss: str = setting("wgan-gp",
        'GAN loss: wgan-gp (lambda `gp_weight`), minimax (paper eq. 1) or non-saturating.',
        choices=LOSSES)
    inner_steps: int = setting(10, 'k: inner steps per task (default 10; 1 for metasgd).')
    meta_batch_size: int = setting(4, 'N: tasks (classes) per meta-update.')
    batch_size: int = setting(32,
        'Real images and latents per inner step and per validation loss.')
    inner_optimizer: str = setting("rmsprop",
        'Differentiable inner optimizer (maml, fomaml; metasgd uses its learned rates; reptile '
        "uses Adam with beta1 0.5 unless sgd, the FIGR authors' code's).",
        choices=INNER_OPTIMIZERS)
    inner_lr: float = setting(1e-4, 'Inner learning rate beta (Meta-SGD: initial rates).')
    inner_epsilon: float = setting(1e-7,
        "Inner RMSprop/Adam epsilon: the floor of the update's denominator. Its "
        'per-coordinate step lr / (sqrt(v) + eps) reaches lr / eps where gradients are tiny, '
        'which makes the second-order meta-gradient explode at large inner rates '
        '(docs/results/second_order_maml_gan.md); 1e-3 tames it. Not used by sgd, metasgd.')
    inner_order: str = setting("simultaneous",
        "How the two players take an inner step: simultaneous (paper 000's Algorithm 1: both "
        'from the same parameters) or discriminator_first (FIGR\'s code: the discriminator '
        'steps, then the generator against the stepped discriminator; the GAN loss is '
        'computed twice per step).', choices=INNER_ORDERS)
    detach_fakes: bool = setting(False,
        "The discriminator's loss takes the generated images as constants (PyTorch's "
        "fake.detach()): the same losses and inner steps, but maml's and metasgd's "
        "second-order meta-gradient loses its cross-player terms (the generator steering "
        "the discriminator's adaptation, and back). No effect on fomaml, reptile.")
    discriminator_inner_lr: float | None = setting(None,
        "The discriminator's own inner learning rate (default: `inner_lr` for both players).")
    layer_scales: bool = setting(False,
        "Meta-learn one step-size multiplier per parameter tensor of each player (from 1), "
        "over the inner optimizer's own step (maml, fomaml): per-layer rates as MAML++'s, "
        'kept for any number of adaptation steps.')
    outer_lr: float = setting(1e-4, 'Outer RMSprop learning rate gamma (maml, fomaml, metasgd).')
    discriminator_outer_lr: float | None = setting(None,
        "The discriminator's own outer learning rate, under the same `outer_lr_schedule` "
        '(maml, fomaml, metasgd; default: `outer_lr` for both players).')
    discriminator_meta_steps: int | None = setting(None,
        "Meta-updates of the discriminator's initialization: after this many its outer "
        "learning rate is 0 (held where it is) while the generator's meta-training goes on "
        '(maml, fomaml, metasgd; default: every meta-update). May change when resuming.')
    outer_lr_schedule: str = setting("constant",
        'constant (paper 000), or cosine: the outer learning rate (reptile: the step size) '
        'decays from its value to 0 at `steps`. With cosine, `steps` cannot change when '
        'resuming.', choices=OUTER_LR_SCHEDULES)
    outer_epsilon: float = setting(1e-7,
        "Outer RMSprop epsilon (maml, fomaml, metasgd). Keras adds it to the mean square "
        'inside the square root, so the step lr g / sqrt(v + eps) shrinks on entries whose '
        'gradient is far below sqrt(eps) (3.2e-4 at 1e-7): it holds the generator\'s Meta-SGD '
        'rates still (docs/results/metasgd_gan.md). 1e-14 is about paper 000\'s PyTorch '
        'RMSprop, whose eps 1e-7 is added outside the root.')
    reptile_step_size: float = setting(0.1,
        'Reptile/FIGR outer step: init += size * mean(adapted - init).')
    step_weights: str = setting("uniform",
        'Multi-step loss weights: uniform (paper 000), final (original MAML), annealed '
        '(uniform decaying to final over `anneal_steps`).', choices=STEP_WEIGHTS)
    anneal_steps: int = setting(1000, 'Meta-updates of the annealed schedule.')
    first_order_steps: int = setting(0,
        "maml only: derivative-order annealing (MAML++): the first `first_order_steps` "
        'meta-updates use the first-order meta-gradient (fomaml\'s, faster), the rest the '
        'second-order one. 0: second order throughout.')
    steps: int = setting(20000, 'Total meta-updates of the run.')
    seed: int = setting(0, 'Seed of initialization and task stream.')
    jit_compile: bool = setting(False,
        'XLA-compile the meta-gradient (slower on CPU for these convolutions; try it on GPU).')
    remat: bool = setting(False,
        'Trade compute for memory (maml, fomaml, metasgd): recompute each inner step when the '
        'meta-gradient reaches it instead of keeping its activations; same results, about '
        '1.7x the time, memory nearly flat in `inner_steps` (see bench/README.md). Can be '
        'switched when resuming.')
    latent_dim: int = setting(100, 'Size of the latent z.')
    generator_width: int = setting(64, "Generator base width (64: the paper's 128/64 channels).")
    discriminator_width: int = setting(64,
        "Discriminator base width (64: the paper's 64/128 channels).")
    image_size: int = setting(28, 'Images are resized to this square size (a multiple of 4).')
    gp_weight: float = setting(10.0, 'WGAN-GP gradient-penalty weight lambda.')
    checkpoint_every: int = setting(100, 'Meta-updates between checkpoints.')
    keep_checkpoints: int = setting(3,
        'Newest checkpoints kept in WORKDIR/checkpoints; older ones are deleted.')
    sample_every: int = setting(500,
        'Meta-updates between sample grids (samples/step_XXXXXX.png and TensorBoard images).')
    summary_every: int = setting(10, 'Meta-updates between TensorBoard scalars.')
    grid_samples: int = setting(8, 'Samples per cell of the sample grids.')
    serve_steps: int | None = setting(None,
        "Inner steps an export of the run adapts for by default (export.saved_model, "
        "export.adapted; at most 100). Unset: `inner_steps`, what the initialization was "
        "meta-trained for. The cpu preset serves 80: its initialization, meta-trained for 10, "
        "gives samples the critic files under the support's class 0.97 of the time after 80 "
        "steps against 0.75 after 10 (docs/results/gan_ten_steps.md). Can be changed when "
        "resuming.")
    adapt_lr_scale: float = setting(1.0,
        "Multiplies both players' inner learning rates wherever the meta-trained run adapts "
        "(trainers.evaluate, export.saved_model, export.adapted); meta-training and its sample "
        "grids keep `inner_lr` (1: the paper's one rate for both; not metasgd, which adapts "
        "with its learned rates). Measured: docs/results/gan_ten_steps.md. Can be changed "
        "when resuming.")
    grid_steps: tuple = setting(GRID_STEPS,
        "Adaptation steps shown in the sample grids, after the prior (paper 000's Figure 5: "
        '1,5,10). Each held-out class adapts on 32 of its images however many steps are '
        'shown. Can be changed when resuming.')

    def __post_init__(self):
        checks.one_of("algorithm", self.algorithm, ALGORITHMS)
        checks.one_of("loss", self.loss, tuple(LOSSES))
        checks.one_of("inner_order", self.inner_order, INNER_ORDERS)
        checks.one_of("inner_optimizer", self.inner_optimizer, INNER_OPTIMIZERS)
        checks.one_of("step_weights", self.step_weights, STEP_WEIGHTS)
        checks.one_of("outer_lr_schedule", self.outer_lr_schedule, OUTER_LR_SCHEDULES)
        for name in _COUNTS:
            checks.count(name, getattr(self, name))
        checks.count("steps", self.steps, minimum=0)
        for name in _RATES:
            checks.positive(name, getattr(self, name))
        if self.discriminator_inner_lr is not None:   # unset: `inner_lr`
            checks.positive("discriminator_inner_lr", self.discriminator_inner_lr)
        if self.discriminator_outer_lr is not None:   # unset: `outer_lr`
            checks.positive("discriminator_outer_lr", self.discriminator_outer_lr)
            if self.algorithm == "reptile":   # scratch has no outer step: nothing to refuse
                raise ValueError(f"`discriminator_outer_lr` applies to the outer RMSprop of "
                                 f"maml, fomaml and metasgd, not `algorithm`={self.algorithm}")
        if self.discriminator_meta_steps is not None:   # unset: every meta-update
            checks.count("discriminator_meta_steps", self.discriminator_meta_steps, minimum=0)
            if self.algorithm == "reptile":
                raise ValueError(f"`discriminator_meta_steps` applies to the outer RMSprop of "
                                 f"maml, fomaml and metasgd, not `algorithm`={self.algorithm}")
        checks.count("first_order_steps", self.first_order_steps, minimum=0)
        if self.first_order_steps and self.algorithm not in ("maml", "scratch"):
            raise ValueError(f"`first_order_steps` (derivative-order annealing) applies to "
                             f"maml, not `algorithm`={self.algorithm}")   # scratch: no update
        if self.layer_scales and self.algorithm in ("metasgd", "reptile"):
            raise ValueError(f"`layer_scales` applies to maml and fomaml, not "
                             f"`algorithm`={self.algorithm}")   # scratch: nothing to learn
        checks.positive("adapt_lr_scale", self.adapt_lr_scale)
        if self.adapt_lr_scale != 1 and self.algorithm == "metasgd":
            raise ValueError(f"`adapt_lr_scale`={self.adapt_lr_scale}: metasgd adapts with "
                             f"its learned rates; expected 1")
        if self.serve_steps is not None:              # unset: `inner_steps`
            checks.bounded("serve_steps", self.serve_steps, 1, MAX_ADAPT_STEPS)
        # A JSON list reads back as a tuple.
        object.__setattr__(self, "grid_steps",
                           checks.increasing("grid_steps", self.grid_steps))
        if self.image_size % 4:
            raise ValueError(f"`image_size` must be a multiple of 4 (two stride-2 layers), "
                             f"got {self.image_size}")

    def served_steps(self) -> int:
        """Inner steps of an export's default adaptation: `serve_steps`, else `inner_steps`."""
        return self.inner_steps if self.serve_steps is None else self.serve_steps

    def adapting(self) -> MamlGanConfig:
        """The config a meta-trained run adapts with: inner rates x `adapt_lr_scale`, then 1."""
        if self.adapt_lr_scale == 1:
            return self
        rates = {p: rate * self.adapt_lr_scale for p, rate in self.inner_lrs().items()}
        return dataclasses.replace(self, inner_lr=rates["generator"], adapt_lr_scale=1.0,
                                   discriminator_inner_lr=rates["discriminator"])

    def inner_lrs(self) -> dict[str, float]:
        """The inner learning rate of each player."""
        d = self.inner_lr if self.discriminator_inner_lr is None else self.discriminator_inner_lr
        return {"generator": self.inner_lr, "discriminator": d}

    def outer_lrs(self) -> dict[str, float]:
        """The outer learning rate of each player (before `outer_lr_schedule`)."""
        d = self.outer_lr if self.discriminator_outer_lr is None else self.discriminator_outer_lr
        return {"generator": self.outer_lr, "discriminator": d}

    def inner_kwargs(self, name: str) -> dict[str, float]:
        """Keyword arguments of inner optimizer ``name`` beyond its learning rate."""
        return {"epsilon": self.inner_epsilon} if name in ("rmsprop", "adam") else {}

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["grid_steps"] = list(self.grid_steps)
        return out


# Whole recipes by preset name; a field not named keeps MamlGanConfig's default. Meta-SGD
# takes one inner step unless told otherwise.
_ONE_STEP = Rule({"algorithm": "metasgd"}, {"inner_steps": 1})
# The CPU recipe's discriminator outer rate is half its generator's 2e-3: with reptile, or
# another generator rate, both players share `outer_lr` again unless told otherwise.
_SHARED_OUTER = (Rule({"algorithm": "reptile"}, {"discriminator_outer_lr": None}),
                 Rule({"outer_lr": NoneOf((2e-3,))}, {"discriminator_outer_lr": None}))
# Second order (maml) floors its inner RMSprop's denominator, as every maml run measured did
# (docs/results/second_order_maml_gan.md).
_SECOND_ORDER = Rule({"algorithm": "maml"}, {"inner_epsilon": 1e-3})
# Its meta-learned per-layer step sizes scale maml's and fomaml's inner steps only.
_PLAIN_STEPS = Rule({"algorithm": OneOf(("metasgd", "reptile"))}, {"layer_scales": False})
# An Omniglot character has 20 images, fewer than 32: every step takes 16 of them.
_OMNIGLOT_BATCH = Rule({"dataset": "omniglot"}, {"batch_size": 16})
# FIGR is Reptile + WGAN-GP; its order at 8x its rate: 0.734-0.789 on three seeds (MNIST).
_FIGR = Rule({"algorithm": "reptile"}, dict(
    loss="wgan-gp", inner_lr=8e-3, inner_order="discriminator_first", reptile_step_size=0.25,
    steps=900))
# On MNIST it adapts best at half that rate: 0.826 against 0.732 at the paper's size.
_MNIST_HALF_RATE = Rule({"dataset": "mnist", "algorithm": "reptile"}, {"adapt_lr_scale": 0.5})
# Omniglot (docs/results/gan_ten_steps.md): both MAMLs rise longer at constant outer rates,
# the discriminator's a quarter (maml: 0.183 at 3600); FOMAML-GAN with WGAN-GP, adapting at
# half its inner rate for 10 steps, passes the paper's 0.328 (0.438 after 4500 updates).
_OMNIGLOT_RATES = Rule({"dataset": "omniglot", "algorithm": OneOf(("maml", "fomaml"))}, dict(
    outer_lr_schedule="constant", discriminator_outer_lr=5e-4, steps=3600, sample_every=900))
_OMNIGLOT_FOMAML = Rule({"dataset": "omniglot", "algorithm": "fomaml"}, dict(
    loss="wgan-gp", inner_epsilon=1e-3, adapt_lr_scale=0.5, serve_steps=10, steps=4500))
PRESETS: dict[str, Preset] = {
    # Paper 000's settings: 20000 second-order updates, minutes on a GPU.
    "paper": Preset("paper", "paper 000's settings, the defaults shown here: 20000 "
                    "second-order updates, hours on a GPU, days on a CPU",
                    rules=(_ONE_STEP, _OMNIGLOT_BATCH)),
    # The README's CPU recipe (docs/results/gan_ten_steps.md): outer rate 2e-3, 0.749 after
    # 10 steps against 1e-3's 0.674; the discriminator's 1e-3, 0.784-0.786 against 0.719-0.755;
    # per-layer step sizes, 0.858-0.900 on three seeds; detached fakes, maml 0.829 vs 0.163.
    "cpu": Preset("cpu", "the CPU recipe, first-order MAML with widths 32, 10-36 minutes "
                  "on a 2-core CPU", dict(
                      algorithm="fomaml", loss="non-saturating", inner_steps=10,
                      meta_batch_size=4, batch_size=32, generator_width=32,
                      discriminator_width=32, inner_lr=4e-3, layer_scales=True,
                      outer_lr=2e-3, discriminator_outer_lr=1e-3, outer_lr_schedule="cosine",
                      detach_fakes=True,
                      grid_steps=(1, 5, 10, 40, 80), serve_steps=80, sample_every=480,
                      steps=960), rules=(_ONE_STEP, _OMNIGLOT_BATCH, _FIGR, _MNIST_HALF_RATE,
                                         _OMNIGLOT_RATES, _OMNIGLOT_FOMAML, *_SHARED_OUTER,
                                         _PLAIN_STEPS, _SECOND_ORDER)),
}
AUTO = ("paper", "cpu")   # the preset "auto": paper when TensorFlow sees a GPU, else cpu


def resolve(preset: str, given: Mapping[str, Any], stored: Mapping[str, Any] | None,
            gpu: bool) -> tuple[MamlGanConfig, str | None, str]:
    """A run's config from settings given explicitly, a preset and a stored run.

    Every setting in ``given`` wins. The others take the stored run's settings
    (``stored``: its ``config.json``, None for a new run) unless ``preset`` is
    named explicitly (``paper``/``cpu``, not ``auto``), else the preset's;
    ``auto`` is ``paper`` when ``gpu`` else ``cpu``. Meta-SGD defaults to one
    inner step. :func:`tfmeta.experiments.settings.resolve` does the work.

    Returns:
      ``(config, preset, how)``: the preset the settings come from (None for a
      stored run that did not record one) and how it was chosen, for the banner.
    """
    checks.one_of("preset", preset, ("auto", *PRESETS))
    return tuple(settings.resolve(MamlGanConfig, PRESETS, given=given, stored=stored,
                                  preset=preset, default_preset="auto", auto=AUTO, gpu=gpu))
