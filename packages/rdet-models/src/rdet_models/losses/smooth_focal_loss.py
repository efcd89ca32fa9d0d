"""``SmoothFocalLoss``: focal loss on soft (CSL) labels, MMRotate 0.3.x."""

from __future__ import annotations

import torch

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.focal_loss import expand_focal_weight, focal_term
from rdet_models.registry import LOSSES

__all__ = ["SmoothFocalLoss"]


@LOSSES.register_module()
class SmoothFocalLoss(WeightedLoss):
    """Sigmoid focal loss of logits (N, C) against soft labels (N, C) in [0, 1]."""

    def __init__(
        self, gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__(reduction, loss_weight)
        self.gamma, self.alpha = gamma, alpha

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_term(pred, target, self.gamma, self.alpha)

    def broadcast_weight(self, weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
        return expand_focal_weight(weight, loss)
