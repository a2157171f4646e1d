"""The gradient family's fields: the inner loop, and MAML++'s options.

Where they do not apply (the metric learners) the plain settings
(`inner_steps`, `eval_inner_steps`, `inner_lr`, `step_weights`,
`anneal_steps`) are ignored; the switches (`per_step_lr`, `per_step_bn`,
`first_order_steps`, `adapt`=head) are refused when set, naming the learners that take
them.
"""

from __future__ import annotations

import dataclasses

from tfmeta import checks
from tfmeta.experiments.few_shot.registry import refuse_unused
from tfmeta.experiments.settings import setting

STEP_WEIGHTS = ("uniform", "final", "annealed")
ADAPTS = ("all", "head")
SWITCHES = ("per_step_lr", "per_step_bn", "first_order_steps")


@dataclasses.dataclass(frozen=True)
class InnerLoopFields:
    """Inner steps on the support set, at training and at test, and MAML++'s options."""
    inner_steps: int = setting(1, 'Inner SGD steps on the support set during meta-training.')
    eval_inner_steps: int = setting(3,
        "Inner steps at test time (the curve and trainers.few_shot_eval's default; MAML used "
        '3 and 10).')
    inner_lr: float = setting(0.4,
        "Inner SGD learning rate (Meta-SGD, `per_step_lr`: the learned rates' initial value).")
    per_step_lr: bool = setting(False,
        'MAML++ LSLR: a learned inner rate per parameter tensor and inner step (maml, '
        'fomaml).')
    per_step_bn: bool = setting(False,
        'MAML++ per-step batch norm: learned normalization weights and biases for every inner '
        "step (the statistics are always the batch's own; maml, fomaml, metasgd).")
    first_order_steps: int = setting(0,
        'MAML++ derivative-order annealing: the first N meta-updates are first order (maml '
        'only; 0: off). May change when resuming.')
    step_weights: str = setting("final",
        "Meta-loss over inner steps: final (MAML: the last step's query loss), uniform, or "
        'annealed (MAML++ multi-step loss: uniform decaying to final over `anneal_steps`).', choices=STEP_WEIGHTS)
    anneal_steps: int = setting(1000, 'Meta-updates of the annealed multi-step loss.')
    adapt: str = setting("all",
        "What the inner steps adapt, in training, evaluation and export: all (every weight, "
        "MAML) or head (ANIL, Raghu et al. 2020: only the last Dense layer's kernel and bias; "
        "Conv-4's body is shared by the steps and meta-learned through the adapted head's "
        "query loss; Meta-SGD learns rates for the head only, `per_step_lr` rates for its two "
        "tensors; maml, fomaml, metasgd).", choices=ADAPTS)

    def check_block(self, spec=None) -> None:
        checks.one_of("step_weights", self.step_weights, STEP_WEIGHTS)
        checks.one_of("adapt", self.adapt, ADAPTS)
        for name in ("inner_steps", "eval_inner_steps", "anneal_steps"):
            checks.count(name, getattr(self, name))
        checks.count("first_order_steps", self.first_order_steps, minimum=0)
        checks.positive("inner_lr", self.inner_lr)
        refuse_unused(self, [name for name in SWITCHES if getattr(self, name)]
                      + (["adapt"] if self.adapt != "all" else []))
