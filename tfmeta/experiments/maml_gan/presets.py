"""The presets of MAML-GAN runs: whole recipes by name, and how a run's settings resolve.

``paper`` (paper 000's settings, the config defaults, sized for a GPU) and
``cpu`` (the README's CPU recipe, 8-45 minutes on a 2-core CPU): each is
a set of settings plus rules that apply to some algorithms or datasets
(:class:`tfmeta.experiments.settings.Rule`). :func:`resolve` picks one.

Example:
    >>> config, preset, how = resolve("cpu", {"dataset": "omniglot"}, None, gpu=False)
"""

from __future__ import annotations

from typing import Any, Mapping

from tfmeta import checks
from tfmeta.experiments import settings
from tfmeta.experiments.maml_gan.config import MamlGanConfig
from tfmeta.experiments.settings import NoneOf, OneOf, Preset, Rule

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
# The project's FIGR row adapts with Adam (beta_1 0.5), as its PyTorch peer does.
_FIGR_ADAM = Rule({"algorithm": "reptile"}, {"inner_optimizer": "adam"})
# FIGR is Reptile + WGAN-GP; its order with inner Adam at 8x its rate: 0.734-0.789 on three
# seeds (MNIST), 0.826 adapting at half that rate (`inner_optimizer` adam, given).
_FIGR = Rule({"algorithm": "reptile"}, dict(
    loss="wgan-gp", inner_optimizer="rmsprop", inner_lr=8e-3,
    inner_order="discriminator_first", reptile_step_size=0.25, steps=900))
_MNIST_HALF_RATE = Rule({"dataset": "mnist", "algorithm": "reptile", "inner_optimizer": "adam"},
                        {"adapt_lr_scale": 0.5})
# Omniglot (docs/results/gan_ten_steps.md): both MAMLs rise longer at constant outer rates,
# the discriminator's a quarter (maml: 0.183 and 0.196 at 3600, paper's size; one run of four
# collapsed, docs/results/omniglot_maml_gan.md); FOMAML-GAN with WGAN-GP, adapting at
# half its inner rate for 10 steps, passes the paper's 0.328 (0.438 after 4500 updates).
_OMNIGLOT_RATES = Rule({"dataset": "omniglot", "algorithm": OneOf(("maml", "fomaml"))}, dict(
    outer_lr_schedule="constant", discriminator_outer_lr=5e-4, steps=3600, sample_every=900))
_OMNIGLOT_FOMAML = Rule({"dataset": "omniglot", "algorithm": "fomaml"}, dict(
    loss="wgan-gp", inner_epsilon=1e-3, adapt_lr_scale=0.5, serve_steps=10, steps=4500))
# Paper 000's inner RMSprop (floored, at FOMAML-GAN's rate) does better still: on Omniglot it
# doubles the 10 steps (0.153 against 0.066), on MNIST 0.858 against 0.826 (paper's size).
# On Omniglot its discriminator meta-trains at half the generator's rate and adapts at half
# that after meta-training, and it meta-trains with 20 inner steps for its 10: 0.253 against
# 0.153 at the paper's size (the discriminator's rates alone: 0.218); with paper 000's widths
# 64, 0.271 (+0.018 +- 0.010, twice the time; docs/results/omniglot_plateaus.md).
_OMNIGLOT_FIGR = (Rule({"dataset": "omniglot", "algorithm": "reptile"}, dict(steps=1800)),
                  Rule({"algorithm": "reptile", "inner_optimizer": "rmsprop"},
                       dict(inner_lr=4e-3, inner_epsilon=1e-3)),
                  Rule({"dataset": "omniglot", "algorithm": "reptile",
                        "inner_optimizer": "rmsprop"},
                       dict(discriminator_inner_lr=2e-3, discriminator_adapt_lr_scale=0.5,
                            inner_steps=20, generator_width=64, discriminator_width=64)))
PRESETS: dict[str, Preset] = {
    # Paper 000's settings: 20000 second-order updates, minutes on a GPU.
    "paper": Preset("paper", "paper 000's settings, the defaults shown here: 20000 "
                    "second-order updates, hours on a GPU, days on a CPU",
                    rules=(_ONE_STEP, _OMNIGLOT_BATCH, _FIGR_ADAM)),
    # The README's CPU recipe (docs/results/gan_ten_steps.md): outer rate 2e-3, 0.749 after
    # 10 steps against 1e-3's 0.674; the discriminator's 1e-3, 0.784-0.786 against 0.719-0.755;
    # per-layer step sizes, 0.858-0.900 on three seeds; detached fakes, maml 0.829 vs 0.163.
    "cpu": Preset("cpu", "the CPU recipe, first-order MAML at widths 32 (rules per "
                  "algorithm and dataset, shown with each setting), 8-45 minutes on a "
                  "2-core CPU", dict(
                      algorithm="fomaml", loss="non-saturating", inner_steps=10,
                      meta_batch_size=4, batch_size=32, generator_width=32,
                      discriminator_width=32, inner_lr=4e-3, layer_scales=True,
                      outer_lr=2e-3, discriminator_outer_lr=1e-3, outer_lr_schedule="cosine",
                      detach_fakes=True,
                      grid_steps=(1, 5, 10, 40, 80), serve_steps=80, sample_every=480,
                      steps=960), rules=(_ONE_STEP, _OMNIGLOT_BATCH, _FIGR, _MNIST_HALF_RATE,
                                         *_OMNIGLOT_FIGR, _OMNIGLOT_RATES, _OMNIGLOT_FOMAML,
                                         *_SHARED_OUTER, _PLAIN_STEPS, _SECOND_ORDER)),
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
