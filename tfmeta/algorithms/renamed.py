"""The inner loop's deprecated names; each warns once per call and works as before.

* ``adapt`` is :func:`tfmeta.algorithms.adaptation_trajectory` (the trajectory);
* ``adapt_loop`` is :func:`tfmeta.algorithms.adapted_params_and_carry` (the symbolic
  loop's ``(adapted_params, carry)``).

Both take ``inner_steps=`` or its deprecated name ``steps=``. In tfmeta, "adapt"
names the verb only: ``adapt(x)`` runs the inner loop and returns the adapted
``x`` (the glossary in docs/library.md).

Example:
    >>> adaptation_trajectory(objective, params, task.inner, sgd(0.4), inner_steps=5,
    ...                       seed=task.seed)          # was: adapt(..., steps=5, ...)
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

from tfmeta import checks
from tfmeta.algorithms.adapt import adaptation_trajectory, adapted_params_and_carry
from tfmeta.types import Objective


def adapt(objective: Objective, params: Mapping[str, list], batches: Any, inner: Any, *,
          steps: int | None = None, inner_steps: int | None = None, **kwargs):
    """Deprecated name of :func:`adaptation_trajectory` (whose ``inner_steps`` is ``steps``).

    Warns once per call (a DeprecationWarning) and returns the same trajectory.
    """
    warnings.warn("`tfmeta.algorithms.adapt` is deprecated: use `adaptation_trajectory` "
                  "(with `inner_steps=` for `steps=`)", DeprecationWarning, stacklevel=2)
    inner_steps = checks.renamed_keyword("adapt", "inner_steps", inner_steps, "steps", steps,
                                         warn=False)
    return adaptation_trajectory(objective, params, batches, inner, inner_steps=inner_steps,
                                 **kwargs)


def adapt_loop(objective: Objective, params: Mapping[str, list], batches: Any, inner: Any, *,
               steps: int | None = None, inner_steps: int | None = None, **kwargs):
    """Deprecated name of :func:`adapted_params_and_carry` (whose ``inner_steps`` is
    ``steps``).

    Warns once per call (a DeprecationWarning) and returns the same
    ``(adapted_params, carry)``.
    """
    warnings.warn("`tfmeta.algorithms.adapt_loop` is deprecated: use "
                  "`adapted_params_and_carry` (with `inner_steps=` for `steps=`)",
                  DeprecationWarning, stacklevel=2)
    inner_steps = checks.renamed_keyword("adapt_loop", "inner_steps", inner_steps, "steps",
                                         steps, warn=False)
    return adapted_params_and_carry(objective, params, batches, inner, inner_steps=inner_steps,
                                    **kwargs)
