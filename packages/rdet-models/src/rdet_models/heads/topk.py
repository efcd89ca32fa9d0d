"""The heads' per-level ``nms_pre`` cut, in a form that an ONNX trace keeps dynamic.

Eager, a level keeps its ``nms_pre`` best rows only when it has more than ``nms_pre`` (a Python
branch on its size). Traced (``torch.onnx.export``), a size is a graph value and a Python branch
on it would be frozen at the traced input's size, so the cut always happens there, with
``k = min(nms_pre, n)`` computed in the graph: the exported model then runs at any input size
(a level with fewer rows keeps them all, best first).
"""

from __future__ import annotations

import torch

__all__ = ["needs_topk", "topk_indices"]


def needs_topk(num_rows: int | torch.Tensor, nms_pre: int) -> bool:
    """Whether a level of ``num_rows`` candidates is cut to its ``nms_pre`` best: eager, when
    ``0 < nms_pre < num_rows``; while tracing, whenever ``nms_pre > 0`` (the cut adapts to the size)."""
    if nms_pre <= 0:
        return False
    if torch.jit.is_tracing():
        return True
    return int(num_rows) > nms_pre


def topk_indices(scores: torch.Tensor, nms_pre: int) -> torch.Tensor:
    """Indices (k,) int64 of the ``k = min(nms_pre, n)`` largest of ``scores`` (n,), largest first.

    Eager this is ``scores.topk(nms_pre)`` (call it when :func:`needs_topk` says so); traced,
    ``k`` is computed from ``scores``' traced size, so the graph's TopK never asks for more
    rows than the level has.
    """
    if torch.jit.is_tracing():
        n = scores.shape[0]  # a traced 0-dim tensor while tracing
        k = torch.clamp(n, max=nms_pre) if isinstance(n, torch.Tensor) else min(int(n), nms_pre)
        return scores.topk(k)[1]  # type: ignore[arg-type]
    return scores.topk(nms_pre)[1]
