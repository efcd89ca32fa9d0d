"""``SmoothFocalLoss``: focal loss on soft (CSL) labels, MMRotate 0.3.x."""

from __future__ import annotations

import torch
from torch import nn

from rdet_models.losses.focal_loss import py_sigmoid_focal_loss
from rdet_models.losses.utils import check_reduction
from rdet_models.registry import LOSSES

__all__ = ["SmoothFocalLoss"]


@LOSSES.register_module()
class SmoothFocalLoss(nn.Module):
    """Sigmoid focal loss of logits (N, C) against soft labels (N, C) in [0, 1]."""

    def __init__(
        self, gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.gamma, self.alpha, self.reduction, self.loss_weight = gamma, alpha, reduction, loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override, self.reduction)
        return self.loss_weight * py_sigmoid_focal_loss(
            pred,
            target,
            weight,
            gamma=self.gamma,
            alpha=self.alpha,
            reduction=reduction,
            avg_factor=avg_factor,
        )
