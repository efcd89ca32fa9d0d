"""MMDetection's ``L1Loss`` and ``SmoothL1Loss``."""

from __future__ import annotations

import torch

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weighted_loss
from rdet_models.registry import LOSSES

__all__ = ["L1Loss", "SmoothL1Loss", "l1_loss", "smooth_l1_loss"]


@weighted_loss
def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """``0.5 d^2 / beta`` where ``d = |pred - target| < beta``, else ``d - beta / 2``."""
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if target.numel() == 0:
        return pred.sum() * 0
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


@weighted_loss
def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|pred - target|``."""
    if target.numel() == 0:
        return pred.sum() * 0
    return torch.abs(pred - target)


@LOSSES.register_module()
class SmoothL1Loss(WeightedLoss):
    """Smooth L1 (Huber-like) loss: ``0.5 d^2 / beta`` below ``beta``, ``d - beta / 2`` above."""

    def __init__(self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.beta = beta

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return smooth_l1_loss(pred, target, beta=self.beta, reduction="none")


@LOSSES.register_module()
class L1Loss(WeightedLoss):
    """Element-wise ``|pred - target|``."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1_loss(pred, target, reduction="none")
