"""``InnerLoop``: the settings of a :class:`tfmeta.algorithms.MetaLearner`'s inner loop, as one value.

``MetaLearner(..., inner_loop=InnerLoop(inner_steps=5, step_weights="final"))`` is
``MetaLearner(..., inner_steps=5, step_weights="final")``: the keyword arguments
build the spec (:func:`resolve`). Giving both a spec and a keyword that sets one
of its fields to another value is a TypeError that names them.

Example:
    >>> loop = InnerLoop(inner_steps=5, step_weights="annealed", anneal_steps=500)
    >>> learner = MetaLearner(variables, objective, sgd(0.4), outer, inner_loop=loop)
    >>> learner.inner_loop.inner_steps
    5
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from tfmeta import checks
from tfmeta.algorithms.adapt import check_steps, step_weights as make_step_weights


@dataclasses.dataclass(frozen=True)
class InnerLoop:
    """How a meta-learner adapts each task and weighs the adaptation's losses.

    Attributes:
      inner_steps: inner steps k per task.
      step_weights: ``"uniform"``, ``"final"`` or ``"annealed"`` (MAML only): the
        weights of the query losses after each step in the meta-loss.
      anneal_steps: meta-updates of the ``annealed`` schedule.
      first_order_steps: MAML: derivative-order annealing (MAML++): the first
        ``first_order_steps`` meta-updates use the first-order meta-gradient,
        the rest the exact second-order one.
      first_order_players: MAML: the players whose meta-gradients are first order
        (their inner gradients stopped), the others' second order; empty: none.
      remat: MAML/FOMAML: recompute each inner step and validation loss during
        the meta-gradient instead of keeping their activations, in a symbolic
        loop over the steps: about 1.7x the time of the default, and memory
        that holds only each step's parameters and optimizer state (see
        bench/README.md and :func:`tfmeta.algorithms.maml.maml_losses`).
      unroll: MAML/FOMAML: ``True`` unrolls the k inner steps into the graph,
        ``False`` makes one symbolic loop; None: unrolled unless ``remat``.
      carry_inner_state: Reptile: the inner optimizer's state persists in the
        learner's ``inner_state``: every task starts from it, then it is the mean
        of the tasks' final states (:mod:`tfmeta.algorithms.carried`; the
        Reptile reference's Adam).
      adapt_only: MAML/FOMAML: ``{player: indices}``, the only tensors of those
        players the inner steps adapt (ANIL: the head,
        :func:`tfmeta.functional.head_indices`); the others are shared by the steps
        and meta-learned through the adapted tensors' query loss. None: all.
    """
    inner_steps: int = 10
    step_weights: str = "uniform"
    anneal_steps: int = 1000
    first_order_steps: int = 0
    first_order_players: tuple = ()
    remat: bool = False
    unroll: bool | None = None
    carry_inner_state: bool = False
    adapt_only: Mapping[str, Sequence[int]] | None = None

    def __post_init__(self):
        check_steps(self.inner_steps, "inner_steps")
        make_step_weights(self.step_weights, self.inner_steps, 0, self.anneal_steps)
        checks.count("first_order_steps", self.first_order_steps, minimum=0)
        players = self.first_order_players   # frozen: stored as a sorted tuple of names
        object.__setattr__(self, "first_order_players", tuple(sorted(
            [players] if isinstance(players, str) else players)))
        if self.adapt_only is not None:   # frozen: stored as {player: tuple}
            if not isinstance(self.adapt_only, Mapping):
                raise ValueError(f"adapt_only must be a {{player: [indices]}} dict, got "
                                 f"{self.adapt_only!r}")
            object.__setattr__(self, "adapt_only", {
                p: tuple(v) if isinstance(v, (list, tuple, range)) else v
                for p, v in self.adapt_only.items()})


FIELDS = tuple(f.name for f in dataclasses.fields(InnerLoop))


def resolve(inner_loop: InnerLoop | None, **given) -> InnerLoop:
    """The spec of ``inner_loop`` and the keyword arguments ``given`` (None: not given).

    Raises:
      TypeError: ``inner_loop`` is not an InnerLoop, or a keyword sets one of its
        fields to another value (the message names both).
    """
    given = {name: value for name, value in given.items() if value is not None}
    if isinstance(given.get("adapt_only"), Mapping):   # compared as stored: tuples
        given["adapt_only"] = InnerLoop(adapt_only=given["adapt_only"]).adapt_only
    if "first_order_players" in given:
        given["first_order_players"] = InnerLoop(
            first_order_players=given["first_order_players"]).first_order_players
    if inner_loop is None:
        return InnerLoop(**given)
    if not isinstance(inner_loop, InnerLoop):
        raise TypeError(f"`inner_loop` must be an InnerLoop, got {inner_loop!r}")
    conflicts = [f"`{name}`={value!r}" for name, value in sorted(given.items())
                 if value != getattr(inner_loop, name)]
    if conflicts:
        raise TypeError(f"got `inner_loop` and {', '.join(conflicts)}, which sets it "
                        f"otherwise; give each inner-loop setting once, in `inner_loop` or "
                        f"as a keyword")
    return inner_loop
