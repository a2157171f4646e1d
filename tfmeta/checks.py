"""Validation of counts, ranges, choices and seeds: one message shape everywhere.

Each check returns the value it accepted (as a Python int or float) or raises
``ValueError`` with one line that names the setting, the value it got and
what was expected, e.g. ``--inner_steps must be an integer >= 1, got 0``.
Config classes pass ``flag=True`` so the message names the command-line flag
(``--name``); library functions name the argument.

Example:
    >>> count("ways", 5, minimum=1)
    5
    >>> count("ways", 0, minimum=1)
    Traceback (most recent call last):
    ValueError: ways must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

__all__ = ["count", "bounded", "positive", "one_of", "increasing", "label"]


def label(name: str, flag: bool = False) -> str:
    """``name`` as a message names it: ``--name`` for a flag."""
    return f"--{name}" if flag else name


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def count(name: str, value: Any, minimum: int = 1, *, flag: bool = False) -> int:
    """An integer ``>= minimum`` (bools and floats are refused)."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{label(name, flag)} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def bounded(name: str, value: Any, low: int, high: int, *, flag: bool = False) -> int:
    """An integer in ``[low, high]``."""
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{label(name, flag)} must be an integer in [{low}, {high}], "
                         f"got {value!r}")
    return int(value)


def positive(name: str, value: Any, *, flag: bool = False, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        what = "a finite number >= 0" if allow_zero else "a positive number"
        raise ValueError(f"{label(name, flag)} must be {what}, got {value!r}")
    return float(value)


def one_of(name: str, value: Any, allowed: Sequence[Any], *, flag: bool = False) -> Any:
    """``value`` if it is one of ``allowed``."""
    if value not in tuple(allowed):
        raise ValueError(f"{label(name, flag)}={value!r} is not one of {list(allowed)}")
    return value


def increasing(name: str, values: Any, minimum: int = 1, *, flag: bool = False,
               example: str = "1,5,10") -> tuple[int, ...]:
    """A non-empty strictly increasing sequence of integers ``>= minimum``."""
    if (isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values
            or any(not _is_int(k) or k < minimum for k in values)
            or any(a >= b for a, b in zip(values, values[1:]))):
        raise ValueError(f"{label(name, flag)} must be increasing integers >= {minimum} "
                         f"(e.g. {example}), got {values!r}")
    return tuple(int(k) for k in values)
