"""``MidpointOffsetCoder``: Oriented R-CNN's midpoint-offset box encoding (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rbox_geometry import obb2poly, obb2xyxy, poly2obb
from rdet_models.coders.base import (
    ANGLE_VERSIONS,
    BaseBBoxCoder,
    clamp_deltas,
    denormalize_deltas,
    normalize_deltas,
    xyxy_centre_size,
)
from rdet_models.registry import BBOX_CODERS

__all__ = ["MidpointOffsetCoder"]


@BBOX_CODERS.register_module()
class MidpointOffsetCoder(BaseBBoxCoder):
    """Horizontal anchors ``(x1, y1, x2, y2)`` <-> rotated boxes, via 6 deltas ``(dx, dy, dw, dh, da, db)``.

    ``dx .. dh`` are the usual deltas of the box's enclosing horizontal box; ``da`` is the
    offset (relative to that box's width) of the midpoint of the top vertex from the centre
    and ``db`` that of the right vertex (relative to the height). ``decode`` rebuilds the
    parallelogram, stretches it to a rectangle about its centre and converts it with
    ``poly2obb``; it does not clip to the image (as MMRotate, whatever ``max_shape`` says).
    """

    def __init__(
        self,
        target_means: Sequence[float] = (0.0,) * 6,
        target_stds: Sequence[float] = (1.0,) * 6,
        angle_range: str = "oc",
    ) -> None:
        if angle_range not in ANGLE_VERSIONS:
            raise NotImplementedError(f"angle_range must be one of {ANGLE_VERSIONS}, got {angle_range!r}")
        if len(target_means) != 6 or len(target_stds) != 6:
            raise ValueError("MidpointOffsetCoder needs 6 target_means and 6 target_stds")
        self.means, self.stds, self.version = tuple(target_means), tuple(target_stds), angle_range

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """(N, 4) anchors, (N, 5) rotated targets -> (N, 6) deltas."""
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 5:
            raise ValueError(
                f"encode needs (N, 4) and (N, 5) boxes, got {tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}"
            )
        gt = gt_bboxes.float()
        px, py, pw, ph = xyxy_centre_size(bboxes.float())
        hbb, poly = obb2xyxy(gt, self.version), obb2poly(gt, self.version)
        gx, gy, gw, gh = xyxy_centre_size(hbb)
        x_coor, y_coor = poly[:, 0::2], poly[:, 1::2]
        y_min = y_coor.min(dim=1, keepdim=True)[0]
        x_max = x_coor.max(dim=1, keepdim=True)[0]
        # the top vertex's x (largest x among vertices within 0.1 px of the top) and the
        # right vertex's y (largest y among vertices within 0.1 px of the right edge)
        ga = torch.where(torch.abs(y_coor - y_min) > 0.1, x_coor.new_tensor(-1000.0), x_coor).max(dim=1)[0]
        gb = torch.where(torch.abs(x_coor - x_max) > 0.1, y_coor.new_tensor(-1000.0), y_coor).max(dim=1)[0]
        deltas = torch.stack(
            [
                (gx - px) / pw,
                (gy - py) / ph,
                torch.log(gw / pw),
                torch.log(gh / ph),
                (ga - gx) / gw,
                (gb - gy) / gh,
            ],
            dim=-1,
        )
        return normalize_deltas(deltas, self.means, self.stds)

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """(N, 4) anchors, (N, 6k) deltas -> (N, 5k) rotated boxes ``(cx, cy, w, h, theta)``."""
        if pred_bboxes.size(0) != bboxes.size(0) or bboxes.size(-1) != 4 or pred_bboxes.size(-1) % 6:
            raise ValueError(
                f"decode needs (N, 4) anchors and (N, 6k) deltas, got {tuple(bboxes.shape)}, "
                f"{tuple(pred_bboxes.shape)}"
            )
        n, k = pred_bboxes.size(0), pred_bboxes.size(-1) // 6
        d = denormalize_deltas(pred_bboxes, self.means, self.stds, 6)
        dx, dy, dw, dh, da, db = (d[:, i::6] for i in range(6))
        px, py, pw, ph = (t.unsqueeze(1).expand_as(dx) for t in xyxy_centre_size(bboxes))
        dx_width, dy_height, dw, dh = clamp_deltas(pw * dx, ph * dy, dw, dh, wh_ratio_clip)
        gw, gh = pw * dw.exp(), ph * dh.exp()
        gx, gy = px + dx_width, py + dy_height
        x1, y1, x2, y2 = gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5
        da = da.clamp(min=-0.5, max=0.5)
        db = db.clamp(min=-0.5, max=0.5)
        ga, _ga = gx + da * gw, gx - da * gw
        gb, _gb = gy + db * gh, gy - db * gh
        polys = torch.stack([ga, y1, x2, gb, _ga, y2, x1, _gb], dim=-1)
        center = torch.stack([gx, gy] * 4, dim=-1)
        center_polys = polys - center
        diag_len = torch.sqrt(center_polys[..., 0::2] ** 2 + center_polys[..., 1::2] ** 2)
        max_diag_len = diag_len.max(dim=-1, keepdim=True)[0]
        ratio = max_diag_len / diag_len
        # each vertex's ratio for its x and y (stack + flatten: ONNX export garbles repeat_interleave's rank)
        center_polys = center_polys * torch.stack([ratio, ratio], dim=-1).flatten(-2)
        rect_polys = center_polys + center
        return poly2obb(rect_polys.reshape(-1, 8), self.version).reshape(n, 5 * k)
