"""``ConvexGIoULoss`` and ``BCConvexGIoULoss`` (MMRotate 0.3.x): GIoU of a point set's convex hull
with a gt polygon, through ``rbox_ops.convex_giou`` (value and analytic gradient)."""

from __future__ import annotations

from typing import Any

import torch

import rbox_ops
from rdet_models.heads.pointset_utils import aspect_ratio
from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weight_reduce_loss
from rdet_models.registry import LOSSES

__all__ = ["BCConvexGIoULoss", "ConvexGIoULoss", "convex_giou"]


class _ConvexGIoU(torch.autograd.Function):
    """pred (N, 18), target (N, 8) -> GIoU (N,); the backward is mmcv's gradient of the GIoU
    w.r.t. the points, with MMRotate's guard: a row with a component > 1 gets 1e-6 everywhere."""

    @staticmethod
    def forward(ctx: Any, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        with torch.no_grad():
            giou, grad = rbox_ops.convex_giou(pred.detach(), target.detach().to(pred.dtype))
            grad = torch.where((grad > 1).any(dim=1, keepdim=True), torch.full_like(grad, 1e-6), grad)
        ctx.save_for_backward(grad.to(pred.dtype))
        return giou.to(pred.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad_out[:, None] * grad, None


def convex_giou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """GIoU of each point set's convex hull with its polygon: pred (N, 18) x-first px, target
    (N, 8) polygons -> (N,), differentiable w.r.t. ``pred`` (see ``_ConvexGIoU``)."""
    if pred.dim() != 2 or pred.shape[1] != 18:
        raise ValueError(f"pred must be (N, 18) point sets, got {tuple(pred.shape)}")
    if target.shape != (pred.shape[0], 8):
        raise ValueError(f"target must be ({pred.shape[0]}, 8) polygons, got {tuple(target.shape)}")
    if pred.shape[0] == 0:
        return pred.sum(dim=1)
    return _ConvexGIoU.apply(pred, target)


@LOSSES.register_module()
class ConvexGIoULoss(WeightedLoss):
    """``1 - GIoU`` of each point set's convex hull (pred (N, 18)) with its gt polygon (target
    (N, 8)), weighted (N,) and reduced, times ``loss_weight``.

    MMRotate's version returns its own gradient whatever multiplies the loss afterwards, divides
    it by N also for ``reduction='sum'``, and ignores ``avg_factor``; here the gradient is the
    chain rule's and ``avg_factor`` divides as in every other loss. With 'mean', no
    ``avg_factor`` and an upstream gradient of 1 (how the heads call it) both agree.
    """

    box_weight = True

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        return weight_reduce_loss(1 - convex_giou(pred, target), weight, reduction, avg_factor)


def _extreme_points(pts: torch.Tensor) -> torch.Tensor:
    """(N, 2P) x-first -> (N, 8): the leftmost, topmost, rightmost and bottommost points."""
    xs, ys = pts[:, 0::2], pts[:, 1::2]
    out = []
    for coord, pick in ((xs, torch.argmin), (ys, torch.argmin), (xs, torch.argmax), (ys, torch.argmax)):
        idx = pick(coord, dim=1, keepdim=True)
        out += [xs.gather(1, idx), ys.gather(1, idx)]
    return torch.cat(out, dim=1)


def _batch_smooth_l1(diff: torch.Tensor) -> torch.Tensor:
    """Smooth L1 (beta 1) of (N, C) differences, summed, over N (a scalar; 0 for N = 0)."""
    d = diff.abs()
    return torch.where(d < 1, 0.5 * d * d, d - 0.5).sum() / max(d.shape[0], 1)


@LOSSES.register_module()
class BCConvexGIoULoss(WeightedLoss):
    """SASM's loss: per pair ``s * (L_centre + L_corners) + 1 - (1 - 2 s) * GIoU`` with
    ``s = exp(-ratio / 4)`` (``ratio`` the target's long / short side); ``L_centre`` and
    ``L_corners`` are the batch's smooth-L1 (beta 1) distances between the mean points and
    between the extreme points (left, top, right, bottom) of pred and target, averaged over the
    batch (one number added to every pair, as MMRotate).

    Differences from MMRotate: the gradient is the chain rule's through every term (MMRotate
    returns the GIoU gradient alone, unscaled by ``1 - 2 s``, whatever multiplies the loss), and
    ``avg_factor`` divides; MMRotate also moves two terms to CUDA, so it fails on a CPU.
    """

    box_weight = True

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        giou = convex_giou(pred, target)
        centres = pred.unflatten(1, (-1, 2)).mean(1) - target.unflatten(1, (-1, 2)).mean(1)
        corners = _extreme_points(pred) - _extreme_points(target)
        smooth = _batch_smooth_l1(centres) + _batch_smooth_l1(corners)
        s = torch.exp(-aspect_ratio(target) / 4)
        loss = s * smooth + 1 - (1 - 2 * s) * giou
        return weight_reduce_loss(loss, weight, reduction, avg_factor)
