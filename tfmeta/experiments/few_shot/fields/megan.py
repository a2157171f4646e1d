"""MeGAN's fields (paper 001): the generator and where its images enter the inner loop.

Every one of them is refused, set away from its default, on another learner.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting

CONDITIONINGS = ("image", "label", "prototype", "none")   # tfmeta.nets.megan.CONDITIONINGS
OUTER_LOSSES = ("real", "fakes", "hybrid")               # tfmeta.megan.OUTER_LOSSES


@dataclasses.dataclass(frozen=True)
class MeganFields:
    """The generator beside the N+1-way classifier, and the two players' losses."""
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

    def check_block(self, spec=None) -> None:
        checks.one_of("conditioning", self.conditioning, CONDITIONINGS)
        checks.one_of("outer_loss", self.outer_loss, OUTER_LOSSES)
        checks.positive("real_weight", self.real_weight)
        checks.positive("fake_weight", self.fake_weight)
        checks.positive("generator_inner_lr", self.generator_inner_lr)
        checks.count("fakes_from", self.fakes_from, minimum=0)
        checks.count("generator_filters", self.generator_filters)
        checks.count("noise_dim", self.noise_dim)
        defaults = MeganFields.__dataclass_fields__
        given = [name for name in MEGAN_FIELDS if getattr(self, name) != defaults[name].default]
        refuse_unused(self, given, notes={"first_order": "first-order MAML is `algorithm`=fomaml"}
                      if given == ["first_order"] else None)


MEGAN_FIELDS = tuple(f.name for f in dataclasses.fields(MeganFields))
