"""``DeltaXYWHAOBBoxCoder``: rotated anchors/proposals -> rotated boxes (MMRotate 0.3.x)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from rdet_models.coders.base import (
    ANGLE_VERSIONS,
    BaseBBoxCoder,
    clamp_deltas,
    denormalize_deltas,
    norm_angle,
    normalize_deltas,
)
from rdet_models.registry import BBOX_CODERS

__all__ = ["DeltaXYWHAOBBoxCoder", "obb_bbox2delta", "obb_delta2bbox"]


@BBOX_CODERS.register_module()
class DeltaXYWHAOBBoxCoder(BaseBBoxCoder):
    """Encode rotated boxes ``(cx, cy, w, h, theta)`` as deltas ``(dx, dy, dw, dh, da)`` w.r.t. rotated priors.

    ``dx = (gx - px) / pw`` (or, with ``proj_xy``, the offset in the prior's rotated frame),
    ``dw = log(gw / pw)``, ``da = norm_angle(ga - pa)`` (with ``edge_swap``, the smaller of
    that and ``da + pi/2`` with w, h swapped), ``da /= norm_factor * pi`` when set; then
    ``(delta - means) / stds``.

    Args:
        target_means / target_stds: 5 values.
        angle_range: 'oc', 'le135' or 'le90'.
        norm_factor: angle normaliser (None: none).
        edge_swap: swap w and h when it makes the angle change smaller.
        proj_xy: express the centre offset in the prior's rotated frame.
        add_ctr_clamp / ctr_clamp: clamp the centre shift to ``ctr_clamp`` pixels (YOLOF).
    """

    def __init__(
        self,
        target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
        target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
        angle_range: str = "oc",
        norm_factor: float | None = None,
        edge_swap: bool = False,
        proj_xy: bool = False,
        add_ctr_clamp: bool = False,
        ctr_clamp: int = 32,
    ) -> None:
        if angle_range not in ANGLE_VERSIONS:
            raise NotImplementedError(f"angle_range must be one of {ANGLE_VERSIONS}, got {angle_range!r}")
        self.means, self.stds = tuple(target_means), tuple(target_stds)
        self.angle_range, self.norm_factor = angle_range, norm_factor
        self.edge_swap, self.proj_xy = edge_swap, proj_xy
        self.add_ctr_clamp, self.ctr_clamp = add_ctr_clamp, ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """(N, 5) priors, (N, 5) targets -> (N, 5) deltas."""
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 5 or gt_bboxes.size(-1) != 5:
            raise ValueError(
                f"encode needs (N, 5) and (N, 5) boxes, got {tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}"
            )
        return obb_bbox2delta(
            bboxes,
            gt_bboxes,
            self.means,
            self.stds,
            self.angle_range,
            self.norm_factor,
            self.edge_swap,
            self.proj_xy,
        )

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """(N, 5) priors, (N, 5 * k) deltas -> (N, 5 * k) boxes; centres clamped to ``max_shape`` (H, W)."""
        if pred_bboxes.size(0) != bboxes.size(0):
            raise ValueError(f"decode: {bboxes.size(0)} priors but {pred_bboxes.size(0)} deltas")
        return obb_delta2bbox(
            bboxes,
            pred_bboxes,
            self.means,
            self.stds,
            max_shape,
            wh_ratio_clip,
            self.add_ctr_clamp,
            self.ctr_clamp,
            self.angle_range,
            self.norm_factor,
            self.edge_swap,
            self.proj_xy,
        )


def obb_bbox2delta(
    proposals: torch.Tensor,
    gt: torch.Tensor,
    means: Sequence[float] = (0.0,) * 5,
    stds: Sequence[float] = (1.0,) * 5,
    angle_range: str = "oc",
    norm_factor: float | None = None,
    edge_swap: bool = False,
    proj_xy: bool = False,
) -> torch.Tensor:
    """Deltas of ``gt`` w.r.t. ``proposals`` (both (..., 5)); see :class:`DeltaXYWHAOBBoxCoder`."""
    proposals, gt = proposals.float(), gt.float()
    px, py, pw, ph, pa = proposals.unbind(dim=-1)
    gx, gy, gw, gh, ga = gt.unbind(dim=-1)
    if proj_xy:
        dx = (torch.cos(pa) * (gx - px) + torch.sin(pa) * (gy - py)) / pw
        dy = (-torch.sin(pa) * (gx - px) + torch.cos(pa) * (gy - py)) / ph
    else:
        dx = (gx - px) / pw
        dy = (gy - py) / ph
    if edge_swap:
        dtheta1 = norm_angle(ga - pa, angle_range)
        dtheta2 = norm_angle(ga - pa + np.pi / 2, angle_range)
        first = torch.abs(dtheta1) < torch.abs(dtheta2)
        gw_regular = torch.where(first, gw, gh)
        gh_regular = torch.where(first, gh, gw)
        da = torch.where(first, dtheta1, dtheta2)
        dw = torch.log(gw_regular / pw)
        dh = torch.log(gh_regular / ph)
    else:
        da = norm_angle(ga - pa, angle_range)
        dw = torch.log(gw / pw)
        dh = torch.log(gh / ph)
    if norm_factor:
        da = da / (norm_factor * np.pi)
    return normalize_deltas(torch.stack([dx, dy, dw, dh, da], dim=-1), means, stds)


def obb_delta2bbox(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float] = (0.0,) * 5,
    stds: Sequence[float] = (1.0,) * 5,
    max_shape: Sequence[int] | None = None,
    wh_ratio_clip: float = 16 / 1000,
    add_ctr_clamp: bool = False,
    ctr_clamp: int = 32,
    angle_range: str = "oc",
    norm_factor: float | None = None,
    edge_swap: bool = False,
    proj_xy: bool = False,
) -> torch.Tensor:
    """Apply ``deltas`` (N, 5k) to ``rois`` (N, 5); inverse of :func:`obb_bbox2delta`. Differentiable."""
    shape = deltas.shape
    deltas = deltas.reshape(shape[0], -1)
    d = denormalize_deltas(deltas, means, stds, 5)
    dx, dy, dw, dh, da = (d[:, i::5] for i in range(5))
    if norm_factor:
        da = da * (norm_factor * np.pi)
    px, py, pw, ph, pa = (rois[:, i].unsqueeze(1).expand_as(dx) for i in range(5))
    dx_width, dy_height, dw, dh = clamp_deltas(
        pw * dx, ph * dy, dw, dh, wh_ratio_clip, add_ctr_clamp, ctr_clamp
    )
    gw = pw * dw.exp()
    gh = ph * dh.exp()
    if proj_xy:
        gx = dx * pw * torch.cos(pa) - dy * ph * torch.sin(pa) + px
        gy = dx * pw * torch.sin(pa) + dy * ph * torch.cos(pa) + py
    else:
        gx = px + dx_width
        gy = py + dy_height
    ga = norm_angle(pa + da, angle_range)
    if max_shape is not None:
        gx = gx.clamp(min=0, max=max_shape[1] - 1)
        gy = gy.clamp(min=0, max=max_shape[0] - 1)
    if edge_swap:
        w_first = gw > gh
        w_regular = torch.where(w_first, gw, gh)
        h_regular = torch.where(w_first, gh, gw)
        theta = norm_angle(torch.where(w_first, ga, ga + math.pi / 2), angle_range)
        return torch.stack([gx, gy, w_regular, h_regular, theta], dim=-1).reshape(shape)
    return torch.stack([gx, gy, gw, gh, ga], dim=-1).reshape(shape)
