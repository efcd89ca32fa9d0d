"""Argument checks shared by the op faces: clear TypeError/ValueError naming the argument."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch


def check_tensor(
    name: str, x: object, *, ndim: int | None = None, last: int | tuple[int, ...] | None = None
) -> None:
    """``x`` must be a tensor with ``ndim`` dimensions and ``last`` columns (an int or choices)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if last is not None:
        choices = (last,) if isinstance(last, int) else last
        if x.shape[-1] not in choices:
            want = " or ".join(str(c) for c in choices)
            raise ValueError(f"{name} must have shape (N, {want}), got {tuple(x.shape)}")


def check_floating(name: str, x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_same_device(**tensors: torch.Tensor) -> None:
    items = list(tensors.items())
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.device != first.device:
            raise ValueError(f"{name} is on {t.device} but {first_name} is on {first.device}")


def check_rows(name: str, x: torch.Tensor, other_name: str, n: int) -> None:
    if x.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (as {other_name}), got shape {tuple(x.shape)}")


def check_finite(name: str, x: torch.Tensor) -> None:
    """Every value of ``x`` must be finite (one pass, ``torch.isfinite(x).all()``, and one
    device sync on CUDA).

    Skipped while torch.compile / torch.export trace (it is a data-dependent branch): a
    traced graph keeps the op's own handling of NaN/inf.

    Raises:
        ValueError: Naming ``name`` and its first row with a NaN or inf, with the row's values.
    """
    if torch.compiler.is_compiling() or x.numel() == 0:
        return
    if bool(torch.isfinite(x).all()):
        return
    bad = ~torch.isfinite(x.detach().reshape(x.shape[0], -1)).all(1)
    k = int(bad.nonzero()[0, 0])
    raise ValueError(f"{name} must be finite, got row {k}: {x[k].tolist()}")


def check_threshold(name: str, value: object) -> float:
    """``value`` as a float: a real number (a bool is not one), not NaN.

    Raises:
        TypeError: Not a real number (a string, a bool, None, a tensor of several values).
        ValueError: NaN (it would compare false with every IoU: no suppression, silently).
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must be a number, got nan")
    return v


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the kernels run in: float32/float64 as given, float32 for half and bfloat16."""
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """An int or a pair of ints (PyTorch's _pair), each > 0."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    out = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 2 or min(out) <= 0:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return out  # type: ignore[return-value]
