"""MMDetection's ``L1Loss`` and ``SmoothL1Loss``."""

from __future__ import annotations

import torch
from torch import nn

from rdet_models.losses.utils import check_reduction, weighted_loss
from rdet_models.registry import LOSSES

__all__ = ["L1Loss", "SmoothL1Loss", "l1_loss", "smooth_l1_loss"]


@weighted_loss
def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if target.numel() == 0:
        return pred.sum() * 0
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


@weighted_loss
def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if target.numel() == 0:
        return pred.sum() * 0
    return torch.abs(pred - target)


@LOSSES.register_module()
class SmoothL1Loss(nn.Module):
    """Smooth L1 (Huber-like) loss: ``0.5 d^2 / beta`` below ``beta``, ``d - beta / 2`` above."""

    def __init__(self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta, self.reduction, self.loss_weight = beta, reduction, loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override, self.reduction)
        return self.loss_weight * smooth_l1_loss(
            pred, target, weight, beta=self.beta, reduction=reduction, avg_factor=avg_factor, **kwargs
        )


@LOSSES.register_module()
class L1Loss(nn.Module):
    """Element-wise ``|pred - target|``."""

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction, self.loss_weight = reduction, loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override, self.reduction)
        return self.loss_weight * l1_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor)
