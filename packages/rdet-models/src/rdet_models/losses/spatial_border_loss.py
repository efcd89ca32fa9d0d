"""``SpatialBorderLoss``: pulls the points of a point set that fall outside their ground-truth
polygon back towards its centre (Oriented RepPoints, MMRotate 0.3.x)."""

from __future__ import annotations

import torch
from torch import nn

from rbox_ops import points_in_polygons
from rdet_models.precision import float32_forward
from rdet_models.registry import LOSSES

__all__ = ["SpatialBorderLoss", "spatial_border_loss"]

#: point sets per call of ``points_in_polygons`` (each call is (block * P) x block)
_BLOCK = 256


def _check_inputs(pts: torch.Tensor, gt_polygons: torch.Tensor, weight: torch.Tensor | None) -> None:
    if pts.dim() != 2 or pts.size(-1) % 2:
        raise ValueError(f"pts must be (N, 2 * num_points) point sets, got {tuple(pts.shape)}")
    if gt_polygons.dim() != 2 or gt_polygons.size(-1) != 8:
        raise ValueError(f"gt_bboxes must be (N, 8) polygons, got {tuple(gt_polygons.shape)}")
    if gt_polygons.size(0) != pts.size(0):
        raise ValueError(
            f"gt_bboxes has {gt_polygons.size(0)} rows, pts has {pts.size(0)}: one polygon per point set"
        )
    if weight is not None and weight.shape != (pts.size(0),):
        raise ValueError(f"weight must be ({pts.size(0)},), one per point set, got {tuple(weight.shape)}")
    for name, t in (("pts", pts), ("gt_bboxes", gt_polygons)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} holds NaN or infinite values")


def inside_own_polygon(pts: torch.Tensor, gt_polygons: torch.Tensor) -> torch.Tensor:
    """(N, P) bool: whether point j of set i lies in polygon i (``rbox_ops.points_in_polygons``'s
    rule, mmcv's), computed in blocks of point sets so memory stays O(N)."""
    n, num_points = pts.size(0), pts.size(1) // 2
    out = []
    for start in range(0, n, _BLOCK):
        p = pts[start : start + _BLOCK].detach().reshape(-1, 2)
        q = gt_polygons[start : start + _BLOCK].detach()
        m = q.size(0)
        inside = points_in_polygons(p, q).reshape(m, num_points, m)
        rows = torch.arange(m, device=pts.device)
        out.append(inside[rows, :, rows] > 0)
    return torch.cat(out) if out else pts.new_zeros((0, num_points), dtype=torch.bool)


def spatial_border_loss(
    pts: torch.Tensor, gt_polygons: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean over the points outside their own polygon of ``0.2 * |p - c|`` (px), ``c`` the
    midpoint of the polygon's vertices 1 and 3 (its centre for a parallelogram); 0 when every
    point is inside.

    Args:
        pts: (N, 2P) point sets ``(x1, y1, ..., xP, yP)`` (any unit; the head divides by the
            level's normaliser).
        gt_polygons: (N, 8) each set's ground-truth polygon, same unit.
        weight: (N,) per point set; the points of a set of weight 0 are left out, the others'
            distances are weighted. MMRotate ignores the weight here (every point set counts).

    Returns:
        0-d tensor (differentiable in ``pts``).
    """
    _check_inputs(pts, gt_polygons, weight)
    num_points = pts.size(1) // 2
    points = pts.reshape(-1, num_points, 2)
    outside = ~inside_own_polygon(pts, gt_polygons)
    if weight is not None:
        outside = outside & (weight > 0)[:, None]
    set_idx, point_idx = torch.nonzero(outside, as_tuple=True)
    if set_idx.numel() == 0:
        return pts.sum() * 0
    centres = (gt_polygons[:, 0:2] + gt_polygons[:, 4:6]) / 2.0
    distance = 0.2 * (points[set_idx, point_idx] - centres[set_idx]).pow(2).sum(-1).sqrt()
    if weight is not None:
        distance = distance * weight[set_idx]
    return distance.sum() / set_idx.numel()


@LOSSES.register_module()
class SpatialBorderLoss(nn.Module):
    """MMRotate's ``SpatialBorderLoss``: ``loss_weight * spatial_border_loss / avg_factor``.

    ``forward(pts (N, 2P), gt_bboxes (N, 8) polygons, weight (N,), avg_factor=None)``; without
    ``avg_factor`` the loss is divided by the number of positive weights (``+ 1e-6``), as
    MMRotate. Returns a 0-d tensor (MMRotate: shape (1,)).
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @float32_forward
    def forward(
        self,
        pts: torch.Tensor,
        gt_bboxes: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
    ) -> torch.Tensor:
        """See the class doc; ``gt_bboxes`` are polygons (N, 8)."""
        if avg_factor is None:
            num_pos = pts.size(0) if weight is None else int((weight > 0).sum())
            avg_factor = num_pos + 1e-6
        return self.loss_weight * spatial_border_loss(pts, gt_bboxes, weight) / avg_factor

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}"
