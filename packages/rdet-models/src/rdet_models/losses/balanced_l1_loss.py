"""MMDetection 2.x's ``BalancedL1Loss`` (Libra R-CNN, https://arxiv.org/abs/1904.02701).

MMDetection 2.28's arithmetic, operation for operation. Differences: ``beta``, ``alpha`` and
``gamma`` must be > 0 (checked when built, ``ValueError`` naming the argument; MMDetection
asserted ``beta > 0`` at the call, and ``gamma = 0`` divided by zero), and pred and target of
different shapes are a ``ValueError`` (MMDetection: an assertion).
"""

from __future__ import annotations

import math

import torch

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weighted_loss
from rdet_models.registry import LOSSES

__all__ = ["BalancedL1Loss", "balanced_l1_loss"]


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


@weighted_loss
def balanced_l1_loss(
    pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0, alpha: float = 0.5, gamma: float = 1.5
) -> torch.Tensor:
    """Element-wise balanced L1 of ``d = |pred - target|``: below ``beta``
    ``alpha / b * (b d + 1) ln(b d / beta + 1) - alpha d``, above ``gamma d + gamma / b - alpha beta``,
    ``b = e^(gamma / alpha) - 1`` (continuous, with continuous gradient, at ``d = beta``)."""
    _check_positive(beta=beta, alpha=alpha, gamma=gamma)
    if target.numel() == 0:
        return pred.sum() * 0
    if pred.size() != target.size():
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(
        diff < beta,
        alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
        gamma * diff + gamma / b - alpha * beta,
    )


@LOSSES.register_module()
class BalancedL1Loss(WeightedLoss):
    """Balanced L1 loss: ``forward(pred, target, weight=None, avg_factor=None,
    reduction_override=None)``, element-wise weight (broadcast), as MMDetection.

    Args:
        alpha: The log term's factor (> 0); smaller gives inliers more gradient.
        gamma: The outliers' slope (> 0).
        beta: The inlier / outlier threshold on ``|pred - target|`` (> 0).
        reduction, loss_weight: see :class:`~rdet_models.losses.base.WeightedLoss`.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        gamma: float = 1.5,
        beta: float = 1.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(reduction, loss_weight)
        _check_positive(alpha=alpha, gamma=gamma, beta=beta)
        self.alpha, self.gamma, self.beta = alpha, gamma, beta

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return balanced_l1_loss(
            pred, target, beta=self.beta, alpha=self.alpha, gamma=self.gamma, reduction="none"
        )
