"""MMRotate's ``multiclass_nms_rotated`` in numpy: score threshold, score factors, per-class
greedy rotated NMS (exact IoU: ``rbox_geometry.rbbox_overlaps``), best ``max_per_img``."""

from __future__ import annotations

import numpy as np

from rbox_geometry import rbbox_overlaps

__all__ = ["multiclass_nms_rotated", "nms_rotated"]


def _greedy(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_thr: float, max_num: int
) -> np.ndarray:
    """Greedy NMS within each group (class), over all groups in one descending-score pass, so that
    the first ``max_num`` kept are final and the pass stops there (<= 0: no limit). A box goes
    when its IoU with a kept better one of its group is > ``iou_thr`` (mmcv's rule); equal scores
    keep input order. Only boxes whose circumscribed circles meet the kept one's are measured."""
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    g = groups[order]
    radius = 0.5 * np.hypot(b[:, 2], b[:, 3])
    alive = np.ones(len(b), bool)
    keep = []
    for r in range(len(b)):
        if not alive[r]:
            continue
        keep.append(r)
        if len(keep) == max_num:
            break
        rest = (
            r
            + 1
            + np.flatnonzero(
                alive[r + 1 :]
                & (g[r + 1 :] == g[r])
                & (np.hypot(b[r + 1 :, 0] - b[r, 0], b[r + 1 :, 1] - b[r, 1]) <= radius[r + 1 :] + radius[r])
            )
        )
        if len(rest):
            iou = rbbox_overlaps(b[r : r + 1], b[rest])[0]
            alive[rest[iou > iou_thr]] = False
    return order[np.asarray(keep, np.int64)]


def nms_rotated(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy NMS of (n, 5) rotated boxes ``(cx, cy, w, h, theta)`` and scores (n,): the kept
    indices (k,) int64, best first, as mmcv's ``nms_rotated``."""
    if boxes.ndim != 2 or boxes.shape[1] != 5 or scores.shape != (len(boxes),):
        raise ValueError(f"boxes must be (n, 5) and scores (n,), got {boxes.shape} and {scores.shape}")
    return _greedy(boxes, scores, np.zeros(len(boxes), np.int64), iou_thr, -1)


def multiclass_nms_rotated(
    boxes: np.ndarray,
    scores: np.ndarray,
    score_factors: np.ndarray | None,
    score_thr: float,
    iou_thr: float,
    max_per_img: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's candidates -> detections, as MMRotate's ``multiclass_nms_rotated``.

    Args:
        boxes: (n, 5) ``(cx, cy, w, h, theta)`` shared by every class. scores: (n, C).
        score_factors: (n,) multiplied into the scores that pass ``score_thr`` (None: ones).
        max_per_img: keep at most this many by descending score (<= 0: all).

    Returns:
        boxes (k, 5) float32, scores (k,) float32, labels (k,) int64, best first.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes must be (n, 5), got {boxes.shape}")
    if scores.ndim != 2 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must be (n, C) with n = {boxes.shape[0]}, got {scores.shape}")
    rows, labels = np.nonzero(scores > score_thr)
    kept_scores = scores[rows, labels]
    if score_factors is not None:
        kept_scores = kept_scores * score_factors[rows]
    keep = _greedy(boxes[rows], kept_scores, labels, iou_thr, max_per_img)
    return (
        boxes[rows[keep]].astype(np.float32),
        kept_scores[keep].astype(np.float32),
        labels[keep].astype(np.int64),
    )
