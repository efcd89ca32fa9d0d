"""Gliding Vertex's coders: ``GVFixCoder`` (vertex offsets) and ``GVRatioCoder`` (area ratio), MMRotate 0.3.x."""

from __future__ import annotations

import torch

from rbox_geometry import obb2poly, poly2obb
from rdet_models.coders.base import ANGLE_VERSIONS, BaseBBoxCoder
from rdet_models.registry import BBOX_CODERS

__all__ = ["GVFixCoder", "GVRatioCoder"]


def _check(version: str) -> str:
    if version not in ANGLE_VERSIONS:
        raise NotImplementedError(f"angle_range must be one of {ANGLE_VERSIONS}, got {version!r}")
    return version


@BBOX_CODERS.register_module()
class GVFixCoder(BaseBBoxCoder):
    """Rotated boxes <-> the gliding offsets ``(dt, dr, dd, dl)`` of their 4 vertices on the enclosing box's sides.

    ``encode(rbboxes (N, 5)) -> (N, 4)`` in [0, 1] (all 1 for a horizontal box);
    ``decode(hbboxes (N, 4), fix_deltas (N, 4k)) -> (N, 5k)`` rotated boxes (``poly2obb``).
    """

    def __init__(self, angle_range: str = "oc", **kwargs: object) -> None:
        self.version = _check(angle_range)

    def encode(self, rbboxes: torch.Tensor) -> torch.Tensor:
        if rbboxes.dim() != 2 or rbboxes.size(1) != 5:
            raise ValueError(f"encode needs (N, 5) rotated boxes, got {tuple(rbboxes.shape)}")
        polys = obb2poly(rbboxes, self.version)
        max_x, max_x_idx = polys[:, ::2].max(1)
        min_x, min_x_idx = polys[:, ::2].min(1)
        max_y, max_y_idx = polys[:, 1::2].max(1)
        min_y, min_y_idx = polys[:, 1::2].min(1)
        pts = polys.view(-1, 4, 2)
        rows = torch.arange(pts.size(0), device=pts.device)
        top, right, down, left = (
            pts[rows, min_y_idx],
            pts[rows, max_x_idx],
            pts[rows, max_y_idx],
            pts[rows, min_x_idx],
        )
        w, h = max_x - min_x, max_y - min_y
        dt = (top[:, 0] - min_x) / w
        dr = (right[:, 1] - min_y) / h
        dd = (max_x - down[:, 0]) / w
        dl = (max_y - left[:, 1]) / h
        horizontal = (top[:, 1] - right[:, 1] == 0) | (right[:, 0] - down[:, 0] == 0)
        fix_deltas = torch.stack([dt, dr, dd, dl], dim=1)
        return torch.where(horizontal[:, None], torch.ones_like(fix_deltas), fix_deltas)

    def decode(self, hbboxes: torch.Tensor, fix_deltas: torch.Tensor) -> torch.Tensor:
        x1, y1, x2, y2 = (hbboxes[:, i::4] for i in range(4))
        w, h = x2 - x1, y2 - y1
        pred_t_x = x1 + w * fix_deltas[:, 0::4]
        pred_r_y = y1 + h * fix_deltas[:, 1::4]
        pred_d_x = x2 - w * fix_deltas[:, 2::4]
        pred_l_y = y2 - h * fix_deltas[:, 3::4]
        polys = torch.stack([pred_t_x, y1, x2, pred_r_y, pred_d_x, y2, x1, pred_l_y], dim=-1)
        n = hbboxes.size(0)
        return poly2obb(polys.reshape(-1, 8), self.version).reshape(n, -1)


@BBOX_CODERS.register_module()
class GVRatioCoder(BaseBBoxCoder):
    """Rotated boxes (N, 5) -> (N, 1): the box's area over its enclosing horizontal box's area."""

    def __init__(self, angle_range: str = "oc", **kwargs: object) -> None:
        self.version = _check(angle_range)

    def encode(self, rbboxes: torch.Tensor) -> torch.Tensor:
        if rbboxes.dim() != 2 or rbboxes.size(1) != 5:
            raise ValueError(f"encode needs (N, 5) rotated boxes, got {tuple(rbboxes.shape)}")
        polys = obb2poly(rbboxes, self.version)
        max_x, min_x = polys[:, ::2].max(1)[0], polys[:, ::2].min(1)[0]
        max_y, min_y = polys[:, 1::2].max(1)[0], polys[:, 1::2].min(1)[0]
        h_areas = (max_x - min_x) * (max_y - min_y)
        pts = polys.view(polys.size(0), 4, 2)
        areas = polys.new_zeros(polys.size(0))
        for i in range(4):  # shoelace, in MMRotate's order of summation
            areas = areas + 0.5 * (
                pts[:, i, 0] * pts[:, (i + 1) % 4, 1] - pts[:, (i + 1) % 4, 0] * pts[:, i, 1]
            )
        return (torch.abs(areas) / h_areas)[:, None]

    def decode(self, bboxes: torch.Tensor, bboxes_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("GVRatioCoder only encodes (MMRotate's decode raises too)")
