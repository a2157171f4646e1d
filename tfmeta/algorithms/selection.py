"""What the inner steps adapt: ``adapt_only={player: indices}`` (ANIL, Raghu et al. 2020).

ANIL is not another algorithm but a selection: MAML, first-order MAML or Meta-SGD
whose inner steps adapt only some tensors of a player -- the classifier's head,
:func:`tfmeta.functional.head_indices`. The inner gradient is taken with respect
to them alone (its backward pass stops at the head), the inner optimizer sees only
them (Meta-SGD: rates for them only), and the player's other tensors pass through
every step unchanged: shared by the steps, they get their meta-gradient through the
adapted tensors' query loss (exactly in second order; in first order, as FOMAML, the
query gradient at the shared tensors and the adapted ones). Players that
``adapt_only`` does not name adapt all their tensors.

Example:
    >>> adapt_only = {"model": head_indices(model)}
    >>> adaptation_trajectory(objective, params, Reused(support), sgd(0.4), inner_steps=5,
    ...                       seed=seed, adapt_only=adapt_only)
"""

from __future__ import annotations

from typing import Any, Mapping

from tfmeta.functional import head_indices


def check_adapt_only(adapt_only: Mapping[str, Any] | None,
                     params: Mapping[str, list]) -> dict[str, tuple[int, ...]]:
    """``{player: sorted indices}`` of the tensors the inner steps adapt (every player's).

    ``adapt_only`` (None: all of them) names some players' adapted tensors by their
    index in the player's list; the players it does not name adapt all theirs.

    Raises:
      ValueError: an unknown player, or indices that are not distinct ints in range
        (none at all included); the message shows the value and what was expected.
    """
    out = {p: tuple(range(len(params[p]))) for p in sorted(params)}
    if adapt_only is None:
        return out
    if not isinstance(adapt_only, Mapping):
        raise ValueError(f"adapt_only must be a {{player: [indices]}} dict, got {adapt_only!r}")
    unknown = sorted(set(adapt_only) - set(params))
    if unknown:
        raise ValueError(f"adapt_only names players {unknown} that are not among "
                         f"{sorted(params)}")
    for p, indices in adapt_only.items():
        n = len(params[p])
        values = list(indices) if isinstance(indices, (list, tuple, range)) else None
        if (not values or len(set(values)) != len(values)
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n
                           for i in values)):
            raise ValueError(f"adapt_only[{p!r}] must be distinct indices in 0..{n - 1} of "
                             f"player {p!r}'s {n} tensors, at least one, got {indices!r}")
        out[p] = tuple(sorted(values))
    return out


def adapted_part(params: Mapping[str, list], adapt_only: Mapping[str, tuple]) -> dict:
    """``{player: [the tensors the inner steps adapt]}`` (``adapt_only`` as checked)."""
    return {p: [params[p][i] for i in adapt_only[p]] for p in sorted(params)}


def with_adapted(params: Mapping[str, list], adapted: Mapping[str, list],
                 adapt_only: Mapping[str, tuple]) -> dict:
    """``params`` with each player's adapted tensors replaced by ``adapted``'s."""
    out = {p: list(params[p]) for p in sorted(params)}
    for p, indices in adapt_only.items():
        for i, tensor in zip(indices, adapted[p]):
            out[p][i] = tensor
    return out


def for_learner(adapt_only: Mapping[str, Any] | None, variables: Mapping[str, list],
                algorithm: str) -> dict | None:
    """A learner's checked ``adapt_only`` (None: all); ValueError for ``"reptile"``, whose
    direction ``init - adapted`` would be zero for the tensors the inner steps do not adapt."""
    if adapt_only is None:
        return None
    if algorithm == "reptile":
        raise ValueError("adapt_only (ANIL) applies to algorithm='maml' or 'fomaml', not "
                         "'reptile': its direction init - adapted is zero for the tensors "
                         "the inner steps do not adapt")
    return check_adapt_only(adapt_only, variables)


def head_only(model, player: str = "model") -> dict:
    """``{player: head_indices(model)}``: ANIL's selection for a classifier."""
    return {player: head_indices(model)}


def adapted_variables(variables: list, adapt_only: Mapping[str, Any] | None,
                      player: str = "model") -> list:
    """The ones of ``player``'s ``variables`` that the inner steps adapt, in the order the
    inner optimizer sees them (ascending index; for inner rates)."""
    if adapt_only is None or player not in adapt_only:
        return list(variables)
    return [variables[i] for i in sorted(adapt_only[player])]
