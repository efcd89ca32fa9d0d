"""nms and batched_nms for axis-aligned (and, via nms_cfg, rotated) boxes, mmcv's signatures."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import _backend
from ._checks import (
    check_finite,
    check_floating,
    check_rows,
    check_same_device,
    check_tensor,
    check_threshold,
    compute_dtype,
)
from .nms_rotated import nms_rotated


def nms(
    boxes: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    iou_threshold: float,
    offset: int = 0,
    score_threshold: float = 0,
    max_num: int = -1,
) -> tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]:
    """Greedy NMS of axis-aligned boxes (x1, y1, x2, y2), as mmcv.ops.nms.

    Boxes are visited by descending score (stable sort); a kept box removes later boxes
    with IoU > ``iou_threshold``. ``offset`` (0 or 1) is added to widths and heights;
    boxes with score <= ``score_threshold`` (when > 0) are dropped first; ``max_num`` > 0
    keeps at most that many. numpy in, numpy out. ``iou_threshold`` must be a real number;
    a NaN or inf in ``boxes`` or ``scores`` is a ValueError naming the row (as
    :func:`~rbox_ops.nms_rotated`).

    Returns:
        dets (K, 5) kept boxes with their score, by descending score; inds (K,) int64.
    """
    is_numpy = isinstance(boxes, np.ndarray)
    if is_numpy:
        boxes = torch.from_numpy(boxes)
    if isinstance(scores, np.ndarray):
        scores = torch.from_numpy(scores)
    check_tensor("boxes", boxes, ndim=2, last=4)
    check_tensor("scores", scores, ndim=1)
    check_floating("boxes", boxes)
    check_rows("scores", scores, "boxes", boxes.shape[0])
    check_same_device(boxes=boxes, scores=scores)
    thr = check_threshold("iou_threshold", iou_threshold)
    check_finite("boxes", boxes)
    check_finite("scores", scores)
    if offset not in (0, 1):
        raise ValueError(f"offset must be 0 or 1, got {offset!r}")
    b = boxes.detach().to(compute_dtype(boxes))
    s = scores.detach()
    valid_inds = None
    if score_threshold > 0:
        valid = s > score_threshold
        valid_inds = valid.nonzero(as_tuple=True)[0]
        b, s = b[valid_inds], s[valid_inds]
    if b.shape[0] == 0:
        inds = torch.zeros(0, dtype=torch.long, device=boxes.device)
    elif _backend.use_compiled(b.device):
        inds = torch.ops.rbox_ops.nms(b, s.to(b.dtype), thr, offset)
    else:
        inds = nms_torch(b, s, thr, offset)
    if max_num > 0:
        inds = inds[:max_num]
    if valid_inds is not None:
        inds = valid_inds[inds]
    dets = torch.cat((boxes[inds], scores[inds].reshape(-1, 1).to(boxes.dtype)), 1)
    if is_numpy:
        return dets.cpu().numpy(), inds.cpu().numpy()
    return dets, inds


def _aligned_iou(a: torch.Tensor, b: torch.Tensor, offset: int) -> torch.Tensor:
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt + offset).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0] + offset) * (a[..., 3] - a[..., 1] + offset)
    area_b = (b[..., 2] - b[..., 0] + offset) * (b[..., 3] - b[..., 1] + offset)
    iou = inter / (area_a + area_b - inter)
    return torch.where(torch.isfinite(iou), iou, torch.zeros_like(iou))


def nms_torch(boxes: torch.Tensor, scores: torch.Tensor, thr: float, offset: int = 0) -> torch.Tensor:
    """Pure-torch nms -> keep (K,) int64 by descending score."""
    order = scores.sort(descending=True, stable=True).indices
    boxes = boxes[order]
    alive = torch.arange(boxes.shape[0], device=boxes.device)
    keep = []
    while alive.numel():
        i, rest = alive[0], alive[1:]
        keep.append(i)
        alive = rest[~(_aligned_iou(boxes[i], boxes[rest], offset) > thr)]
    if not keep:
        return order[:0]
    return order[torch.stack(keep)]


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    nms_cfg: dict[str, Any] | None,
    class_agnostic: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NMS within each class (``idxs``), as mmcv.ops.batched_nms.

    Args:
        boxes: (N, 4) axis-aligned or (N, 5) rotated boxes. scores: (N,). idxs: (N,) classes.
        nms_cfg: ``dict(type='nms' | 'nms_rotated', iou_threshold=..., [max_num=...],
            [class_agnostic=...])``; None sorts by score without suppression.

    Returns:
        dets (K, 5 or 6): kept boxes with their score, by descending score; keep (K,) int64.

    Raises:
        ValueError: A NaN or inf in ``boxes`` or ``scores`` (naming the row), a bad shape or
            ``nms_cfg``. TypeError: an ``iou_threshold`` that is not a real number.
    """
    check_tensor("boxes", boxes, ndim=2, last=(4, 5))
    check_tensor("scores", scores, ndim=1)
    check_tensor("idxs", idxs, ndim=1)
    check_rows("scores", scores, "boxes", boxes.shape[0])
    check_rows("idxs", idxs, "boxes", boxes.shape[0])
    check_finite("boxes", boxes)  # before the class offsets: an inf there would spread to every box
    check_finite("scores", scores)
    if nms_cfg is None:
        scores, inds = scores.sort(descending=True, stable=True)
        return torch.cat((boxes[inds], scores[:, None].to(boxes.dtype)), -1), inds
    cfg = dict(nms_cfg)
    class_agnostic = cfg.pop("class_agnostic", class_agnostic)
    nms_type = cfg.pop("type", "nms")
    max_num = cfg.pop("max_num", -1)
    cfg.pop("split_thr", None)  # mmcv splits large inputs per class; one pass gives the same result
    thr = cfg.pop("iou_threshold", cfg.pop("iou_thr", None))
    if thr is None:
        raise ValueError(f"nms_cfg needs iou_threshold, got {nms_cfg!r}")
    if nms_type == "nms_rotated":
        if boxes.shape[1] != 5:
            raise ValueError(f"nms_rotated needs boxes of shape (N, 5), got {tuple(boxes.shape)}")
        dets, keep = nms_rotated(boxes, scores, thr, labels=None if class_agnostic else idxs, **cfg)
    elif nms_type == "nms":
        if boxes.shape[1] != 4:
            raise ValueError(f"nms needs boxes of shape (N, 4), got {tuple(boxes.shape)}")
        boxes_for_nms = boxes
        if not class_agnostic and boxes.numel():
            offsets = idxs.to(boxes) * (boxes.max() + 1)
            boxes_for_nms = boxes + offsets[:, None]
        _, keep = nms(boxes_for_nms, scores, thr, **cfg)
        dets = torch.cat((boxes[keep], scores[keep][:, None].to(boxes.dtype)), 1)
    else:
        raise ValueError(f"nms_cfg type must be 'nms' or 'nms_rotated', got {nms_type!r}")
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    return dets, keep


def register_kernels() -> None:
    """Fake kernel (data-dependent length) of the compiled op."""

    @torch.library.register_fake("rbox_ops::nms")
    def _(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
        k = torch.library.get_ctx().new_dynamic_size()
        return boxes.new_empty((k,), dtype=torch.long)
