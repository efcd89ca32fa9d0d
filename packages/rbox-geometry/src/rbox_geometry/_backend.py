"""A tiny array namespace so that one implementation serves numpy and torch.

torch is never imported here: a tensor is recognised by the module of its type, and the
torch namespace is only built when a tensor is actually passed in.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor


def is_torch(x: object) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


def as_float_array(x: Any) -> Array:
    """Return ``x`` as a floating array: tensors stay tensors, everything else becomes numpy.

    Integer input becomes float64 (numpy) or the default float dtype (torch).
    """
    if is_torch(x):
        return x if x.is_floating_point() else x.to(sys.modules["torch"].get_default_dtype())
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    return a


def check_columns(x: Array, name: str, cols: int, shape: str | None = None, exact: bool = False) -> None:
    """Shape check of an array argument (cheap: no pass over the values).

    Args:
        x: A numpy array or tensor.
        name: The argument's name, for the message.
        cols: The number of columns its last dimension needs (at least, or exactly with
            ``exact``: otherwise extra columns are the caller's to ignore or keep).
        shape: How to spell the shape in the message; ``'(..., cols)'`` by default.

    Raises:
        ValueError: ``x`` is 0-d or has too few (another number of) columns, worded as
            rbox_ops words it: ``bboxes1 must have shape (N, 5), got (2, 4)``.
    """
    n = x.shape[-1] if x.ndim else None
    if n is None or (n != cols if exact else n < cols):
        want = shape or f"(..., {cols})"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")


def float_array(x: Any, name: str, cols: int, shape: str | None = None, exact: bool = False) -> Array:
    """:func:`as_float_array` of ``x`` after :func:`check_columns` (the same check for numpy and torch)."""
    a = as_float_array(x)
    check_columns(a, name, cols, shape, exact)
    return a


class _NumpyNS:
    name = "numpy"
    pi = np.pi

    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)
    atan2 = staticmethod(np.arctan2)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    where = staticmethod(np.where)
    isnan = staticmethod(np.isnan)
    isfinite = staticmethod(np.isfinite)

    @staticmethod
    def stack(seq, axis=-1):
        return np.stack(seq, axis=axis)

    @staticmethod
    def concat(seq, axis=-1):
        return np.concatenate(seq, axis=axis)

    @staticmethod
    def amin(x, axis=-1):
        return np.min(x, axis=axis)

    @staticmethod
    def amax(x, axis=-1):
        return np.max(x, axis=axis)

    @staticmethod
    def argmin(x, axis=-1):
        return np.argmin(x, axis=axis)

    @staticmethod
    def take_along(x, idx, axis):
        return np.take_along_axis(x, idx, axis=axis)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    @staticmethod
    def maximum(a, b):
        return np.maximum(a, b)

    @staticmethod
    def minimum(a, b):
        return np.minimum(a, b)

    @staticmethod
    def zeros(shape, like):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def full_like(x, value):
        return np.full_like(x, value)

    @staticmethod
    def astype(x, like):
        return np.asarray(x, dtype=like.dtype)

    @staticmethod
    def to_float64(x):
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def roll(x, shift, axis):
        return np.roll(x, shift, axis=axis)

    @staticmethod
    def nonzero(mask):
        return np.nonzero(mask)

    @staticmethod
    def tensor(values, like):
        return np.asarray(values, dtype=like.dtype)


class _TorchNS:
    name = "torch"
    pi = np.pi

    def __init__(self) -> None:
        import torch

        self.t = torch
        self.cos = torch.cos
        self.sin = torch.sin
        self.atan2 = torch.atan2
        self.sqrt = torch.sqrt
        self.abs = torch.abs
        self.floor = torch.floor
        self.ceil = torch.ceil
        self.isnan = torch.isnan
        self.isfinite = torch.isfinite

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def stack(self, seq, axis=-1):
        return self.t.stack(list(seq), dim=axis)

    def concat(self, seq, axis=-1):
        return self.t.cat(list(seq), dim=axis)

    def amin(self, x, axis=-1):
        return self.t.amin(x, dim=axis)

    def amax(self, x, axis=-1):
        return self.t.amax(x, dim=axis)

    def argmin(self, x, axis=-1):
        return self.t.argmin(x, dim=axis)

    def take_along(self, x, idx, axis):
        return self.t.take_along_dim(x, idx, dim=axis)

    def clip(self, x, lo=None, hi=None):
        return self.t.clamp(x, lo, hi)

    def maximum(self, a, b):
        return self.t.maximum(a, b)

    def minimum(self, a, b):
        return self.t.minimum(a, b)

    def zeros(self, shape, like):
        return self.t.zeros(shape, dtype=like.dtype, device=like.device)

    def full_like(self, x, value):
        return self.t.full_like(x, value)

    def astype(self, x, like):
        return x.to(dtype=like.dtype, device=like.device)

    def to_float64(self, x):
        return x.to(self.t.float64)

    def roll(self, x, shift, axis):
        return self.t.roll(x, shift, dims=axis)

    def nonzero(self, mask):
        return self.t.nonzero(mask, as_tuple=True)

    def tensor(self, values, like):
        return self.t.as_tensor(values, dtype=like.dtype, device=like.device)


_NP = _NumpyNS()
_TORCH: _TorchNS | None = None


def namespace(x: Any):
    """The array namespace (numpy or torch) that matches ``x``."""
    global _TORCH
    if is_torch(x):
        if _TORCH is None:
            _TORCH = _TorchNS()
        return _TORCH
    return _NP
