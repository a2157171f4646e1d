"""The few-shot presets, as data: the CPU recipes and the published settings.

:data:`PAPER` holds the published settings of each N-way K-shot setting for
GPU runs (meta-batch sizes, steps, iterations), :data:`REPTILE_PAPER` Reptile's;
:data:`REPTILE_CPU`, :data:`MEGAN_CPU`,
:data:`METRIC_CPU` and :data:`METRIC_PAPER` the recipes of MeGAN and the
metric learners. :data:`PRESETS` puts them together as the `preset`s
``cpu`` (the default) and ``paper``
(:func:`tfmeta.experiments.settings.resolve` applies them).

Example:
    >>> config = FewShotConfig(ways=20, shots=5, **PAPER[(20, 5)])
"""

from __future__ import annotations

from tfmeta.experiments.few_shot.config import GRADIENT_ALGORITHMS
from tfmeta.experiments.settings import NoneOf, OneOf, Preset, Rule

# Published settings (MAML, Finn et al. 2017, appendix; MAML++ keeps them) for the full-length
# GPU runs: meta-batch sizes, inner steps and rate, iterations; 10 inner steps at test time.
PAPER: dict[tuple[int, int], dict] = {
    (5, 1): dict(meta_batch_size=32, inner_steps=1, inner_lr=0.4, steps=60000,
                 eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (5, 5): dict(meta_batch_size=32, inner_steps=1, inner_lr=0.4, steps=60000,
                 eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (20, 1): dict(meta_batch_size=16, inner_steps=5, inner_lr=0.1, steps=60000,
                  eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
    (20, 5): dict(meta_batch_size=16, inner_steps=5, inner_lr=0.1, steps=60000,
                  eval_inner_steps=10, outer_lr=1e-3, outer_lr_schedule="constant"),
}


# Reptile's published runs (Nichol et al. 2018; openai/supervised-reptile's README, Omniglot):
# 10 images per class dealt out in mini-batches to Adam (beta1 = 0) whose moments run on from
# task to task (the code's), 5 tasks per meta-update, an outer step of 1 decayed linearly to 0,
# 50 Adam steps on the support set at test. The reference's test mini-batches (its
# `eval_batch`) are the whole support set here.
_REPTILE = dict(inner_optimizer="adam_carried", train_shots=10, meta_batch_size=5, outer_lr=1.0,
                outer_lr_schedule="linear", eval_inner_steps=50)
_REPTILE_5 = dict(_REPTILE, inner_lr=1e-3, inner_steps=5, inner_batch=10, steps=100000)
_REPTILE_20 = dict(_REPTILE, inner_lr=5e-4, inner_steps=10, inner_batch=20, steps=200000)
REPTILE_PAPER: dict[tuple[int, int], dict] = {
    (5, 1): _REPTILE_5, (5, 5): _REPTILE_5, (20, 1): _REPTILE_20, (20, 5): _REPTILE_20}

# Reptile's CPU recipe (5-way; docs/results/fidelity.md): the paper's inner loop and test, a
# tenth of its meta-updates: 91.5% on Omniglot 5-way 1-shot in 19 minutes on 2 cores.
REPTILE_CPU: dict = dict(_REPTILE_5, steps=10000, eval_every=1000)


# MeGAN (paper 001): five inner steps, generated images from the third (what trainers.few_shot
# takes, over the defaults, for fields not given; the `paper` preset: over PAPER's).
MEGAN_PAPER: dict = dict(inner_steps=5, fakes_from=2)
MEGAN_CPU: dict = dict(inner_steps=5, eval_inner_steps=5, fakes_from=2, meta_batch_size=4,
                       outer_lr=3e-3, outer_lr_schedule="cosine", steps=1500, eval_every=250)


# CPU recipes of the metric learners (5-way 1-shot on Omniglot, 2-core CPU; see
# docs/results/few_shot.md): what trainers.few_shot takes, over the defaults, for fields not given.
METRIC_CPU: dict[str, dict] = {
    "protonet": dict(train_ways=60, train_queries=5, meta_batch_size=1, outer_lr=1e-3,
                     outer_lr_schedule="cosine", steps=8000, eval_every=500),
    "matching": dict(meta_batch_size=4, outer_lr=1e-3, outer_lr_schedule="cosine",
                     steps=4000, eval_every=500, matching_scale=10.0),
    "relation": dict(meta_batch_size=1, outer_lr=1e-3, outer_lr_schedule="cosine",
                     steps=1500, eval_every=250),
    "siamese": dict(meta_batch_size=4, outer_lr=1e-3, outer_lr_schedule="cosine",
                    steps=3000, eval_every=500),
}

# The metric papers' training settings for full-length GPU runs (any ways/shots; Omniglot):
# Snell et al.: 60-way training episodes with 5 queries per class, Adam 1e-3 (halved every 2000
# episodes in the paper; a cosine here), max-pooled Conv-4; Sung et al.: 19 queries (1-shot),
# Adam 1e-3, max-pool in the first two blocks; Vinyals et al. and Koch et al. give no episode
# schedule for Conv-4, so theirs take the prototypical schedule at the evaluation ways.
METRIC_PAPER: dict[str, dict] = {
    "protonet": dict(train_ways=60, train_queries=5, meta_batch_size=1, outer_lr=1e-3,
                     steps=20000, pooling="max"),
    "matching": dict(meta_batch_size=1, outer_lr=1e-3, steps=20000, pooling="max"),
    "relation": dict(train_queries=19, meta_batch_size=1, outer_lr=1e-3, steps=100000,
                     pooling="max"),
    "siamese": dict(meta_batch_size=1, outer_lr=1e-3, steps=20000, pooling="max"),
}


# The baseline's published trainings (Chen et al. 2019: Adam 1e-3, batches of 16, 400 epochs;
# RFS: SGD 0.05, 100 epochs) are counted in epochs of the dataset, so they are not written here.
BASELINE_PAPER_REFUSAL = (
    "`preset`=paper has no settings for `algorithm`=baseline yet; use `preset`=cpu and give "
    "Chen et al. 2019's: `outer_lr`=0.001 `outer_lr_schedule`=constant `batch_size`=16, "
    "`steps` for 400 epochs of the training images; or RFS's: `baseline_optimizer`=sgd "
    "`outer_lr`=0.05 `weight_decay`=0.0005 `outer_lr_schedule`=step `augment`=rfs "
    "`batch_size`=64, `steps` for 100 epochs")


def _presets():
    hybrid = Rule({"algorithm": "megan", "first_order": True}, {"outer_loss": "hybrid"})
    gradient = OneOf(set(GRADIENT_ALGORITHMS) - {"reptile"})
    known = ", ".join(f"`ways`={w} `shots`={s}" for w, s in sorted(PAPER))
    reptile = [Rule({"algorithm": "reptile", ("ways", "shots"): NoneOf(REPTILE_PAPER)},
                    refuse="`preset`=paper has no Reptile settings for `ways`={ways} "
                    "`shots`={shots}; it has " + known),
               *(Rule({"algorithm": "reptile", ("ways", "shots"): key}, REPTILE_PAPER[key])
                 for key in REPTILE_PAPER)]
    return {
        "cpu": Preset(
            "cpu", "the CPU recipe: the defaults shown here, about 30 minutes on 2 cores for "
            "5-way 1-shot MAML; each metric learner and megan take their own CPU recipe",
            rules=(hybrid, *(Rule({"algorithm": a}, METRIC_CPU[a]) for a in METRIC_CPU),
                   Rule({"algorithm": "megan"}, MEGAN_CPU),
                   Rule({"algorithm": "reptile", "ways": 5}, REPTILE_CPU))),
        "paper": Preset(
            "paper", "the published settings of the given `ways` and `shots` (5w1s, 5w5s, "
            "20w1s, 20w5s) or of the metric learner; hours on a GPU",
            rules=(hybrid, *(Rule({"algorithm": a}, METRIC_PAPER[a]) for a in METRIC_PAPER),
                   Rule({"algorithm": gradient, ("ways", "shots"): NoneOf(PAPER)},
                        refuse="`preset`=paper has no settings for `ways`={ways} "
                        "`shots`={shots}; it has " + known),
                   *(Rule({"algorithm": gradient, ("ways", "shots"): key}, PAPER[key])
                     for key in PAPER), *reptile,
                   Rule({"algorithm": "baseline"}, refuse=BASELINE_PAPER_REFUSAL),
                   Rule({"algorithm": "megan"}, MEGAN_PAPER))),
    }


# What `preset` names: the CPU recipes (the default) and the published settings.
PRESETS = _presets()
