"""MMDetection's loss reduction: element-wise weight, then 'none' / 'mean' / 'sum' or ``avg_factor``."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

__all__ = ["reduce_loss", "weight_reduce_loss", "weighted_loss"]

_EPS = torch.finfo(torch.float32).eps


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """``loss`` as is ('none'), its mean or its sum."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def weight_reduce_loss(
    loss: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """``loss * weight``, reduced; with ``avg_factor``, 'mean' is ``sum / (avg_factor + eps)``.

    Raises:
        ValueError: ``avg_factor`` with ``reduction='sum'`` (as MMDetection).
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + _EPS)
    if reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def weighted_loss(loss_func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Decorate an element-wise ``loss_func(pred, target, **kw)`` to take weight / reduction / avg_factor."""

    @functools.wraps(loss_func)
    def wrapper(
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        loss = loss_func(pred, target, **kwargs)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)

    return wrapper
