"""Point-set helpers of the RepPoints family (Rotated RepPoints, SASM, CFA, Oriented RepPoints).

A point set is a row of ``2 * P`` numbers. The heads' convolutions output **y-first offsets**
``(dy1, dx1, dy2, dx2, ...)`` in strides (the layout of the deformable convolution's offsets);
everything else here takes **x-first** pixel coordinates ``(x1, y1, x2, y2, ...)``. A polygon is
``(x1, y1, ..., x4, y4)`` pixels; rotated boxes are ``(cx, cy, w, h, theta)``, radians, CW.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

import rbox_ops

__all__ = [
    "aspect_ratio",
    "convex_overlaps",
    "horizontal_bboxes",
    "levels_to_images",
    "num_level_inside",
    "offsets_to_points",
    "points_to_polygons",
    "pointset_centers",
    "yx_to_xy",
]


def yx_to_xy(offsets: torch.Tensor) -> torch.Tensor:
    """(..., 2P) y-first ``(dy1, dx1, ...)`` -> (..., 2P) x-first ``(dx1, dy1, ...)``."""
    if offsets.shape[-1] % 2:
        raise ValueError(f"a point set has an even number of values, got {offsets.shape[-1]}")
    # reshape, not unflatten: the ONNX exporter loses a traced size through unflatten (export --dynamic)
    return offsets.reshape(*offsets.shape[:-1], -1, 2).flip(-1).flatten(-2)


def offsets_to_points(centers: torch.Tensor, offsets: torch.Tensor, stride: float) -> torch.Tensor:
    """Point sets in pixels: ``centers`` (P, 2) ``(x, y)`` px, ``offsets`` (N, 2K, H, W) y-first in
    strides (one level of a head's output, H * W = P) -> (N, P, 2K) x-first px."""
    n, c, h, w = offsets.shape
    if centers.shape != (h * w, 2):
        raise ValueError(f"centers must be ({h * w}, 2) for a {h}x{w} level, got {tuple(centers.shape)}")
    xy = yx_to_xy(offsets.permute(0, 2, 3, 1).reshape(n, h * w, c))
    return xy * stride + centers.repeat(1, c // 2)


def pointset_centers(points: torch.Tensor) -> torch.Tensor:
    """(N, 2P) x-first point sets -> (N, 2) the mean point ``(x, y)``."""
    return points.unflatten(-1, (-1, 2)).mean(-2)


def points_to_polygons(points: torch.Tensor) -> torch.Tensor:
    """(N, 2P) x-first point sets -> (N, 8) the minimum-area enclosing rectangle of each, as a
    polygon (``rbox_ops.min_area_polygons``; no gradient)."""
    if points.shape[0] == 0:
        return points.new_zeros((0, 8))
    return rbox_ops.min_area_polygons(points.detach().float()).to(points.dtype)


def convex_overlaps(gt_polygons: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """IoU of each point set's convex hull with each gt polygon: ``gt_polygons`` (K, 8),
    ``points`` (N, 18) x-first px -> (K, N) (``rbox_ops.convex_iou``, transposed)."""
    if gt_polygons.shape[0] == 0 or points.shape[0] == 0:
        return gt_polygons.new_zeros((gt_polygons.shape[0], points.shape[0]))
    return rbox_ops.convex_iou(points.detach(), gt_polygons.detach()).transpose(0, 1)


def horizontal_bboxes(polygons: torch.Tensor) -> torch.Tensor:
    """(K, 2P) polygons or point sets -> (K, 4) enclosing ``(x1, y1, x2, y2)``."""
    xs, ys = polygons[:, 0::2], polygons[:, 1::2]
    return torch.stack([xs.amin(1), ys.amin(1), xs.amax(1), ys.amax(1)], dim=1)


def aspect_ratio(polygons: torch.Tensor) -> torch.Tensor:
    """(K, 8) rectangles -> (K,) longer side / shorter side (sides p1p2 and p2p3); a zero side
    counts as 1e-6 px (a point gives 0)."""
    p = polygons[:, :8].reshape(-1, 4, 2)
    e1 = (p[:, 0] - p[:, 1]).norm(dim=-1)
    e2 = (p[:, 1] - p[:, 2]).norm(dim=-1)
    return torch.maximum(e1, e2) / torch.minimum(e1, e2).clamp(min=1e-6)


def levels_to_images(levels: Sequence[torch.Tensor], channels_last: bool = False) -> list[torch.Tensor]:
    """Per level (N, C, H, W) (or (N, H*W, C) with ``channels_last``) -> per image (sum H*W, C)."""
    rows = []
    for t in levels:
        t = t if channels_last else t.permute(0, 2, 3, 1)
        rows.append(t.reshape(t.shape[0], -1, t.shape[-1]))
    return list(torch.cat(rows, dim=1).unbind(0))


def num_level_inside(num_level: Sequence[int], inside: torch.Tensor) -> list[int]:
    """How many of each level's priors are ``inside`` ((sum num_level,) bool)."""
    return [int(f.sum()) for f in torch.split(inside, list(num_level))]
