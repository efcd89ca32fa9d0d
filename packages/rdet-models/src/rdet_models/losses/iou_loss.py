"""MMDetection's ``IoULoss`` and ``GIoULoss`` on horizontal boxes ``(x1, y1, x2, y2)``."""

from __future__ import annotations

import torch

from rdet_models.losses.base import WeightedLoss
from rdet_models.registry import LOSSES

__all__ = ["GIoULoss", "IoULoss", "aligned_bbox_overlaps"]

_MODES = ("linear", "square", "log")


def aligned_bbox_overlaps(
    bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou", eps: float = 1e-6
) -> torch.Tensor:
    """IoU or GIoU of box pairs (n, 4) and (n, 4) -> (n,) (MMDetection's ``bbox_overlaps(...,
    is_aligned=True)``: union and enclosing area at least ``eps``)."""
    if mode not in ("iou", "giou"):
        raise ValueError(f"mode must be 'iou' or 'giou', got {mode!r}")
    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    lt = torch.max(bboxes1[..., :2], bboxes2[..., :2])
    rb = torch.min(bboxes1[..., 2:], bboxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    eps_t = area1.new_tensor([eps])
    union = torch.max(area1 + area2 - overlap, eps_t)
    ious = overlap / union
    if mode == "iou":
        return ious
    enclosed_wh = (
        torch.max(bboxes1[..., 2:], bboxes2[..., 2:]) - torch.min(bboxes1[..., :2], bboxes2[..., :2])
    ).clamp(min=0)
    enclose_area = torch.max(enclosed_wh[..., 0] * enclosed_wh[..., 1], eps_t)
    return ious - (enclose_area - union) / enclose_area


def iou_to_loss(ious: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """IoUs -> ``1 - iou`` ('linear'), ``1 - iou^2`` ('square') or ``-log(iou)`` ('log'), the
    IoUs clamped to ``eps`` first."""
    ious = ious.clamp(min=eps)
    if mode == "linear":
        return 1 - ious
    if mode == "square":
        return 1 - ious**2
    return -ious.log()


class _BoxIoULoss(WeightedLoss):
    """MMDetection's IoU-family weight handling: a weight with no positive entry gives
    ``(pred * weight).sum()`` (a zero in the graph); a (n, 4|5) weight is averaged per box."""

    box_weight = True


@LOSSES.register_module()
class IoULoss(_BoxIoULoss):
    """``-log(IoU)`` (or ``mode`` 'linear' / 'square') of aligned horizontal boxes (n, 4) px.

    Args:
        linear: deprecated alias of ``mode='linear'``.
        eps: the IoU is clamped to at least ``eps``.
        mode: 'linear', 'square' or 'log'.
    """

    def __init__(
        self,
        linear: bool = False,
        eps: float = 1e-6,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        mode: str = "log",
    ) -> None:
        super().__init__(reduction, loss_weight)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode = "linear" if linear else mode
        self.linear, self.eps = linear, eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(n, 4), (n, 4) -> (n,)."""
        return iou_to_loss(aligned_bbox_overlaps(pred, target), self.mode, self.eps)


@LOSSES.register_module()
class GIoULoss(_BoxIoULoss):
    """``1 - GIoU`` of aligned horizontal boxes (n, 4) px (union and enclosing area >= ``eps``)."""

    def __init__(self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(n, 4), (n, 4) -> (n,)."""
        return 1 - aligned_bbox_overlaps(pred, target, mode="giou", eps=self.eps)
