"""MMRotate's ``eval_rbbox_map``: VOC-style mAP of rotated boxes, by exact rotated IoU.

Same signature, return value and printed table as MMRotate 0.3.x, computed for all images
of a class at once (no process pool: ``nproc`` is accepted and unused). Differences, on
purpose: ``scale_ranges`` works (MMRotate raises NotImplementedError), and malformed input
raises an error naming the image and class instead of a numpy error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from rbox_geometry import box_iou_rotated
from rdet_eval._checks import check_bool, check_iou_thr, check_nproc, check_scale_ranges, check_unique
from rdet_eval.ap import average_precision
from rdet_eval.detections import DetectionsLike, flatten_detections, is_typed_results
from rdet_eval.flatten import check_annotation_labels, flatten_annotations, flatten_results
from rdet_eval.matching import best_overlaps_by_class, claim_matches
from rdet_eval.table import format_table

__all__ = ["eval_rbbox_map", "eval_rbbox_map_coco", "print_map_summary"]

COCO_IOU_THRS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())


DetResults = Sequence[Sequence[np.ndarray]] | Sequence[DetectionsLike]


def _flatten(
    det_results: DetResults,
    annotations: Sequence[dict],
    num_classes: int | None = None,
    class_names: Sequence[str] | str | None = None,
) -> tuple[int, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Both forms of detections (per-class lists or DetectionsLike) and the annotations as
    flat arrays; typed detections flatten in the per-class form's order (identical numbers)."""
    if len(det_results) != len(annotations):
        raise ValueError(
            f"det_results has {len(det_results)} images but annotations has {len(annotations)}: "
            "give one result per image of the dataset, in the same order"
        )
    if not len(det_results):
        raise ValueError("det_results is empty: nothing to evaluate")
    ignore = ("bboxes_ignore", "labels_ignore")
    gts = flatten_annotations(annotations, "bboxes", 5, ignore=ignore)
    if is_typed_results(det_results, "det_results"):
        dets, det_image, det_label, n = flatten_detections(
            det_results, "det_results", num_classes, class_names, extra_labels=[gts[2]]
        )
    else:
        n = len(det_results[0])
        if num_classes is not None and num_classes != n:
            raise ValueError(f"det_results[0] has {n} classes but num_classes is {num_classes}")
        dets, det_image, det_label = flatten_results(det_results, 6, "det_results")
    if isinstance(class_names, (list, tuple)):
        if len(class_names) != n:
            raise ValueError(
                f"dataset has {len(class_names)} class names but the detections have {n} classes"
            )
        check_unique(class_names, "dataset", " (the table would show two rows of one name)")
    # MMRotate ignores an object whose label is no class; here it is an error
    check_annotation_labels(gts[2], gts[1], gts[3], n, ignore)
    _check_some_objects(gts[3], len(annotations))
    # MMRotate evaluates in float32 (its IoU op takes float32)
    return (
        n,
        (dets.astype(np.float32), det_image, det_label),
        (gts[0].astype(np.float32), *gts[1:]),
    )


def _check_some_objects(ignored: np.ndarray, num_images: int) -> None:
    """Against no object at all every class is left out and MMRotate's mAP is 0.0: the
    number of a test set without labels (empty label files, the annotation folder pointed at
    the images), not of the detector. An error instead; a class without objects beside
    classes with some keeps MMRotate's behaviour (left out of the mAP)."""
    if np.count_nonzero(~ignored):
        return
    held = f" ({ignored.size} ignored only, e.g. difficult)" if ignored.size else ""
    raise ValueError(
        f"no ground truth to evaluate against: none of the {num_images} images of annotations has a "
        f"ground-truth box{held}, so every AP would be undefined and the mAP 0.0; check the "
        "annotation files (all empty? the annotation folder pointed at the images?)"
    )


