"""``DeltaXYWHAHBBoxCoder``: horizontal proposals ``(x1, y1, x2, y2)`` -> rotated boxes (MMRotate 0.3.x)."""

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
    xyxy_centre_size,
)
from rdet_models.registry import BBOX_CODERS

__all__ = ["DeltaXYWHAHBBoxCoder"]


@BBOX_CODERS.register_module()
class DeltaXYWHAHBBoxCoder(BaseBBoxCoder):
    """Encode rotated boxes as ``(dx, dy, dw, dh, da)`` w.r.t. horizontal priors ``(x1, y1, x2, y2)``.

    The prior's angle is 0, so ``da = norm_angle(ga)`` (with ``edge_swap``, the smaller of
    that and ``ga + pi/2`` with w, h swapped). ``decode`` returns ``(cx, cy, w, h, theta)``
    (MMRotate does not clip to the image here, whatever ``clip_border`` says).
    """

    def __init__(
        self,
        target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
        target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
        angle_range: str = "oc",
        norm_factor: float | None = None,
        edge_swap: bool = False,
        clip_border: bool = True,
        add_ctr_clamp: bool = False,
        ctr_clamp: int = 32,
    ) -> None:
        if angle_range not in ANGLE_VERSIONS:
            raise NotImplementedError(f"angle_range must be one of {ANGLE_VERSIONS}, got {angle_range!r}")
        self.means, self.stds = tuple(target_means), tuple(target_stds)
        self.angle_range, self.norm_factor, self.edge_swap = angle_range, norm_factor, edge_swap
        self.clip_border, self.add_ctr_clamp, self.ctr_clamp = clip_border, add_ctr_clamp, ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """(N, 4) priors, (N, 5) targets -> (N, 5) deltas."""
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 5:
            raise ValueError(
                f"encode needs (N, 4) and (N, 5) boxes, got {tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}"
            )
        px, py, pw, ph = xyxy_centre_size(bboxes.float())
        gx, gy, gw, gh, ga = gt_bboxes.float().unbind(dim=-1)
        if self.edge_swap:
            dtheta1 = norm_angle(ga, self.angle_range)
            dtheta2 = norm_angle(ga + np.pi / 2, self.angle_range)
            first = torch.abs(dtheta1) < torch.abs(dtheta2)
            dw = torch.log(torch.where(first, gw, gh) / pw)
            dh = torch.log(torch.where(first, gh, gw) / ph)
            ga = torch.where(first, dtheta1, dtheta2)
        else:
            ga = norm_angle(ga, self.angle_range)
            dw = torch.log(gw / pw)
            dh = torch.log(gh / ph)
        dx = (gx - px) / pw
        dy = (gy - py) / ph
        da = ga / (self.norm_factor * np.pi) if self.norm_factor else ga
        return normalize_deltas(torch.stack([dx, dy, dw, dh, da], dim=-1), self.means, self.stds)

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """(..., 4) priors, (..., 5) deltas -> (..., 5) boxes ``(cx, cy, w, h, theta)``."""
        if pred_bboxes.size(0) != bboxes.size(0) or bboxes.size(-1) != 4 or pred_bboxes.size(-1) % 5:
            raise ValueError(
                f"decode needs (N, 4) priors and (N, 5k) deltas, got {tuple(bboxes.shape)}, {tuple(pred_bboxes.shape)}"
            )
        deltas = pred_bboxes
        d = denormalize_deltas(deltas, self.means, self.stds, 5)
        dx, dy, dw, dh, da = (d[..., i::5] for i in range(5))
        if self.norm_factor:
            da = da * (self.norm_factor * np.pi)
        px, py, pw, ph = (t.unsqueeze(-1).expand_as(dx) for t in xyxy_centre_size(bboxes))
        dx_width, dy_height, dw, dh = clamp_deltas(
            pw * dx, ph * dy, dw, dh, wh_ratio_clip, self.add_ctr_clamp, self.ctr_clamp
        )
        gw, gh = pw * dw.exp(), ph * dh.exp()
        gx, gy = px + dx_width, py + dy_height
        ga = norm_angle(da, self.angle_range)
        if self.edge_swap:
            w_first = gw > gh
            theta = norm_angle(torch.where(w_first, ga, ga + math.pi / 2), self.angle_range)
            out = torch.stack(
                [gx, gy, torch.where(w_first, gw, gh), torch.where(w_first, gh, gw), theta], dim=-1
            )
        else:
            out = torch.stack([gx, gy, gw, gh, ga], dim=-1)
        return out.view_as(deltas)
