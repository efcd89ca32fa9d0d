"""MMDetection's ``accuracy``: top-k classification accuracy in percent (logged as ``acc``)."""

from __future__ import annotations

import torch

__all__ = ["accuracy"]


def accuracy(
    pred: torch.Tensor, target: torch.Tensor, topk: int | tuple[int, ...] = 1, thresh: float | None = None
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Percent of rows of ``pred`` (N, C) whose top-k classes contain ``target`` (N,); (1,) tensors."""
    single = isinstance(topk, int)
    ks = (topk,) if single else tuple(topk)
    if pred.size(0) == 0:
        out = tuple(pred.new_tensor(0.0) for _ in ks)
        return out[0] if single else out
    with torch.no_grad():
        pred_value, pred_label = pred.topk(max(ks), dim=1)
        pred_label, pred_value = pred_label.t(), pred_value.t()
        correct = pred_label.eq(target.view(1, -1).expand_as(pred_label))
        if thresh is not None:
            correct = correct & (pred_value > thresh)
        res = tuple(correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / pred.size(0)) for k in ks)
    return res[0] if single else res
