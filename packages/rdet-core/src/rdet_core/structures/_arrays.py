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
