"""``RotatedIoULoss`` (MMRotate 0.3.x): the IoU loss of rotated boxes, differentiable in pure torch.

MMRotate calls mmcv's ``diff_iou_rotated_2d`` (a CUDA-only vertex sort); here the IoU is
rbox-geometry's exact, differentiable one (``rbbox_overlaps(..., is_aligned=True)`` on
tensors): the intersection of the two rectangles by clipping each edge against the other
box's half-planes (Green's theorem), computed in float64, the gradient flowing through the
clipped edges' end points. Degenerate (zero-area) and non-finite boxes have IoU 0 with
everything and a zero gradient; boxes too far apart to meet are skipped (IoU 0).
"""

from __future__ import annotations

import torch

from rbox_geometry import rbbox_overlaps
from rdet_models.losses.iou_loss import _MODES, IoULoss, iou_to_loss
from rdet_models.registry import LOSSES

__all__ = ["RotatedIoULoss", "diff_iou_rotated", "rotated_iou_loss"]


def diff_iou_rotated(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of aligned pairs of rotated boxes (n, 5) ``(cx, cy, w, h, theta)`` -> (n,), in
    ``pred``'s dtype, differentiable with respect to both."""
    if pred.shape != target.shape or pred.shape[-1] != 5:
        raise ValueError(
            f"pred and target must both be (n, 5), got {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    iou = rbbox_overlaps(pred, target, is_aligned=True)
    if not iou.requires_grad and (pred.requires_grad or target.requires_grad):
        # no pair can overlap (apart, degenerate): zeros that stay in the graph (zero gradient)
        anchor = torch.nan_to_num(pred[..., 0], 0.0, 0.0, 0.0) + torch.nan_to_num(
            target[..., 0], 0.0, 0.0, 0.0
        )
        iou = iou + anchor * 0
    return iou


def rotated_iou_loss(
    pred: torch.Tensor, target: torch.Tensor, mode: str = "log", eps: float = 1e-6
) -> torch.Tensor:
    """Per pair (n,): ``-log(IoU)``, ``1 - IoU`` ('linear') or ``1 - IoU^2`` ('square'), the IoU
    clamped to ``eps``."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    return iou_to_loss(diff_iou_rotated(pred, target), mode, eps)


@LOSSES.register_module()
class RotatedIoULoss(IoULoss):
    """IoU loss of aligned rotated boxes (n, 5), pixels and radians: :class:`IoULoss`'s
    arguments and weighting, on the rotated IoU.

    Args:
        linear: deprecated alias of ``mode='linear'``.
        eps: the IoU is clamped to at least ``eps`` (so 'log' stays finite).
        reduction, loss_weight: see :class:`~rdet_models.losses.base.WeightedLoss`.
        mode: 'linear', 'square' or 'log' (MMRotate's default).

    ``forward(pred (n, 5), target (n, 5), weight (n,) or (n, 5), avg_factor, reduction_override)``.
    """

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(n, 5), (n, 5) -> (n,); NaN where a box is not finite (the exact IoU would call it
        0, a finite loss that hides the NaN from the engine's finite check)."""
        loss = rotated_iou_loss(pred, target, self.mode, self.eps)
        not_finite = (pred.sum(-1) + target.sum(-1)) * 0  # 0, or NaN for a non-finite box
        return loss + not_finite
