"""Average precision from a precision/recall curve: MMDetection's and the DOTA devkit's forms."""

from __future__ import annotations

import numpy as np

__all__ = ["average_precision", "voc_ap"]


def average_precision(
    recalls: np.ndarray, precisions: np.ndarray, mode: str = "area"
) -> np.ndarray | np.float32:
    """MMDetection's ``average_precision``: AP of one or several (num_scales, num_dets) curves.

    Args:
        recalls: (num_dets,) or (num_scales, num_dets) recalls in detection order.
        precisions: Same shape, precisions.
        mode: ``'area'`` (area under the interpolated curve) or ``'11points'`` (VOC07: the
            mean of the best precision at recall >= 0, 0.1, ..., 1).

    Returns:
        float32 AP, a scalar for 1-D input, else (num_scales,).
    """
    if mode not in ("area", "11points"):
        raise ValueError(f"mode must be 'area' or '11points', got {mode!r}")
    one_curve = recalls.ndim == 1
    rec = np.atleast_2d(recalls)
    prec = np.atleast_2d(precisions)
    ap = np.zeros(rec.shape[0], dtype=np.float32)
    if mode == "area":
        zeros = np.zeros((rec.shape[0], 1), dtype=rec.dtype)
        mrec = np.hstack((zeros, rec, np.ones_like(zeros)))
        mpre = np.hstack((zeros, prec, zeros))
        mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]  # the precision envelope
        for i in range(rec.shape[0]):
            ind = np.where(mrec[i, 1:] != mrec[i, :-1])[0]
            ap[i] = np.sum((mrec[i, ind + 1] - mrec[i, ind]) * mpre[i, ind + 1])
    else:
        for i in range(rec.shape[0]):
            for thr in np.arange(0, 1 + 1e-3, 0.1):
                precs = prec[i, rec[i, :] >= thr]
                ap[i] += precs.max() if precs.size > 0 else 0
        ap /= 11
    return ap[0] if one_curve else ap


def voc_ap(rec: np.ndarray, prec: np.ndarray, use_07_metric: bool = False) -> float:
    """The DOTA devkit's ``voc_ap`` (float64): 11-point AP, or the area under the envelope."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = np.max(prec[rec >= t]) if np.sum(rec >= t) else 0
            ap = ap + p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
