"""Validation of counts, ranges, choices and seeds: one message shape everywhere.

Each check returns the value it accepted (as a Python int or float) or raises
``ValueError`` with one line that names the setting, the value it got and
what was expected, e.g. "`inner_steps` must be an integer >= 1, got 0".

The convention: a library message names a setting (a config field or a function
argument) in backticks, as `name` or `name`=value, never as a command-line flag.
The command-line shell spells each backticked name that is one of its flags as
that flag, so write messages that read well either way.

Example:
    >>> count("ways", 5, minimum=1)
    5
    >>> count("ways", 0, minimum=1)
    Traceback (most recent call last):
    ValueError: `ways` must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

__all__ = ["count", "bounded", "positive", "one_of", "increasing", "renamed", "renamed_keyword"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def count(name: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools and floats are refused)."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def bounded(name: str, value: Any, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"`{name}` must be an integer in [{low}, {high}], "
                         f"got {value!r}")
    return int(value)


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        what = "a finite number >= 0" if allow_zero else "a positive number"
        raise ValueError(f"`{name}` must be {what}, got {value!r}")
    return float(value)


def one_of(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``."""
    if value not in tuple(allowed):
        raise ValueError(f"`{name}`={value!r} is not one of {list(allowed)}")
    return value


def increasing(name: str, values: Any, minimum: int = 1, *,
               example: str = "1,5,10") -> tuple[int, ...]:
    """A non-empty strictly increasing sequence of integers ``>= minimum``."""
    if (isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values
            or any(not _is_int(k) or k < minimum for k in values)
            or any(a >= b for a, b in zip(values, values[1:]))):
        raise ValueError(f"`{name}` must be increasing integers >= {minimum} "
                         f"(e.g. {example}), got {values!r}")
    return tuple(int(k) for k in values)


def renamed(name: str, value: Any, old_name: str, old_value: Any, default: Any) -> Any:
    """The value of argument ``name``, or of its deprecated name ``old_name`` (with a
    DeprecationWarning); ``default`` when neither is given; both is a TypeError, as in
    :func:`renamed_keyword`."""
    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise TypeError(f"got both `{name}` and `{old_name}`, its deprecated name; give "
                        f"`{name}` only")
    import warnings
    warnings.warn(f"`{old_name}` is deprecated: use `{name}`", DeprecationWarning, stacklevel=3)
    return old_value


def renamed_keyword(function: str, name: str, value: Any, old_name: str, old_value: Any, *,
                    warn: bool = True, stacklevel: int = 3) -> Any:
    """The value of the required keyword ``name`` of ``function``, or of its deprecated name
    ``old_name`` (with a DeprecationWarning unless ``warn=False``).

    Raises:
      TypeError: when both names are given, or neither (as Python does for a
        missing or repeated keyword).

    Example:
        >>> inner_steps = renamed_keyword("maml_losses", "inner_steps", inner_steps,
        ...                               "steps", steps)
    """
    if old_value is not None and value is not None:
        raise TypeError(f"{function}() got both `{name}` and `{old_name}`, its deprecated "
                        f"name; give `{name}` only")
    if old_value is None:
        if value is None:
            raise TypeError(f"{function}() missing the keyword argument `{name}`")
        return value
    if warn:
        import warnings
        warnings.warn(f"`{old_name}` of {function}() is deprecated: use `{name}`",
                      DeprecationWarning, stacklevel=stacklevel)
    return old_value
