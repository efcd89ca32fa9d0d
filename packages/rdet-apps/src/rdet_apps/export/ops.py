"""Exportable forms of the two ops a two-stage model runs between its stages.

- :func:`nms_xyxy`: horizontal NMS; eager it is ``rbox_ops.nms``, in an ONNX graph the standard
  ``NonMaxSuppression`` operator (the same rule: suppress when IoU > threshold, best first).
- :func:`multilevel_roi_align_rotated`: mmcv's ``roi_align_rotated`` of each RoI on its own FPN
  level, written as one gather of bilinear taps from all levels flattened into one
  (pixels, channels) table. Exact (same taps and weights as ``rbox_ops``), no loop over levels
  with a data-dependent size, and only standard operators (Gather, arithmetic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["multilevel_roi_align_rotated", "nms_xyxy"]


class _NMS(torch.autograd.Function):
    """Eager: ``rbox_ops.nms``; traced for ONNX: ``NonMaxSuppression`` (indices, best first)."""

    @staticmethod
    def forward(ctx: Any, boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        if torch.jit.is_tracing():  # the graph gets the symbolic; numpy keeps the trace from recording a loop
            return torch.from_numpy(_nms_numpy(boxes.numpy(), scores.numpy(), iou_threshold))
        from rbox_ops import nms

        return nms(boxes, scores, iou_threshold)[1]

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, iou_threshold: float) -> Any:
        boxes3 = g.op("Unsqueeze", boxes, g.op("Constant", value_t=torch.tensor([0])))
        scores3 = g.op("Unsqueeze", scores, g.op("Constant", value_t=torch.tensor([0, 1])))
        max_out = g.op("Constant", value_t=torch.tensor([2**31 - 1], dtype=torch.long))
        thr = g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float))
        selected = g.op("NonMaxSuppression", boxes3, scores3, max_out, thr)  # (k, 3): batch, class, box
        column = g.op("Gather", selected, g.op("Constant", value_t=torch.tensor([2])), axis_i=1)
        return g.op("Squeeze", column, g.op("Constant", value_t=torch.tensor([1])))


def _nms_numpy(boxes: np.ndarray, scores: np.ndarray, thr: float) -> np.ndarray:
    """Greedy NMS of (n, 4) boxes (IoU > ``thr`` suppresses, best first, ties in input order)."""
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    alive = np.ones(len(b), bool)
    for i in range(len(b)):
        if alive[i]:
            wh = np.clip(np.minimum(b[i, 2:], b[i + 1 :, 2:]) - np.maximum(b[i, :2], b[i + 1 :, :2]), 0, None)
            inter = wh[:, 0] * wh[:, 1]
            alive[i + 1 :] &= inter / np.maximum(area[i] + area[i + 1 :] - inter, 1e-12) <= thr
    return order[alive].astype(np.int64)


def nms_xyxy(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS of (n, 4) ``(x1, y1, x2, y2)`` boxes -> kept indices (k,) int64, best first."""
    return _NMS.apply(boxes, scores.to(boxes.dtype), float(iou_threshold))


