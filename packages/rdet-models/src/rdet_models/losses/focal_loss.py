"""MMDetection's sigmoid ``FocalLoss`` (the pure-PyTorch form, identical to mmcv's kernel)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weight_reduce_loss
from rdet_models.registry import LOSSES

__all__ = ["FocalLoss", "expand_focal_weight", "focal_term", "py_sigmoid_focal_loss", "sigmoid_focal_loss"]


def expand_focal_weight(weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
    """MMDetection's focal-loss weight: (N,) becomes (N, 1); otherwise reshaped to ``loss``'s rows."""
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0):
        weight = weight.view(-1, 1)
    else:
        if weight.numel() != loss.numel():
            raise ValueError(f"weight of shape {tuple(weight.shape)} does not fit loss {tuple(loss.shape)}")
        weight = weight.view(loss.size(0), -1)
    return weight


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices (N,) in [0, C] (C = background) -> (N, C) 0/1."""
    return F.one_hot(labels.long(), num_classes=num_classes + 1)[:, :num_classes]


def focal_term(
    pred: torch.Tensor, target: torch.Tensor, gamma: float, alpha: float, activated: bool = False
) -> torch.Tensor:
    """Element-wise focal loss of logits (or probabilities if ``activated``) against (N, C) targets."""
    prob = pred if activated else pred.sigmoid()
    target = target.type_as(pred)
    pt = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    if activated:
        return F.binary_cross_entropy(pred, target, reduction="none") * focal_weight
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight


def py_sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of logits ``pred`` (N, C) against a (N, C) 0/1 (or soft) ``target``."""
    loss = focal_term(pred, target, gamma, alpha)
    return weight_reduce_loss(loss, expand_focal_weight(weight, loss), reduction, avg_factor)


def sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of logits (N, C) against class indices (N,) where index C means background."""
    return py_sigmoid_focal_loss(
        pred, _one_hot(target, pred.size(1)), weight, gamma, alpha, reduction, avg_factor
    )


@LOSSES.register_module()
class FocalLoss(WeightedLoss):
    """Sigmoid focal loss (``use_sigmoid=True`` only, as every MMRotate config).

    ``forward(pred (N, C) logits, target (N,) labels in [0, C] (C = background) or (N, C),
    weight=None, avg_factor=None, reduction_override=None)``; with ``activated=True`` ``pred``
    holds probabilities.
    """

    def __init__(
        self,
        use_sigmoid: bool = True,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__(reduction, loss_weight)
        if not use_sigmoid:
            raise NotImplementedError("only the sigmoid focal loss is supported (as in MMDetection)")
        self.use_sigmoid, self.gamma, self.alpha, self.activated = use_sigmoid, gamma, alpha, activated

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 1:
            target = _one_hot(target, pred.size(1))
        return focal_term(pred, target, self.gamma, self.alpha, self.activated)

    def broadcast_weight(self, weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
        return expand_focal_weight(weight, loss)
