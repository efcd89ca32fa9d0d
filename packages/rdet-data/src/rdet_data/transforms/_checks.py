"""Small argument and pipeline-order checks shared by the transforms (messages name the transform)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_image", "check_number", "check_pair", "check_scales", "is_number"]


def is_number(value: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bool(owner: str, name: str, value: Any) -> bool:
    """``value`` as a bool: ``True`` / ``False`` (or a NumPy bool), nothing else.

    A string such as ``'False'`` (a config value written in quotes, a command-line override)
    is truthy and would silently turn the option on; ``0`` / ``1`` are refused too.

    Raises:
        ValueError: not a bool; the message names ``owner`` and ``name``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_number(
    owner: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
) -> float:
    """``value`` as a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        ValueError: not a number (an int with ``integer``), not finite or out of range; the
            message names ``owner`` and ``name``.
    """
    kind = "an int" if integer else "a number"
    if not is_number(value) or (integer and not isinstance(value, numbers.Integral)):
        raise ValueError(f"{owner}: {name} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        interval = f"{'(' if low_open else '['}{lo}, {hi}]"
        raise ValueError(f"{owner}: {name} must be in {interval}, got {value!r}")
    return value


def check_pair(owner: str, name: str, value: Any) -> tuple[Any, Any]:
    """``value`` as a pair (a list or tuple of two items).

    Raises:
        ValueError: not a list or tuple of length 2.
    """
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{owner}: {name} must be a pair (a tuple of two), got {value!r}")
    return value[0], value[1]


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value)


def check_scales(owner: str, img_scale: Any, name: str = "img_scale") -> list[tuple[int, int]]:
    """A list of ``(long, short)`` pairs of positive ints; a bare pair (a tuple, or a list of two
    numbers from JSON) is one scale.

    Raises:
        ValueError: not a pair nor a list of pairs, empty, or an entry not an int >= 1.
    """
    if _is_pair(img_scale):
        scales = [img_scale]
    elif isinstance(img_scale, (list, tuple)):
        scales = list(img_scale)
    else:
        raise ValueError(f"{owner}: {name} must be a (long, short) pair or a list of them, got {img_scale!r}")
    if not scales:
        raise ValueError(f"{owner}: {name} is empty: give at least one (long, short) pair")
    out = []
    for scale in scales:
        if not isinstance(scale, (list, tuple)) or len(scale) != 2:
            raise ValueError(f"{owner}: each {name} must be a (long, short) pair of ints, got {scale!r}")
        for v in scale:
            check_number(owner, f"{name} {tuple(scale)} entry", v, low=1, integer=True)
        out.append((int(scale[0]), int(scale[1])))
    return out


def check_image(results: dict[str, Any], owner: str, key: str = "img") -> np.ndarray:
    """``results[key]`` as a NumPy image, with a pipeline-order error otherwise.

    Raises:
        KeyError: no image yet (the transform comes before ``LoadImageFromFile``).
        TypeError: the image is already a tensor (the transform comes after ``DefaultFormatBundle``).
    """
    if key not in results:
        raise KeyError(
            f"{owner} needs results[{key!r}]: it must come after LoadImageFromFile in the pipeline"
        )
    img = results[key]
    if not isinstance(img, np.ndarray):
        raise TypeError(
            f"{owner} must come before DefaultFormatBundle / ImageToTensor: results[{key!r}] is a "
            f"{type(img).__name__}, not a NumPy (H, W, C) image"
        )
    return img
