"""The settings of a MAML-GAN run: ``MamlGanConfig``, its choices and checks.

The defaults are paper 000's (section 5); :mod:`.presets` names whole recipes.
:func:`legacy` reads the settings older runs stored as this version means them.

Example:
    >>> config = MamlGanConfig(dataset="mnist", algorithm="fomaml", inner_lr=4e-3)
    >>> config.inner_lrs()
    {'generator': 0.004, 'discriminator': 0.004}
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.settings import data_dir_setting, download_setting, setting
from tfmeta.gan import INNER_ORDERS, LOSSES
from tfmeta.savedmodel.common import MAX_ADAPT_STEPS

ALGORITHMS = ("maml", "fomaml", "metasgd", "reptile", "scratch")
INNER_OPTIMIZERS = ("rmsprop", "sgd", "adam")
STEP_WEIGHTS = ("uniform", "final", "annealed")
OUTER_LR_SCHEDULES = ("constant", "cosine")
REPTILE_OUTERS = ("sgd", "adam")
GRID_STEPS = (1, 5, 10)   # paper 000, Figure 5: after 1, 5 and 10 adaptation steps
GRID_SUPPORT = 32          # images a grid's class adapts on (evaluation's `support_size`)

# Fields that may change between a run and its resumption; all others must match.
RESUMABLE_FIELDS = ("steps", "data_dir", "download", "checkpoint_every", "keep_checkpoints",
                    "sample_every", "summary_every", "grid_samples", "grid_steps", "remat",
                    "serve_steps", "discriminator_meta_steps", "adapt_lr_scale",
                    "discriminator_adapt_lr_scale", "first_order_steps", "first_order_player")

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
        '(Reptile + WGAN-GP, `inner_optimizer`, `reptile_outer`); scratch: no meta-training, '
        "the random initialization ('Not pre-trained').", choices=ALGORITHMS)
    loss: str = setting("wgan-gp",
        'GAN loss: wgan-gp (lambda `gp_weight`), minimax (paper eq. 1) or non-saturating.',
        choices=LOSSES)
    inner_steps: int = setting(10, 'k: inner steps per task (default 10; 1 for metasgd).')
    meta_batch_size: int = setting(4, 'N: tasks (classes) per meta-update.')
    batch_size: int = setting(32,
        'Real images and latents per inner step and per validation loss.')
    inner_optimizer: str = setting("rmsprop",
        "Differentiable inner optimizer of maml, fomaml and reptile (metasgd uses its learned "
        "rates): rmsprop (paper 000's Algorithm 1), adam, or sgd (the FIGR authors' code's).",
        choices=INNER_OPTIMIZERS)
    inner_beta_1: float | None = setting(None,
        "The inner Adam's beta_1 (`inner_optimizer` adam). Unset: 0.5 for reptile (the "
        "project's FIGR row, as its peer), 0.9 otherwise.")
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
    spectral_norm: bool = setting(False,
        "The discriminator runs with each kernel over its largest singular value (spectral "
        "normalization, Miyato et al. 2018: 5 power iterations from a fixed vector, "
        "differentiated through) in meta-training, adaptation and the export: a bound on how "
        "fast it can sharpen its logits. Beyond paper 000; measured on Omniglot in "
        "docs/results/omniglot_maml_gan.md.")
    discriminator_inner_lr: float | None = setting(None,
        "The discriminator's own inner learning rate (default: `inner_lr` for both players).")
    layer_scales: bool = setting(False,
        "Meta-learn one step-size multiplier per parameter tensor of each player (from 1), "
        "over the inner optimizer's own step (maml, fomaml): per-layer rates as MAML++'s, "
        'kept for any number of adaptation steps.')
    outer_lr: float = setting(1e-4,
        'Outer RMSprop learning rate gamma (maml, fomaml, metasgd; reptile: its outer Adam\'s, '
        '`reptile_outer` adam).')
    discriminator_outer_lr: float | None = setting(None,
        "The discriminator's own outer learning rate, under the same `outer_lr_schedule` "
        '(maml, fomaml, metasgd, reptile with adam; default: `outer_lr` for both players).')
    discriminator_meta_steps: int | None = setting(None,
        "Meta-updates of the discriminator's initialization: after this many its outer "
        "learning rate is 0 (held where it is) while the generator's meta-training goes on "
        '(maml, fomaml, metasgd; default: every meta-update). May change when resuming.')
    discriminator_loss_floor: float | None = setting(None,
        "Holds the discriminator's initialization (its outer learning rate 0) while its "
        'meta-loss, averaged over the meta-updates before (exponentially, weight 0.99 on the '
        "past), is below this floor: a guard against the discriminator winning the meta-game "
        '(maml, fomaml, metasgd; the losses non-saturating and minimax). Unset: never held. '
        'The average is in the checkpoint: a run keeps the floor it started with. On Omniglot '
        "it did not stop a generator's collapse (docs/results/omniglot_maml_gan.md).")
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
        'Reptile/FIGR outer step: init += size * mean(adapted - init) (`reptile_outer` sgd).')
    reptile_outer: str = setting("sgd",
        "How reptile moves the initialization: sgd (Reptile: the step above) or adam (the "
        "FIGR authors' code: mean(init - adapted) is the gradient of an outer Adam at "
        "`outer_lr`, `discriminator_outer_lr`, under `outer_lr_schedule`).",
        choices=REPTILE_OUTERS)
    step_weights: str = setting("uniform",
        'Multi-step loss weights: uniform (paper 000), final (original MAML), annealed '
        '(uniform decaying to final over `anneal_steps`).', choices=STEP_WEIGHTS)
    anneal_steps: int = setting(1000, 'Meta-updates of the annealed schedule.')
    first_order_steps: int = setting(0,
        "maml only: derivative-order annealing (MAML++): the first `first_order_steps` "
        'meta-updates use the first-order meta-gradient (fomaml\'s, faster), the rest the '
        'second-order one. 0: second order throughout. May change when resuming.')
    first_order_player: str = setting("none", "maml only: this player's meta-gradient first "
        "order (fomaml's), the other's second; none: both second. May change when resuming.",
        choices=("none", "discriminator", "generator"))
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
        "(trainers.evaluate, export.saved_model, export.adapted, the sample grids); "
        "meta-training keeps `inner_lr` (1: the paper's one rate for both; not metasgd, which "
        "adapts with its learned rates). Measured: docs/results/gan_ten_steps.md. Can be "
        "changed when resuming.")
    discriminator_adapt_lr_scale: float | None = setting(None,
        "The discriminator's own `adapt_lr_scale` (unset: `adapt_lr_scale` for both players). "
        "Can be changed when resuming.")
    grid_steps: tuple = setting(GRID_STEPS,
        "Adaptation steps shown in the sample grids, after the prior (paper 000's Figure 5: "
        '1,5,10). Each held-out class adapts on 32 of its images however many steps are '
        'shown. Can be changed when resuming.')

    def __post_init__(self):
        for name in (f.name for f in dataclasses.fields(self) if f.type == "bool"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be true or false, got {getattr(self, name)!r}")
        for field in dataclasses.fields(self):   # each choice's `choices=`
            if "choices" in field.metadata:
                checks.one_of(field.name, getattr(self, field.name), field.metadata["choices"])
        for name in _COUNTS:
            checks.count(name, getattr(self, name))
        checks.count("steps", self.steps, minimum=0)
        for name in _RATES:
            checks.positive(name, getattr(self, name))
        if self.inner_beta_1 is not None and not 0 <= self.inner_beta_1 < 1:
            raise ValueError(f"`inner_beta_1` must be in [0, 1), got {self.inner_beta_1!r}")
        if self.discriminator_inner_lr is not None:   # unset: `inner_lr`
            checks.positive("discriminator_inner_lr", self.discriminator_inner_lr)
        if self.discriminator_outer_lr is not None:   # unset: `outer_lr`
            checks.positive("discriminator_outer_lr", self.discriminator_outer_lr)
            if self.algorithm == "reptile" and self.reptile_outer == "sgd":   # scratch: none
                raise ValueError(f"`discriminator_outer_lr` applies to an outer optimizer with "
                                 f"a learning rate (maml, fomaml, metasgd; reptile with "
                                 f"`reptile_outer`=adam), not reptile's `reptile_step_size`")
        if self.discriminator_meta_steps is not None:   # unset: every meta-update
            checks.count("discriminator_meta_steps", self.discriminator_meta_steps, minimum=0)
            if self.algorithm == "reptile":
                raise ValueError(f"`discriminator_meta_steps` applies to the outer RMSprop of "
                                 f"maml, fomaml and metasgd, not `algorithm`={self.algorithm}")
        if self.discriminator_loss_floor is not None:   # unset: never held
            checks.positive("discriminator_loss_floor", self.discriminator_loss_floor)
            if self.algorithm == "reptile" or self.loss == "wgan-gp":
                raise ValueError(f"`discriminator_loss_floor` applies to the outer RMSprop of "
                                 f"maml, fomaml and metasgd with a cross-entropy `loss` "
                                 f"(non-saturating, minimax), not `algorithm`={self.algorithm} "
                                 f"with `loss`={self.loss}")
        checks.count("first_order_steps", self.first_order_steps, minimum=0)
        for name in ("first_order_steps", "first_order_player"):   # scratch: no update
            if getattr(self, name) not in (0, "none") and self.algorithm not in ("maml", "scratch"):
                raise ValueError(f"`{name}` (the derivative order) applies to maml, not "
                                 f"`algorithm`={self.algorithm}")
        if self.layer_scales and self.algorithm in ("metasgd", "reptile"):
            raise ValueError(f"`layer_scales` applies to maml and fomaml, not "
                             f"`algorithm`={self.algorithm}")   # scratch: nothing to learn
        for name in ("adapt_lr_scale", "discriminator_adapt_lr_scale"):
            scale = getattr(self, name)
            if scale is None:                         # unset: `adapt_lr_scale`
                continue
            checks.positive(name, scale)
            if scale != 1 and self.algorithm == "metasgd":
                raise ValueError(f"`{name}`={scale}: metasgd adapts with its learned rates; "
                                 f"expected 1")
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

    def adapt_scales(self) -> dict[str, float]:
        """Each player's multiplier of its inner rate wherever the meta-trained run adapts."""
        d = self.discriminator_adapt_lr_scale
        return {"generator": self.adapt_lr_scale,
                "discriminator": self.adapt_lr_scale if d is None else d}

    def adapting(self) -> MamlGanConfig:
        """The config a meta-trained run adapts with: inner rates x their scales, then 1."""
        scales = self.adapt_scales()
        if set(scales.values()) == {1}:
            return self
        rates = {p: rate * scales[p] for p, rate in self.inner_lrs().items()}
        return dataclasses.replace(self, inner_lr=rates["generator"], adapt_lr_scale=1.0,
                                   discriminator_inner_lr=rates["discriminator"],
                                   discriminator_adapt_lr_scale=None)

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
        if name != "adam":
            return {"epsilon": self.inner_epsilon} if name == "rmsprop" else {}
        beta_1 = self.inner_beta_1
        if beta_1 is None:
            beta_1 = 0.5 if self.algorithm == "reptile" else 0.9
        return {"epsilon": self.inner_epsilon, "beta_1": beta_1}

    def to_json(self) -> dict:
        return dict(dataclasses.asdict(self), grid_steps=list(self.grid_steps))


def legacy(stored: dict) -> dict:
    """A stored run's settings as this version means them.

    Before `inner_beta_1` existed (2026-12-06) a reptile run adapted with Adam
    (beta_1 0.5) whatever its `inner_optimizer` said, unless sgd.
    """
    if ("inner_beta_1" not in stored and stored.get("algorithm") == "reptile"
            and stored.get("inner_optimizer") != "sgd"):
        return {**stored, "inner_optimizer": "adam"}
    return stored
