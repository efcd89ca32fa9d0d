"""``DistanceAnglePointCoder`` (MMRotate 0.3.x) and MMDetection's ``DistancePointBBoxCoder``:
boxes as distances from a point to their four sides (the FCOS family)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rdet_models.coders.base import BaseBBoxCoder, norm_angle
from rdet_models.registry import BBOX_CODERS

__all__ = ["DistanceAnglePointCoder", "DistancePointBBoxCoder", "bbox2distance", "distance2bbox"]


def _rotation(angle: torch.Tensor, sign: float) -> torch.Tensor:
    """(n, 1) angles -> (n, 2, 2) matrices ``[[cos, sign*sin], [-sign*sin, cos]]``."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.cat([cos, sign * sin, -sign * sin, cos], dim=1).reshape(-1, 2, 2)


@BBOX_CODERS.register_module()
class DistanceAnglePointCoder(BaseBBoxCoder):
    """Rotated boxes ``(cx, cy, w, h, theta)`` <-> ``(left, top, right, bottom, theta)``: the
    distances (px) from a point to the box's sides, measured in the box's own frame.

    Args:
        clip_border: kept for MMRotate's signature; MMRotate's decode never clips rotated boxes.
        angle_version: the decoded angle is normalised to this version's range ('oc' unchanged).
    """

    def __init__(self, clip_border: bool = True, angle_version: str = "oc") -> None:
        self.clip_border = clip_border
        self.angle_version = angle_version

    def encode(
        self, points: torch.Tensor, gt_bboxes: torch.Tensor, max_dis: float | None = None, eps: float = 0.1
    ) -> torch.Tensor:
        """points (n, 2) px, gt_bboxes (n, 5) -> (n, 5) distances (clamped to [0, max_dis - eps]
        with ``max_dis``) and the gt angle."""
        if points.size(0) != gt_bboxes.size(0) or points.size(-1) != 2 or gt_bboxes.size(-1) != 5:
            raise ValueError(
                f"points (n, 2) and gt_bboxes (n, 5), got {tuple(points.shape)}, {tuple(gt_bboxes.shape)}"
            )
        ctr, wh, angle = torch.split(gt_bboxes, [2, 2, 1], dim=1)
        offset = torch.matmul(_rotation(angle, 1.0), (points - ctr)[..., None]).squeeze(-1)
        w, h = wh[..., 0], wh[..., 1]
        offset_x, offset_y = offset[..., 0], offset[..., 1]
        left, right = w / 2 + offset_x, w / 2 - offset_x
        top, bottom = h / 2 + offset_y, h / 2 - offset_y
        if max_dis is not None:
            left, top, right, bottom = (d.clamp(min=0, max=max_dis - eps) for d in (left, top, right, bottom))
        return torch.stack((left, top, right, bottom, angle.squeeze(-1)), -1)

    def decode(
        self,
        points: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """points (n, 2) px, pred_bboxes (n, 5) ``(left, top, right, bottom, theta)`` -> boxes
        (n, 5), theta normalised to ``angle_version``. ``max_shape`` is accepted and ignored
        (as MMRotate)."""
        if points.size(0) != pred_bboxes.size(0) or points.size(-1) != 2 or pred_bboxes.size(-1) != 5:
            raise ValueError(
                f"points (n, 2) and pred_bboxes (n, 5), got {tuple(points.shape)}, {tuple(pred_bboxes.shape)}"
            )
        distance, angle = pred_bboxes.split([4, 1], dim=1)
        wh = distance[:, :2] + distance[:, 2:]
        offset_t = ((distance[:, 2:] - distance[:, :2]) / 2).unsqueeze(2)
        offset = torch.bmm(_rotation(angle, -1.0), offset_t).squeeze(2)
        return torch.cat([points + offset, wh, norm_angle(angle, self.angle_version)], dim=-1)


def distance2bbox(
    points: torch.Tensor, distance: torch.Tensor, max_shape: Sequence[int] | None = None
) -> torch.Tensor:
    """points (..., 2), distances (..., 4) ``(left, top, right, bottom)`` -> (..., 4) ``(x1, y1,
    x2, y2)``, clipped to ``max_shape`` (H, W[, C]) when given."""
    x1 = points[..., 0] - distance[..., 0]
    y1 = points[..., 1] - distance[..., 1]
    x2 = points[..., 0] + distance[..., 2]
    y2 = points[..., 1] + distance[..., 3]
    bboxes = torch.stack([x1, y1, x2, y2], -1)
    if max_shape is not None:
        bboxes[..., 0::2] = bboxes[..., 0::2].clamp(min=0, max=max_shape[1])
        bboxes[..., 1::2] = bboxes[..., 1::2].clamp(min=0, max=max_shape[0])
    return bboxes


def bbox2distance(
    points: torch.Tensor, bbox: torch.Tensor, max_dis: float | None = None, eps: float = 0.1
) -> torch.Tensor:
    """points (n, 2), boxes (n, 4) -> (n, 4) distances to the sides (clamped with ``max_dis``)."""
    left = points[:, 0] - bbox[:, 0]
    top = points[:, 1] - bbox[:, 1]
    right = bbox[:, 2] - points[:, 0]
    bottom = bbox[:, 3] - points[:, 1]
    if max_dis is not None:
        left, top, right, bottom = (d.clamp(min=0, max=max_dis - eps) for d in (left, top, right, bottom))
    return torch.stack([left, top, right, bottom], -1)


@BBOX_CODERS.register_module()
class DistancePointBBoxCoder(BaseBBoxCoder):
    """MMDetection's horizontal counterpart: ``(x1, y1, x2, y2)`` <-> ``(left, top, right, bottom)``.

    Args:
        clip_border: clip decoded boxes to ``max_shape``.
    """

    def __init__(self, clip_border: bool = True) -> None:
        self.clip_border = clip_border

    def encode(
        self, points: torch.Tensor, gt_bboxes: torch.Tensor, max_dis: float | None = None, eps: float = 0.1
    ) -> torch.Tensor:
        """points (n, 2), gt_bboxes (n, 4) -> (n, 4) distances."""
        return bbox2distance(points, gt_bboxes, max_dis, eps)

    def decode(
        self, points: torch.Tensor, pred_bboxes: torch.Tensor, max_shape: Sequence[int] | None = None
    ) -> torch.Tensor:
        """points (n, 2), distances (n, 4) -> boxes (n, 4), clipped to ``max_shape`` with ``clip_border``."""
        return distance2bbox(points, pred_bboxes, max_shape if self.clip_border else None)
