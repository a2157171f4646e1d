"""Checks of class-id lists and image sizes: the arguments every dataset loader validates.

Example:
    >>> class_id_list(range(3), "train_classes")
    [0, 1, 2]
    >>> image_size_pair(28)
    (28, 28)
"""

from __future__ import annotations

import numbers
from typing import Sequence

__all__ = ["check_disjoint", "class_id_list", "describe_ids", "image_size_pair"]


def check_disjoint(train_ids: Sequence[int], test_ids: Sequence[int]) -> None:
    """Raises ValueError when meta-train and meta-test class ids overlap."""
    overlap = sorted(set(train_ids) & set(test_ids))
    if overlap:
        raise ValueError(
            f"train_classes and test_classes overlap in {overlap}; meta-test classes must be "
            f"unseen in meta-training, so remove these ids from one of the two lists")


def class_id_list(class_ids: Sequence[int], what: str) -> list[int]:
    """Checks a non-empty list of distinct integer class ids; ``what`` names it in errors."""
    if isinstance(class_ids, (str, bytes)) or not hasattr(class_ids, "__iter__"):
        raise ValueError(f"{what} must be a sequence of integer class ids, got {class_ids!r}")
    ids = list(class_ids)
    bad = [c for c in ids if not isinstance(c, numbers.Integral) or isinstance(c, bool)]
    if bad:
        raise ValueError(f"{what} must hold integer class ids, got {bad!r}")
    ids = [int(c) for c in ids]
    if not ids:
        raise ValueError(f"{what} is empty; give at least one class id")
    repeated = sorted({c for c in ids if ids.count(c) > 1})
    if repeated:
        raise ValueError(f"{what} lists class ids {repeated} more than once; list each once")
    return ids


def image_size_pair(size) -> tuple[int, int] | None:
    """``28 -> (28, 28)``; checks an ``(H, W)`` pair; ``None`` stays ``None``."""
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                       for s in size)):
        raise ValueError(f"image_size must be a positive int or (H, W), got {size!r}")
    return (int(size[0]), int(size[1]))


def describe_ids(ids: Sequence[int]) -> str:
    """A short description of a set of class ids for messages: ``0..9`` or a count and range."""
    ids = sorted(ids)
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}..{ids[-1]}"
    if len(ids) <= 12:
        return str(ids)
    return f"{len(ids)} ids in {ids[0]}..{ids[-1]}"
