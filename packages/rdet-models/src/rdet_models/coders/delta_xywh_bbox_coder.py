"""``DeltaXYWHBBoxCoder``: MMDetection 2.x's horizontal-box coder (RPN heads, Gliding Vertex's box branch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rdet_models.coders.base import BaseBBoxCoder, normalize_deltas, xyxy_centre_size
from rdet_models.registry import BBOX_CODERS

__all__ = ["DeltaXYWHBBoxCoder"]


@BBOX_CODERS.register_module()
class DeltaXYWHBBoxCoder(BaseBBoxCoder):
    """``(x1, y1, x2, y2)`` boxes <-> deltas ``(dx, dy, dw, dh)``: ``dx = (gx - px) / pw``, ``dw = log(gw / pw)``.

    ``decode`` clamps ``dw, dh`` to ``|log(wh_ratio_clip)|`` and, with ``clip_border``, the
    boxes to ``max_shape`` (H, W).
    """

    def __init__(
        self,
        target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        clip_border: bool = True,
        add_ctr_clamp: bool = False,
        ctr_clamp: int = 32,
    ) -> None:
        self.means, self.stds = tuple(target_means), tuple(target_stds)
        self.clip_border, self.add_ctr_clamp, self.ctr_clamp = clip_border, add_ctr_clamp, ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """(N, 4) priors, (N, 4) targets -> (N, 4) deltas."""
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 4:
            raise ValueError(
                f"encode needs two (N, 4) boxes, got {tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}"
            )
        px, py, pw, ph = xyxy_centre_size(bboxes.float())
        gx, gy, gw, gh = xyxy_centre_size(gt_bboxes.float())
        deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
        return normalize_deltas(deltas, self.means, self.stds)

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """(N, 4) priors, (N, 4k) deltas -> (N, 4k) boxes."""
        if pred_bboxes.size(0) != bboxes.size(0) or pred_bboxes.size(-1) % 4:
            raise ValueError(
                f"decode needs (N, 4) priors and (N, 4k) deltas, got {tuple(bboxes.shape)}, {tuple(pred_bboxes.shape)}"
            )
        num_bboxes, k = pred_bboxes.size(0), pred_bboxes.size(-1) // 4
        if num_bboxes == 0:
            return pred_bboxes
        deltas = pred_bboxes.reshape(-1, 4)
        d = deltas * deltas.new_tensor(self.stds).view(1, -1) + deltas.new_tensor(self.means).view(1, -1)
        dxy, dwh = d[:, :2], d[:, 2:]
        rois = bboxes.repeat(1, k).reshape(-1, 4)
        pxy = (rois[:, :2] + rois[:, 2:]) * 0.5
        pwh = rois[:, 2:] - rois[:, :2]
        dxy_wh = pwh * dxy
        max_ratio = float(np.abs(np.log(wh_ratio_clip)))
        if self.add_ctr_clamp:
            dxy_wh = torch.clamp(dxy_wh, max=self.ctr_clamp, min=-self.ctr_clamp)
            dwh = torch.clamp(dwh, max=max_ratio)
        else:
            dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
        gxy = pxy + dxy_wh
        gwh = pwh * dwh.exp()
        out = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
        if self.clip_border and max_shape is not None:
            h, w = float(max_shape[0]), float(max_shape[1])
            out = torch.stack(
                [out[:, 0].clamp(0, w), out[:, 1].clamp(0, h), out[:, 2].clamp(0, w), out[:, 3].clamp(0, h)],
                dim=-1,
            )
        return out.reshape(num_bboxes, -1)