def _overlaps(dets_all, gts_all) -> tuple[np.ndarray, np.ndarray]:
    """Every detection's best IoU with an object of its class and image, and that object
    (global index)."""
    return best_overlaps_by_class(
        dets_all[2],
        dets_all[1],
        gts_all[2],
        gts_all[1],
        lambda d, g: _pair_iou(dets_all[0][d, :5], gts_all[0][g]),
    )


def _pair_iou(boxes1: np.ndarray, boxes2: np.ndarray):
    """IoU of index pairs, as ``box_iou_rotated(boxes1[i], boxes2[j], aligned=True)``: pairs
    whose circumscribed circles do not meet are 0 there and are never gathered here (the
    same test, on circles computed once per box)."""

    def circles(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = b.astype(np.float64)
        return b[:, 0], b[:, 1], np.sqrt(b[:, 2] ** 2 + b[:, 3] ** 2) / 2

    x1, y1, r1 = circles(boxes1)
    x2, y2, r2 = circles(boxes2)

    def iou(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.zeros(i.shape[0])
        near = np.flatnonzero((x1[i] - x2[j]) ** 2 + (y1[i] - y2[j]) ** 2 < (r1[i] + r2[j]) ** 2)
        out[near] = box_iou_rotated(boxes1[i[near]], boxes2[j[near]], aligned=True)
        return out

    return iou


def _class_results(
    dets_all, gts_all, overlaps, c, iou_thrs, area_ranges, use_07_metric
) -> list[dict[str, Any]]:
    """One result dict per IoU threshold for class ``c`` (overlaps computed once)."""
    keep = dets_all[2] == c
    cls_dets, det_image = dets_all[0][keep], dets_all[1][keep]
    best, which = overlaps[0][keep], overlaps[1][keep]  # which: a global object index
    gkeep = gts_all[2] == c
    gt_ignored_all = gts_all[3]
    gt_area_all = gts_all[0][:, 2] * gts_all[0][:, 3]
    gt_ignored, gt_area = gt_ignored_all[gkeep], gt_area_all[gkeep]
    D = cls_dets.shape[0]
    rank = np.empty(D, np.int64)
    rank[np.lexsort((-cls_dets[:, 5], det_image))] = np.arange(D)  # score order within each image
    ranges = area_ranges or [(None, None)]
    det_area = cls_dets[:, 2] * cls_dets[:, 3]
    num_gts = np.array(
        [
            (~gt_ignored).sum() if lo is None else ((~gt_ignored) & (gt_area >= lo) & (gt_area < hi)).sum()
            for lo, hi in ranges
        ],
        dtype=int,
    )
    sort_inds = np.argsort(-cls_dets[:, -1])  # as MMRotate: numpy's default sort of the stacked scores
    eps = np.finfo(np.float32).eps
    results = []
    for thr in iou_thrs:
        tps, fps = [], []
        for lo, hi in ranges:
            if lo is None:
                tp, fp = claim_matches(rank, best >= thr, which, gt_ignored_all)
            else:
                out_of_range = (gt_area_all < lo) | (gt_area_all >= hi)
                in_range = (det_area >= lo) & (det_area < hi)
                tp, fp = claim_matches(rank, best >= thr, which, gt_ignored_all | out_of_range, in_range)
            tps.append(tp)
            fps.append(fp)
        tp = np.cumsum(np.vstack(tps)[:, sort_inds], axis=1)
        fp = np.cumsum(np.vstack(fps)[:, sort_inds], axis=1)
        recalls = tp / np.maximum(num_gts[:, None], eps)
        precisions = tp / np.maximum(tp + fp, eps)
        ngts: Any = num_gts
        if area_ranges is None:
            recalls, precisions, ngts = recalls[0], precisions[0], int(num_gts[0])
        ap = average_precision(recalls, precisions, "11points" if use_07_metric else "area")
        results.append({"num_gts": ngts, "num_dets": D, "recall": recalls, "precision": precisions, "ap": ap})
    return results


def _mean_ap(results: list[dict[str, Any]], scales: int | None) -> float | list[float]:
    if scales is None:
        aps = [r["ap"] for r in results if r["num_gts"] > 0]
        return float(np.array(aps).mean()) if aps else 0.0
    all_ap = np.vstack([r["ap"] for r in results])
    all_gts = np.vstack([r["num_gts"] for r in results])
    return [
        float(all_ap[all_gts[:, i] > 0, i].mean()) if np.any(all_gts[:, i] > 0) else 0.0
        for i in range(scales)
    ]


def eval_rbbox_map(
    det_results: DetResults,
    annotations: Sequence[dict],
    scale_ranges: Sequence[tuple[float, float]] | None = None,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    dataset: Sequence[str] | str | None = None,
    logger: logging.Logger | str | None = None,
    nproc: int = 4,
    num_classes: int | None = None,
) -> tuple[float | list[float], list[dict[str, Any]]]:
    """mAP of rotated detections, as MMRotate 0.3.x computes it.

    Args:
        det_results: Per image, either MMRotate's list per class of (k, 6) arrays
            ``(cx, cy, w, h, theta, score)``, or detections with ``boxes`` (k, 5),
            ``scores`` (k,), ``labels`` (k,) (``rdet_core.structures.Detections`` or any
            :class:`~rdet_eval.DetectionsLike`): the same detections give the same numbers.
        annotations: Per image, a dict with ``bboxes`` (n, 5), ``labels`` (n,) and optionally
            ``bboxes_ignore`` (m, 5), ``labels_ignore`` (m,) (e.g. difficult objects).
        scale_ranges: ``[(min, max), ...]`` side-length ranges; an object counts in a range
            when ``min**2 <= w * h < max**2``.
        iou_thr: A detection matches an object at IoU >= ``iou_thr``.
        use_07_metric: VOC07 11-point AP if True, else area under the curve.
        dataset: Class names for the printed table.
        logger: None prints, ``'silent'`` prints nothing, a ``logging.Logger`` logs at INFO.
        nproc: Accepted for compatibility (an int >= 1); unused (the computation is vectorised).
        num_classes: The number of classes of typed detections (checked against per-class
            input); by default ``len(dataset)`` when it is a list of names, else one more
            than the largest label of the detections and annotations (classes beyond have
            no objects and do not count in the mAP).

    Returns:
        ``(mean_ap, results)``: results per class, dicts with ``num_gts``, ``num_dets``,
        ``recall``, ``precision``, ``ap``. mAP averages the classes that have objects.

    Raises:
        ValueError: Malformed input, named by image (and class): a per-class array of the
            wrong shape, detections whose boxes, scores and labels differ in length, a
            detection's or an annotation's label outside ``[0, num_classes)`` (MMRotate
            silently ignores such an object), a non-finite value; ``det_results`` and
            ``annotations`` of different lengths, ``dataset`` names for another number of
            classes or a name twice, ``iou_thr`` outside (0, 1], an annotation array not of shape (n, 5) or
            with a non-finite row (named ``annotations[i]['bboxes']`` and the row), a
            ``scale_ranges`` pair without ``0 <= min < max``, ``nproc`` not an int >= 1;
            annotations without any object that is not ignored (every image empty: the mAP
            would be 0.0 for want of labels; MMRotate returns 0.0).
        TypeError: ``use_07_metric`` is not a bool (``'False'`` is a truthy string).
    """
    iou_thr = check_iou_thr(iou_thr)
    ranges = check_scale_ranges(scale_ranges) if scale_ranges is not None else None
    use_07_metric = check_bool(use_07_metric, "use_07_metric")
    check_nproc(nproc)
    num_classes, dets, gts = _flatten(det_results, annotations, num_classes, dataset)
    area_ranges = [(lo**2, hi**2) for lo, hi in ranges] if ranges is not None else None
    overlaps = _overlaps(dets, gts)
    results = [
        _class_results(dets, gts, overlaps, c, (iou_thr,), area_ranges, use_07_metric)[0]
        for c in range(num_classes)
    ]
    mean_ap = _mean_ap(results, len(area_ranges) if area_ranges else None)
    print_map_summary(mean_ap, results, dataset, area_ranges, logger=logger)
    return mean_ap, results


def eval_rbbox_map_coco(
    det_results: DetResults,
    annotations: Sequence[dict],
    iou_thrs: Sequence[float] = COCO_IOU_THRS,
    use_07_metric: bool = False,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """COCO-style mAP: the mean over IoU thresholds (default 0.50:0.05:0.95) of the mAP.

    Overlaps are computed once and matched at every threshold. ``det_results`` and
    ``num_classes`` as :func:`eval_rbbox_map`'s.

    Returns:
        ``{'mAP': mean over thresholds, 'mAP_50': ..., 'mAP_75': ..., 'per_thr': {thr: mAP},
        'ap': (num_classes,) per-class AP averaged over thresholds}``.

    Raises:
        ValueError: As :func:`eval_rbbox_map`'s, and an ``iou_thrs`` that is empty or holds
            a threshold outside (0, 1] (named ``iou_thrs[k]``) or a repeated threshold
            (``per_thr`` would hold it once and the per-class AP average it twice).
        TypeError: ``use_07_metric`` is not a bool.
    """
    iou_thrs = tuple(check_iou_thr(t, f"iou_thrs[{k}]") for k, t in enumerate(iou_thrs))
    if not iou_thrs:
        raise ValueError("iou_thrs is empty: give at least one IoU threshold")
    check_unique(iou_thrs, "iou_thrs")
    use_07_metric = check_bool(use_07_metric, "use_07_metric")
    num_classes, dets, gts = _flatten(det_results, annotations, num_classes)
    overlaps = _overlaps(dets, gts)
    per_class = [
        _class_results(dets, gts, overlaps, c, iou_thrs, None, use_07_metric) for c in range(num_classes)
    ]
    per_thr = {float(t): float(_mean_ap([pc[k] for pc in per_class], None)) for k, t in enumerate(iou_thrs)}
    class_ap = np.array([np.mean([r["ap"] for r in pc]) for pc in per_class], np.float64)
    out: dict[str, Any] = {"mAP": float(np.mean(list(per_thr.values()))), "per_thr": per_thr, "ap": class_ap}
    for key, t in (("mAP_50", 0.5), ("mAP_75", 0.75)):
        if t in per_thr:
            out[key] = per_thr[t]
    return out


def print_map_summary(
    mean_ap: float | list[float],
    results: list[dict[str, Any]],
    dataset: Sequence[str] | str | None = None,
    scale_ranges: Sequence[tuple[float, float]] | None = None,
    logger: logging.Logger | str | None = None,
) -> None:
    """Print (or log) the per-class gts/dets/recall/AP table and the mAP, as MMRotate does."""
    if logger == "silent":
        return
    num_scales = (
        len(results[0]["ap"]) if isinstance(results[0]["ap"], np.ndarray) and results[0]["ap"].ndim else 1
    )
    names = list(dataset) if isinstance(dataset, (list, tuple)) else [str(i) for i in range(len(results))]
    means = mean_ap if isinstance(mean_ap, list) else [mean_ap]
    for s in range(num_scales):
        rows = []
        for j, r in enumerate(results):
            recall = np.array(r["recall"], ndmin=2)
            last = float(recall[s, -1]) if recall.size else 0.0
            ngts = np.atleast_1d(r["num_gts"])[s]
            rows.append(
                [
                    names[j],
                    str(ngts),
                    str(r["num_dets"]),
                    f"{last:.3f}",
                    f"{float(np.atleast_1d(r['ap'])[s]):.3f}",
                ]
            )
        text = format_table(
            ["class", "gts", "dets", "recall", "ap"], rows, footer=["mAP", "", "", "", f"{means[s]:.3f}"]
        )
        if scale_ranges is not None:
            text = f"Scale range {scale_ranges[s]}\n" + text
        if isinstance(logger, logging.Logger):
            logger.info("\n" + text)
        else:
            print("\n" + text)