def _taps(
    y: torch.Tensor, x: torch.Tensor, height: torch.Tensor, width: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmcv's bilinear taps of points (y, x) on maps of (height, width) (per point, float):
    flat offsets ``y * width + x`` (..., 4) int64 and weights (..., 4); a point more than one
    pixel outside its map (or NaN) has zero weights."""
    valid = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)
    y = torch.where(valid, y, torch.zeros_like(y)).clamp(min=0)
    x = torch.where(valid, x, torch.zeros_like(x)).clamp(min=0)
    y_low, x_low = torch.floor(y), torch.floor(x)
    top, right = y_low >= height - 1, x_low >= width - 1
    y_low = torch.where(top, height - 1, y_low)
    x_low = torch.where(right, width - 1, x_low)
    y_high = torch.where(top, y_low, y_low + 1)
    x_high = torch.where(right, x_low, x_low + 1)
    y = torch.where(top, y_low, y)
    x = torch.where(right, x_low, x)
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    weights = torch.stack((hy * hx, hy * lx, ly * hx, ly * lx), -1) * valid.unsqueeze(-1).to(y.dtype)
    pos = torch.stack(
        (y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high), -1
    )
    return pos.long(), weights


def multilevel_roi_align_rotated(
    feats: Sequence[torch.Tensor],
    rois: torch.Tensor,
    levels: torch.Tensor,
    spatial_scales: Sequence[float],
    output_size: tuple[int, int],
    sampling_ratio: int,
    aligned: bool = True,
    clockwise: bool = False,
) -> torch.Tensor:
    """Rotated RoIAlign of each RoI on its level: (R, C, PH, PW).

    Args:
        feats: levels (B, C, H_l, W_l). rois: (R, 6) ``(batch_index, cx, cy, w, h, theta)``,
            image pixels and radians. levels: (R,) int64, the level of each RoI.
        spatial_scales: per level, map pixels per image pixel (1 / stride).
        sampling_ratio: samples per bin side, > 0 (mmcv's adaptive 0 has a data-dependent
            sample count and cannot be exported).
        aligned / clockwise: as ``rbox_ops.roi_align_rotated``.
    """
    if sampling_ratio <= 0:
        raise ValueError(
            f"sampling_ratio={sampling_ratio}: an exported RoIAlignRotated needs a fixed sample count (> 0); "
            "set roi_layer.sample_num in the config"
        )
    ph, pw = output_size
    s = sampling_ratio
    dev, dt = rois.device, rois.dtype
    sizes = [f.shape[-2:] for f in feats]
    # per level: height, width, scale and where its rows start in the flat table
    heights = torch.stack([torch.as_tensor(h, dtype=dt) for h, _ in sizes])
    widths = torch.stack([torch.as_tensor(w, dtype=dt) for _, w in sizes])
    scales = torch.tensor(list(spatial_scales), dtype=dt, device=dev)
    flat = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for f in feats])
    counts = torch.stack([torch.as_tensor(f.shape[0] * f.shape[2] * f.shape[3]) for f in feats])
    starts = torch.cumsum(counts, 0) - counts
    height, width, scale = heights[levels], widths[levels], scales[levels]
    base = starts[levels] + rois[:, 0].long() * (height * width).long()

    offset = 0.5 if aligned else 0.0
    roi_w, roi_h = rois[:, 3] * scale, rois[:, 4] * scale
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    theta = -rois[:, 5] if clockwise else rois[:, 5]
    cos, sin = torch.cos(theta), torch.sin(theta)
    bin_h, bin_w = roi_h / ph, roi_w / pw

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.view(-1, 1, 1, 1, 1)

    iy = (torch.arange(ph, device=dev, dtype=dt).view(1, -1, 1, 1, 1) * s
          + torch.arange(s, device=dev, dtype=dt).view(1, 1, 1, -1, 1) + 0.5) / s  # fmt: skip
    ix = (torch.arange(pw, device=dev, dtype=dt).view(1, 1, -1, 1, 1) * s
          + torch.arange(s, device=dev, dtype=dt).view(1, 1, 1, 1, -1) + 0.5) / s  # fmt: skip
    yy = col(-roi_h / 2) + iy * col(bin_h)  # (R, PH, 1, s, 1)
    xx = col(-roi_w / 2) + ix * col(bin_w)  # (R, 1, PW, 1, s)
    y = yy * col(cos) - xx * col(sin) + col(rois[:, 2] * scale - offset)
    x = yy * col(sin) + xx * col(cos) + col(rois[:, 1] * scale - offset)
    pos, weights = _taps(y, x, col(height), col(width))  # (R, PH, PW, s, s, 4)
    pos = pos + base.view(-1, 1, 1, 1, 1, 1)
    values = flat[pos.reshape(-1)].view(*pos.shape, flat.shape[1])  # (R, PH, PW, s, s, 4, C)
    pooled = (values * weights.unsqueeze(-1)).sum(dim=(3, 4, 5)) / (s * s)  # (R, PH, PW, C)
    return pooled.permute(0, 3, 1, 2)
