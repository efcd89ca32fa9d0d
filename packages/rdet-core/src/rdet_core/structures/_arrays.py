"""Shape checks and conversions shared by the structures; numpy or torch, torch never imported."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def to_numpy(x: Any) -> np.ndarray:
    """A numpy view or copy of an array-like (a torch tensor is detached and moved to the CPU)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_shape(name: str, x: Any, trailing: tuple[int, ...], owner: str) -> None:
    """Raise ValueError unless ``x`` has shape ``(K, *trailing)``."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 1 + len(trailing) or shape[1:] != trailing:
        want = "(K" + "".join(f", {t}" for t in trailing) + ")"
        raise ValueError(f"{owner}.{name} must have shape {want}, got {shape}")


def check_length(name: str, x: Any, length: int, owner: str) -> None:
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 1 or shape[0] != length:
        raise ValueError(f"{owner}.{name} must have shape ({length},) to match its boxes, got {shape}")


_TORCH_INTEGERS = {"torch.int64", "torch.int32", "torch.int16", "torch.int8", "torch.uint8"}


def check_integer_labels(name: str, x: Any, owner: str) -> None:
    """Raise ValueError unless ``x`` holds whole class indices.

    The rule (the same as ``DetSample``'s): an integer dtype passes without looking at the
    values (no device sync for a torch tensor); a float dtype passes only when every value is
    finite and whole (``1.0``, not ``1.7``, which ``int64`` casts would silently truncate);
    anything else (bool, strings, objects) is refused.
    """
    if is_torch(x):
        if str(x.dtype) in _TORCH_INTEGERS:
            return
        if not x.dtype.is_floating_point:
            raise ValueError(f"{owner}.{name} must be integer class indices, got dtype {x.dtype}")
        values = x.detach().float().cpu().numpy()
    else:
        values = np.asarray(x)
        if values.dtype.kind in "iu":
            return
        if values.dtype.kind != "f":
            raise ValueError(f"{owner}.{name} must be integer class indices, got dtype {values.dtype}")
    bad = values[~(np.isfinite(values) & (values == np.round(values)))]
    if bad.size:
        raise ValueError(
            f"{owner}.{name} must be whole class indices (an integer dtype, or floats with whole "
            f"values), got {bad[:5].tolist()}"
        )
