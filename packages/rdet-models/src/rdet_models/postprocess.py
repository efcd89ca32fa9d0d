"""Post-processing: MMRotate's ``multiclass_nms_rotated`` and ``rbbox2result``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["multiclass_nms_rotated", "rbbox2result"]


def _iou_thr(nms: Mapping[str, Any] | Any) -> float:
    thr = (
        nms.get("iou_thr", nms.get("iou_threshold"))
        if isinstance(nms, Mapping)
        else getattr(nms, "iou_thr", None)
    )
    if thr is None:
        raise KeyError(f"the nms config needs iou_thr, got {nms!r}")
    return float(thr)


def check_finite_predictions(bboxes: torch.Tensor, scores: torch.Tensor) -> None:
    """Raise ``FloatingPointError`` naming how many of ``bboxes`` (n, k * 5) and ``scores``
    (n, c) rows hold a NaN or inf, and the first such row; one pass over each."""
    for name, values in (("boxes", bboxes), ("scores", scores)):
        if values.numel() == 0 or bool(torch.isfinite(values).all()):
            continue
        bad = ~torch.isfinite(values.detach().reshape(values.shape[0], -1)).all(1)
        first = int(bad.nonzero()[0, 0])
        raise FloatingPointError(
            f"the model predicted non-finite {name} (NaN or inf) for {int(bad.sum())} of "
            f"{values.shape[0]} candidates, e.g. candidate {first}: {values[first].tolist()}; "
            "its weights or its input have diverged"
        )


def multiclass_nms_rotated(
    multi_bboxes: torch.Tensor,
    multi_scores: torch.Tensor,
    score_thr: float,
    nms: Mapping[str, Any],
    max_num: int = -1,
    score_factors: torch.Tensor | None = None,
    return_inds: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Per-class rotated NMS (MMRotate 0.3.x).

    Args:
        multi_bboxes: (n, 5) boxes shared by all classes, or (n, num_classes * 5).
        multi_scores: (n, num_classes + 1); the last column (background) is ignored.
        score_thr: keep (box, class) pairs with score > score_thr.
        nms: ``dict(iou_thr=...)``.
        max_num: keep at most this many (all if <= 0), by descending score.
        score_factors: (n,) multiplied into the scores after thresholding.

    Returns:
        dets (k, 6) ``(cx, cy, w, h, theta, score)``, labels (k,) [, inds (k,) into the
        flattened (n * num_classes) candidates].

    Raises:
        FloatingPointError: a NaN or inf among the boxes or scores: the model's weights or its
            input have diverged (a NaN score used to fail the threshold silently, a NaN box to
            turn every class offset, and so every box, into NaN).
    """
    from rbox_ops import nms_rotated

    check_finite_predictions(multi_bboxes, multi_scores)
    num_classes = multi_scores.size(1) - 1
    if multi_bboxes.shape[1] > 5:
        bboxes = multi_bboxes.view(multi_scores.size(0), -1, 5)
    else:
        bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), num_classes, 5)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device).view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 5), scores.reshape(-1), labels.reshape(-1)
    valid_mask = scores > score_thr
    if score_factors is not None:
        score_factors = score_factors.view(-1, 1).expand(multi_scores.size(0), num_classes).reshape(-1)
        scores = scores * score_factors
    inds = valid_mask.nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    if bboxes.numel() == 0:
        dets = torch.cat([bboxes, scores[:, None]], -1)
        return (dets, labels, inds) if return_inds else (dets, labels)
    # class-aware NMS by shifting each class's centres far apart
    max_coordinate = bboxes[:, :2].max() + bboxes[:, 2:4].max()
    offsets = labels.to(bboxes) * (max_coordinate + 1)
    bboxes_for_nms = bboxes.clone()
    bboxes_for_nms[:, :2] = bboxes_for_nms[:, :2] + offsets[:, None]
    _, keep = nms_rotated(bboxes_for_nms, scores, _iou_thr(nms))
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([bboxes[keep], scores[keep][:, None]], 1)
    return (dets, labels[keep], inds[keep]) if return_inds else (dets, labels[keep])


def rbbox2result(
    bboxes: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_classes: int
) -> list[np.ndarray]:
    """Detections (k, 6) and labels (k,) -> MMRotate's result: a list per class of (k_c, 6) float32 arrays."""
    if bboxes.shape[0] == 0:
        return [np.zeros((0, 6), dtype=np.float32) for _ in range(num_classes)]
    if isinstance(bboxes, torch.Tensor):
        bboxes = bboxes.detach().cpu().numpy()
        labels = labels.detach().cpu().numpy()
    return [bboxes[labels == i, :].astype(np.float32) for i in range(num_classes)]
