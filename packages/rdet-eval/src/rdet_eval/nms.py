"""Greedy NMS in numpy for merging patch results: by rotated-box IoU or by polygon IoU.

Each step keeps the best remaining detection and drops those overlapping it by more than
the threshold; the IoU of one box against the rest is one vectorised call.
"""

from __future__ import annotations

import numpy as np

from rbox_geometry import polygon_overlaps, rbbox_overlaps
from rdet_eval._checks import check_iou_thr

__all__ = ["nms_polygons", "nms_rotated_np"]


def _check_finite(geom: np.ndarray, scores: np.ndarray, what: str) -> None:
    """NaN would rank first (numpy sorts it last; descending order reverses that) and suppress
    valid boxes: refuse it."""
    bad = ~(np.isfinite(scores) & np.isfinite(geom).all(1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what}: {int(bad.sum())} of {bad.size} detections are not finite, the first is {i}: "
            f"{geom[i].tolist()} score {scores[i]}"
        )


def _greedy(order: np.ndarray, overlaps_with, iou_thr: float) -> np.ndarray:
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = overlaps_with(i, order[1:])
        order = order[1:][ious <= iou_thr]
    return np.asarray(keep, np.int64)


def nms_rotated_np(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Indices kept by rotated NMS, in descending score order (ties: input order).

    Args:
        boxes: (K, 5) ``(cx, cy, w, h, theta)``.
        scores: (K,).
        iou_thr: Drop boxes whose IoU with a kept one is above this; in (0, 1].

    Raises:
        ValueError: A box or score is not finite; ``iou_thr`` outside (0, 1] (a negative or
            NaN threshold kept only the best box, however far the others lay).
    """
    iou_thr = check_iou_thr(iou_thr)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
    scores = np.asarray(scores, np.float64).reshape(-1)
    _check_finite(boxes, scores, "nms_rotated_np")
    order = np.argsort(-scores, kind="stable")
    return _greedy(order, lambda i, rest: rbbox_overlaps(boxes[i : i + 1], boxes[rest])[0], iou_thr)


def nms_polygons(polys: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Indices kept by polygon NMS, as DOTA_devkit's ``py_cpu_nms_poly``.

    The order is the devkit's ``scores.argsort()[::-1]`` (numpy's default sort, reversed),
    so ties fall as they do there.

    Args:
        polys: (K, 8) quadrilaterals.
        scores: (K,).
        iou_thr: Drop polygons whose IoU with a kept one is above this; in (0, 1].

    Raises:
        ValueError: A polygon or score is not finite (the devkit would keep a NaN-scored
            polygon first and let it suppress valid ones); ``iou_thr`` outside (0, 1] (the
            devkit keeps only the best polygon at a negative or NaN threshold).
    """
    iou_thr = check_iou_thr(iou_thr)
    polys = np.asarray(polys, np.float64).reshape(-1, 8)
    scores = np.asarray(scores, np.float64).reshape(-1)
    _check_finite(polys, scores, "nms_polygons")
    order = scores.argsort()[::-1]
    return _greedy(order, lambda i, rest: polygon_overlaps(polys[i : i + 1], polys[rest])[0], iou_thr)
