"""Confusion matrix with the semantics of MMRotate's ``tools/analysis_tools/confusion_matrix.py``.

Rows are ground-truth classes, columns detected classes, the last row and column background.
Each detection at or above ``score_thr`` adds 1 to ``[gt class, det class]`` for every object
it overlaps at IoU >= ``tp_iou_thr`` (a detection can count more than once, as in MMRotate),
or to ``[background, det class]`` when it overlaps none; an object that no detection of its
own class overlaps adds 1 to ``[gt class, background]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Real

import numpy as np

from rbox_geometry import rbbox_overlaps
from rdet_eval._checks import check_iou_thr, check_labels
from rdet_eval.detections import DetectionsLike, per_class_results
from rdet_eval.flatten import annotation_array
from rdet_eval.nms import nms_rotated_np

__all__ = ["confusion_matrix", "plot_confusion_matrix"]


def confusion_matrix(
    det_results: Sequence[Sequence[np.ndarray]] | Sequence[DetectionsLike],
    annotations: Sequence[dict],
    score_thr: float = 0.0,
    tp_iou_thr: float = 0.5,
    nms_iou_thr: float | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """The (num_classes + 1, num_classes + 1) confusion matrix of rotated detections.

    Args:
        det_results: Per image, either a list per class of (k, 6) arrays ``(cx, cy, w, h,
            theta, score)``, or detections with ``boxes`` (k, 5), ``scores`` (k,),
            ``labels`` (k,) (e.g. ``rdet_core.structures.Detections``).
        annotations: Per image, ``bboxes`` (n, 5) and ``labels`` (n,).
        score_thr: Detections below it are left out; a number in [0, 1].
        tp_iou_thr: IoU at which a detection and an object overlap.
        nms_iou_thr: Rotated NMS per class before counting at this IoU, in (0, 1]; None (or
            0, as MMRotate's tool) for none.
        num_classes: Required for typed detections (the matrix's size); checked against
            per-class input when given.

    Raises:
        ValueError: ``det_results`` and ``annotations`` of different lengths, an object's
            label outside ``[0, num_classes)`` (MMRotate's tool counts label ``num_classes``
            as background and wraps negative ones), ``tp_iou_thr`` outside (0, 1], an
            ``nms_iou_thr`` that is not None, 0 or in (0, 1] (MMRotate's tool ran NMS at a
            negative or NaN threshold and kept one box per class), a ``score_thr`` outside
            [0, 1] (NaN left every detection out), a
            detection array not (k, 6) or non-finite, ``annotations[i]['bboxes']`` not (n, 5)
            or non-finite, or not as many labels as boxes.
    """
    check_iou_thr(tp_iou_thr, "tp_iou_thr")
    if nms_iou_thr is not None and not (isinstance(nms_iou_thr, Real) and nms_iou_thr == 0):
        nms_iou_thr = check_iou_thr(nms_iou_thr, "nms_iou_thr")
    if isinstance(score_thr, bool) or not isinstance(score_thr, (Real, np.floating, np.integer)):
        raise ValueError(f"score_thr must be a number in [0, 1], got {score_thr!r}")
    if not 0.0 <= float(score_thr) <= 1.0:  # NaN fails too
        raise ValueError(f"score_thr must be in [0, 1], got {float(score_thr)}")
    if len(det_results) != len(annotations):
        raise ValueError(f"det_results has {len(det_results)} images but annotations has {len(annotations)}")
    det_results, num_classes = per_class_results(det_results, num_classes, "det_results")
    num_classes = num_classes or 0
    matrix = np.zeros((num_classes + 1, num_classes + 1))
    for i, (per_class, ann) in enumerate(zip(det_results, annotations)):
        gt_boxes = annotation_array(ann["bboxes"], i, "bboxes", 5)
        gt_labels = np.asarray(ann["labels"], np.int64).reshape(-1)
        if gt_labels.shape[0] != gt_boxes.shape[0]:
            raise ValueError(f"annotations[{i}]: {gt_boxes.shape[0]} bboxes but {gt_labels.shape[0]} labels")
        check_labels(gt_labels, num_classes, lambda k, i=i: f"annotations[{i}]['labels']")
        if len(per_class) != num_classes:
            raise ValueError(
                f"det_results[{i}] has {len(per_class)} classes, det_results[0] has {num_classes}"
            )
        found = np.zeros(gt_labels.shape[0], bool)
        for det_label, dets in enumerate(per_class):
            d = np.asarray(dets, np.float64)
            d = d.reshape(0, 6) if d.size == 0 else d
            if d.ndim != 2 or d.shape[1] != 6:  # a (1, 12) array is not two detections
                raise ValueError(f"det_results[{i}][{det_label}] must have shape (k, 6), got {d.shape}")
            if not np.isfinite(d).all():
                raise ValueError(f"det_results[{i}][{det_label}] has a non-finite value")
            if nms_iou_thr:
                d = d[nms_rotated_np(d[:, :5], d[:, 5], nms_iou_thr)]
            d = d[d[:, 5] >= score_thr]
            if d.shape[0] == 0:
                continue
            hits = rbbox_overlaps(d[:, :5], gt_boxes) >= tp_iou_thr  # (k, n)
            np.add.at(matrix, (gt_labels[np.nonzero(hits)[1]], det_label), 1)
            matrix[-1, det_label] += int((~hits.any(1)).sum())
            found |= hits.any(0) & (gt_labels == det_label)
        np.add.at(matrix, (gt_labels[~found], -1), 1)
    return matrix


def plot_confusion_matrix(
    matrix: np.ndarray,
    labels: Sequence[str],
    save_path: str | os.PathLike | None = None,
    normalize: bool = True,
    title: str = "Normalized Confusion Matrix",
    color_theme: str = "plasma",
) -> object:
    """Draw the matrix (rows normalised to percentages by default) with matplotlib.

    ``labels`` names the classes (background is added). Needs the ``plot`` extra
    (``pip install rdet-eval[plot]``). Returns the matplotlib figure.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plot_confusion_matrix needs matplotlib: pip install 'rdet-eval[plot]'") from e
    names = [*labels, "background"]
    if len(names) != matrix.shape[0]:
        raise ValueError(
            f"{len(labels)} labels for a {matrix.shape[0]}x{matrix.shape[1]} matrix (background is added)"
        )
    shown = matrix.astype(np.float64)
    if normalize:
        totals = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0) * 100
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.5 * n + 3, 0.5 * n * 0.8 + 3), dpi=150)
    im = ax.imshow(shown, cmap=plt.get_cmap(color_theme))
    fig.colorbar(mappable=im, ax=ax)
    ax.set_title(title)
    ax.set_xticks(np.arange(n), names, rotation=45, ha="right")
    ax.set_yticks(np.arange(n), names)
    ax.set_xlabel("Prediction")
    ax.set_ylabel("Ground Truth")
    for r in range(n):
        for c in range(n):
            text = f"{round(shown[r, c]):d}" if normalize else f"{int(shown[r, c])}"
            ax.text(c, r, text, ha="center", va="center", color="w", size=7)
    fig.tight_layout()
    if save_path is not None:
        fig.savefig(save_path)
    return fig
