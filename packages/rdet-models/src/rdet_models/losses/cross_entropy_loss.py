"""MMDetection's ``CrossEntropyLoss`` (softmax, or sigmoid / binary with ``use_sigmoid``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weight_reduce_loss
from rdet_models.registry import LOSSES

__all__ = ["CrossEntropyLoss", "binary_cross_entropy", "cross_entropy"]


def cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = -100,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Softmax cross-entropy of logits (N, C) and labels (N,)."""
    ignore_index = -100 if ignore_index is None else ignore_index
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction="none", ignore_index=ignore_index)
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _expand_onehot_labels(
    labels: torch.Tensor, label_weights: torch.Tensor | None, label_channels: int, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    valid_mask = (labels >= 0) & (labels != ignore_index)
    inds = torch.nonzero(valid_mask & (labels < label_channels), as_tuple=False)
    if inds.numel() > 0:
        bin_labels[inds, labels[inds]] = 1
    valid_mask = valid_mask.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_label_weights = valid_mask
    else:
        bin_label_weights = label_weights.view(-1, 1).repeat(1, label_channels) * valid_mask
    return bin_labels, bin_label_weights, valid_mask


def binary_cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = -100,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Sigmoid BCE of logits (N, C) and (N, C) (soft) labels, or (N,) class indices."""
    ignore_index = -100 if ignore_index is None else ignore_index
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.size(-1), ignore_index)
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = weight * valid_mask if weight is not None else valid_mask
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = valid_mask.sum().item()
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=class_weight, reduction="none")
    return weight_reduce_loss(loss, weight.float(), reduction, avg_factor)


@LOSSES.register_module()
class CrossEntropyLoss(WeightedLoss):
    """Cross-entropy: softmax over classes, or per-class sigmoid with ``use_sigmoid=True``.

    ``forward(cls_score, label, weight=None, avg_factor=None, reduction_override=None,
    ignore_index=None)``; ``ignore_index`` None means the constructor's.
    """

    extra_kwargs = frozenset({"ignore_index"})

    def __init__(
        self,
        use_sigmoid: bool = False,
        use_mask: bool = False,
        reduction: str = "mean",
        class_weight: Sequence[float] | None = None,
        ignore_index: int | None = None,
        loss_weight: float = 1.0,
        avg_non_ignore: bool = False,
    ) -> None:
        super().__init__(reduction, loss_weight)
        if use_mask:
            raise NotImplementedError("CrossEntropyLoss(use_mask=True) is for mask heads (not supported)")
        self.use_sigmoid = use_sigmoid
        self.class_weight, self.ignore_index, self.avg_non_ignore = class_weight, ignore_index, avg_non_ignore
        self.cls_criterion = binary_cross_entropy if use_sigmoid else cross_entropy

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        ignore_index: int | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``pred``: class scores (N, C); ``target``: labels (N,) (BCE: or (N, C) soft targets)."""
        cls_score, label = pred, target
        # the weights of ignored labels (and, with avg_non_ignore, the avg_factor) depend on the labels
        class_weight = None if self.class_weight is None else cls_score.new_tensor(self.class_weight)
        return self.cls_criterion(
            cls_score,
            label,
            weight,
            class_weight=class_weight,
            reduction=reduction,
            avg_factor=avg_factor,
            ignore_index=self.ignore_index if ignore_index is None else ignore_index,
            avg_non_ignore=self.avg_non_ignore,
        )
