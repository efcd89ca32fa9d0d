"""nms_rotated: greedy NMS of rotated boxes, mmcv's signature (class-aware with ``labels``)."""

from __future__ import annotations

import torch

from rbox_geometry import obb2poly, rbbox_overlaps

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


def nms_rotated(
    dets: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    labels: torch.Tensor | None = None,
    clockwise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy NMS of rotated boxes (cx, cy, w, h, theta), as mmcv.ops.nms_rotated.

    Boxes are visited by descending score (a stable sort: equal scores keep their input
    order); a kept box removes every later box whose IoU with it is >= ``iou_threshold``
    (and, given ``labels``, that has the same label).

    A NaN or inf in ``dets`` or ``scores`` is a ValueError naming the argument and the row
    (mmcv keeps a NaN box, and ranks a NaN score first so that it suppresses valid boxes).
    While torch.compile / torch.export trace, where that check cannot run, such a box has IoU
    0 with everything (it neither removes nor is removed) and a NaN-scored box is not kept.

    Args:
        dets: (N, 5) boxes. scores: (N,). labels: optional (N,) integer classes.
        iou_threshold: A real number (not a string or a bool).
        clockwise: theta turns clockwise on screen; False flips its sign for the IoU.

    Returns:
        dets (K, 6): kept boxes with their score appended, sorted by score; keep (K,) int64
        indices into ``dets``.

    Raises:
        TypeError: ``iou_threshold`` is not a real number, a tensor or dtype is wrong.
        ValueError: A shape or device mismatch, a non-finite row of ``dets`` or ``scores``.
    """
    check_tensor("dets", dets, ndim=2, last=5)
    check_tensor("scores", scores, ndim=1)
    check_floating("dets", dets)
    check_rows("scores", scores, "dets", dets.shape[0])
    check_same_device(dets=dets, scores=scores)
    thr = check_threshold("iou_threshold", iou_threshold)
    check_finite("dets", dets)
    check_finite("scores", scores)
    if labels is not None:
        check_tensor("labels", labels, ndim=1)
        check_rows("labels", labels, "dets", dets.shape[0])
        check_same_device(dets=dets, labels=labels)
        if labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    boxes = dets.detach().to(compute_dtype(dets))
    if not clockwise:
        boxes = boxes * boxes.new_tensor([1, 1, 1, 1, -1])
    # A NaN score takes no part: its box becomes a NaN box (IoU 0 with everything: it neither
    # removes nor is removed), ranked last, and is dropped from the result. No data-dependent
    # branch, so torch.compile / torch.export trace it.
    nan_score = torch.isnan(scores.detach())
    boxes = torch.where(nan_score[:, None], torch.full_like(boxes, float("nan")), boxes)
    scores_in = torch.where(nan_score, torch.full_like(scores.detach(), float("-inf")), scores.detach())
    if dets.shape[0] == 0:
        keep = torch.zeros(0, dtype=torch.long, device=dets.device)
    elif _backend.use_compiled(boxes.device):
        keep = torch.ops.rbox_ops.nms_rotated(boxes, scores_in.to(boxes.dtype), thr, labels)
    else:
        keep = nms_rotated_torch(boxes, scores_in, thr, labels)
    keep = keep[~nan_score[keep]]
    return torch.cat((dets[keep], scores[keep].reshape(-1, 1).to(dets.dtype)), 1), keep


def nms_rotated_torch(
    boxes: torch.Tensor, scores: torch.Tensor, thr: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Pure-torch nms_rotated on clockwise boxes -> keep (K,) int64, by descending score."""
    order = scores.sort(descending=True, stable=True).indices
    boxes = boxes[order]
    lab = labels[order] if labels is not None else None
    pts = obb2poly(boxes).view(-1, 4, 2)
    lo = pts.amin(1) - 1  # the same padded axis-aligned bounds as the C++ kernel
    hi = pts.amax(1) + 1
    alive = torch.arange(boxes.shape[0], device=boxes.device)
    keep = []
    while alive.numel():
        i, rest = alive[0], alive[1:]
        keep.append(i)
        cand = torch.ones_like(rest, dtype=torch.bool)
        if thr > 0:
            cand = ((lo[rest] <= hi[i]) & (lo[i] <= hi[rest])).all(1)
        if lab is not None:
            cand &= lab[rest] == lab[i]
        idx = rest[cand]
        if idx.numel():
            iou = rbbox_overlaps(boxes[i : i + 1], boxes[idx])[0]
            removed = torch.zeros_like(cand)
            removed[cand.nonzero(as_tuple=True)[0][iou >= thr]] = True
            rest = rest[~removed]
        alive = rest
    if not keep:
        return order[:0]
    return order[torch.stack(keep)]


def register_kernels() -> None:
    """Fake kernel (data-dependent length) of the compiled op."""

    @torch.library.register_fake("rbox_ops::nms_rotated")
    def _(
        dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float, labels: torch.Tensor | None
    ) -> torch.Tensor:
        k = torch.library.get_ctx().new_dynamic_size()
        return dets.new_empty((k,), dtype=torch.long)
