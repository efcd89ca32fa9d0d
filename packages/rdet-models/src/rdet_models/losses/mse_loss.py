"""MMDetection 2.x's ``MSELoss``: element-wise ``(pred - target)^2``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weighted_loss
from rdet_models.registry import LOSSES

__all__ = ["MSELoss", "mse_loss"]


@weighted_loss
def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(pred - target)^2``, element-wise (``F.mse_loss(..., reduction='none')``)."""
    return F.mse_loss(pred, target, reduction="none")


@LOSSES.register_module()
class MSELoss(WeightedLoss):
    """Mean squared error: ``forward(pred, target, weight=None, avg_factor=None,
    reduction_override=None)``, element-wise weight (broadcast), as MMDetection."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mse_loss(pred, target, reduction="none")
