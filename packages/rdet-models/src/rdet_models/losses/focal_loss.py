"""MMDetection's sigmoid ``FocalLoss`` (the pure-PyTorch form, identical to mmcv's kernel)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rdet_models.losses.utils import check_reduction, weight_reduce_loss
from rdet_models.registry import LOSSES

__all__ = ["FocalLoss", "py_sigmoid_focal_loss", "sigmoid_focal_loss"]


def _expand_weight(weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0):
        weight = weight.view(-1, 1)
    else:
        if weight.numel() != loss.numel():
            raise ValueError(f"weight of shape {tuple(weight.shape)} does not fit loss {tuple(loss.shape)}")
        weight = weight.view(loss.size(0), -1)
    return weight


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
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    return weight_reduce_loss(loss, _expand_weight(weight, loss), reduction, avg_factor)


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
    num_classes = pred.size(1)
    one_hot = F.one_hot(target.long(), num_classes=num_classes + 1)[:, :num_classes]
    return py_sigmoid_focal_loss(pred, one_hot, weight, gamma, alpha, reduction, avg_factor)


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss (``use_sigmoid=True`` only, as every MMRotate config).

    ``forward(pred (N, C) logits, target (N,) labels in [0, C] (C = background) or (N, C),
    weight=None, avg_factor=None, reduction_override=None)``.
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
        super().__init__()
        if not use_sigmoid:
            raise NotImplementedError("only the sigmoid focal loss is supported (as in MMDetection)")
        self.use_sigmoid, self.gamma, self.alpha = use_sigmoid, gamma, alpha
        self.reduction, self.loss_weight, self.activated = reduction, loss_weight, activated

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override, self.reduction)
        if self.activated:
            # pred are probabilities
            if target.dim() == 1:
                target = F.one_hot(target.long(), num_classes=pred.size(1) + 1)[:, : pred.size(1)]
            target = target.type_as(pred)
            pt = (1 - pred) * target + pred * (1 - target)
            fw = (self.alpha * target + (1 - self.alpha) * (1 - target)) * pt.pow(self.gamma)
            loss = F.binary_cross_entropy(pred, target, reduction="none") * fw
            return self.loss_weight * weight_reduce_loss(
                loss, _expand_weight(weight, loss), reduction, avg_factor
            )
        fn = sigmoid_focal_loss if target.dim() == 1 else py_sigmoid_focal_loss
        return self.loss_weight * fn(pred, target, weight, self.gamma, self.alpha, reduction, avg_factor)
