"""Argument checks shared by the metrics: each error names the argument and the numbers."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np

__all__ = ["check_iou_thr", "check_labels", "check_sort"]

SORTS = ("devkit", "stable")


def check_iou_thr(value: object, name: str = "iou_thr") -> float:
    """``value`` as a float in (0, 1].

    Raises:
        ValueError: It is not a number in (0, 1] (NaN included).
    """
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    v = float(value)
    if not 0.0 < v <= 1.0:  # NaN fails too
        raise ValueError(f"{name} must be in (0, 1], got {v}")
    return v


def check_sort(sort: str) -> str:
    """The official metric's order of tied scores: ``'devkit'`` or ``'stable'``."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    return sort


def check_labels(labels: np.ndarray, num_classes: int, name_of: Callable[[int], str]) -> None:
    """Class indices must lie in ``[0, num_classes)``.

    Args:
        labels: ``(N,)`` flattened labels.
        num_classes: The number of classes.
        name_of: Position in ``labels`` -> how to name where it came from, e.g.
            ``"annotations[3]['labels']"``.

    Raises:
        ValueError: Naming the first label outside the range, its value and ``num_classes``.
    """
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        k = int(bad[0])
        more = f"; {bad.size} such labels in all" if bad.size > 1 else ""
        raise ValueError(
            f"{name_of(k)} has label {int(labels[k])}, outside [0, {num_classes}) ({num_classes} classes{more})"
        )
