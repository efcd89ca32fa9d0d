"""Argument checks shared by the metrics: each error names the argument and the numbers."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np

__all__ = [
    "check_bool",
    "check_iou_thr",
    "check_labels",
    "check_nproc",
    "check_scale_ranges",
    "check_sort",
    "check_task1_class_names",
    "check_unique",
]

SORTS = ("devkit", "stable")


def check_bool(value: object, name: str) -> bool:
    """``value`` if it is a real bool (``True``/``False``, or numpy's).

    A string is truthy whatever it says: ``use_07_metric='False'`` (or a mistyped
    ``'Flase'`` from ``--eval-options``) would silently switch the option on.

    Raises:
        TypeError: Naming the option and the value: anything but a bool (strings, numbers).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def check_nproc(value: object, name: str = "nproc") -> int:
    """``value`` as an int >= 1 (MMRotate hands it to ``multiprocessing.Pool``).

    Raises:
        ValueError: Naming the option and the value: not an integer (a bool, a float, a
            string), or below 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


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


def check_unique(values: Sequence[object], name: str, why: str = "") -> None:
    """Every entry of ``values`` once.

    Args:
        values: Names (or numbers) that must not repeat.
        name: The argument, for the message (``image_list``).
        why: What a repeat would do, appended to the message.

    Raises:
        ValueError: Naming the argument and each repeated value with its positions (the
            first five).
    """
    seen: dict[object, list[int]] = {}
    for k, v in enumerate(values):
        seen.setdefault(v, []).append(k)
    dups = [(v, ks) for v, ks in seen.items() if len(ks) > 1]
    if dups:
        shown = ", ".join(f"{v!r} (at {', '.join(map(str, ks))})" for v, ks in dups[:5])
        more = f" ... ({len(dups)} repeated values)" if len(dups) > 5 else ""
        raise ValueError(f"{name} repeats {shown}{more}: give each once{why}")


_NOT_IN_FILE_NAMES = re.compile(r"[\t\n\r\f\v/\\\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[\s/\\]+")


def check_task1_class_names(class_names: Sequence[object], name: str = "class_names") -> list[str]:
    """Class names as they go into ``Task1_<class>.txt``: strings, non-empty, each once, without
    path separators, control characters (tabs, newlines) or leading / trailing whitespace.

    The DOTA devkit and server look for a class's results in ``Task1_`` + the class name +
    ``.txt`` (``detpath.format(classname)``); a name with inner spaces (``Small Car``, as
    FAIR1M's and DOTA8's YAML have) makes a file name that works as MMRotate writes it (the
    class is not written inside the lines). ``a/b`` would be a path into a folder that does not
    exist.

    Raises:
        TypeError: A name that is not a string (naming ``class_names[k]``).
        ValueError: An empty name, one with ``/``, ``\\``, a tab, newline or other control
            character, or surrounding whitespace (naming it, its position and DOTA's spelling
            with '-'), a repeated name.
    """
    names = list(class_names)
    for k, c in enumerate(names):
        if not isinstance(c, str):
            raise TypeError(f"{name}[{k}] must be a class name (str), got {type(c).__name__} {c!r}")
        if not c:
            raise ValueError(f"{name}[{k}] is empty: a class needs a name for its Task1_<class>.txt file")
        bad = _NOT_IN_FILE_NAMES.search(c) or (re.match(r"\s|.*\s$", c) if c != c.strip() else None)
        if bad and (bad.group()[-1:].isspace() or bad.group() in "/\\"):
            what = "whitespace" if bad.group()[-1:].isspace() else "a path separator"
            dota = _SEPARATORS.sub("-", c.strip())
            raise ValueError(
                f"{name}[{k}] {c!r} holds {what} ({bad.group()!r}) and cannot name a Task1_<class>.txt "
                "file: DOTA's class names join words with '-' ('small-vehicle'); rename the class in "
                f"the dataset's classes, e.g. to {dota!r}"
            )
        if bad:
            raise ValueError(f"{name}[{k}] {c!r} holds a control character ({bad.group()!r})")
    check_unique(names, name, " (each class writes its own Task1_<class>.txt file)")
    return names


def check_scale_ranges(scale_ranges: object) -> list[tuple[float, float]]:
    """``scale_ranges`` as a non-empty list of ``(min, max)`` side lengths, ``0 <= min < max``
    (``max`` may be ``inf``).

    Raises:
        ValueError: Naming ``scale_ranges[k]`` and its value: not a pair of numbers, a
            negative or non-finite ``min``, ``max <= min`` (an empty range), NaN.
    """
    try:
        ranges = list(scale_ranges)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"scale_ranges must be a list of (min, max) pairs, got {scale_ranges!r}") from None
    if not ranges:
        raise ValueError("scale_ranges is empty: give at least one (min, max) pair, or None")
    out = []
    for k, rg in enumerate(ranges):
        try:
            lo, hi = rg
        except (TypeError, ValueError):
            raise ValueError(f"scale_ranges[{k}] must be a (min, max) pair, got {rg!r}") from None
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, (Real, np.floating, np.integer)):
                raise ValueError(f"scale_ranges[{k}] must be a (min, max) pair of numbers, got {rg!r}")
        lo, hi = float(lo), float(hi)
        if not (0.0 <= lo < hi and np.isfinite(lo)):  # NaN fails too
            raise ValueError(f"scale_ranges[{k}] must have 0 <= min < max, got {rg!r}")
        out.append((lo, hi))
    return out


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
