"""Greedy matching of detections to ground truth, vectorised over every image of a class.

Both MMRotate's ``tpfp_default`` and the DOTA devkit's ``voc_eval`` match each detection
to the ground-truth object it overlaps most (the first one on ties), over all objects of
its image including ignored/difficult ones; in descending score order, the first detection
to claim an object is a true positive and later ones are false positives; a detection whose
best object is ignored counts as neither. That is a group-by, not a loop: this module
computes it for all images at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["best_overlaps", "best_overlaps_by_class", "claim_matches"]

PairOverlaps = Callable[[np.ndarray, np.ndarray], np.ndarray]


def best_overlaps(
    det_image: np.ndarray, gt_image: np.ndarray, pair_overlaps: PairOverlaps
) -> tuple[np.ndarray, np.ndarray]:
    """Each detection's largest overlap with an object of its own image, and that object.

    Args:
        det_image: (D,) image (or any group) index of each detection.
        gt_image: (G,) image (group) index of each object.
        pair_overlaps: IoU of pairs by index: ``det (P,), object (P,) -> (P,)``, e.g.
            ``lambda i, j: box_iou_rotated(dets[i], gts[j], aligned=True)``.

    Returns:
        ``(best (D,) float64, which (D,) int64)``: ``best`` is 0 and ``which`` -1 for a
        detection in an image without objects; ``which`` is the first object on ties.
    """
    D = det_image.shape[0]
    best = np.zeros(D, np.float64)
    which = np.full(D, -1, np.int64)
    if D == 0 or gt_image.shape[0] == 0:
        return best, which
    gt_order = np.argsort(gt_image, kind="stable")  # objects of an image stay in input order
    sorted_images = gt_image[gt_order]
    start = np.searchsorted(sorted_images, det_image, side="left")
    count = np.searchsorted(sorted_images, det_image, side="right") - start
    pair_det = np.repeat(np.arange(D), count)
    offsets = np.arange(pair_det.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    pair_gt = gt_order[np.repeat(start, count) + offsets]
    if pair_det.shape[0] == 0:
        return best, which
    iou = np.asarray(pair_overlaps(pair_det, pair_gt), np.float64)
    iou = np.where(np.isnan(iou), 0.0, iou)
    has = count > 0
    seg_start = (np.cumsum(count) - count)[has]
    best[has] = np.maximum.reduceat(iou, seg_start)
    at_max = iou == best[pair_det]
    first_dets, first_pos = np.unique(pair_det[at_max], return_index=True)
    which[first_dets] = pair_gt[np.flatnonzero(at_max)[first_pos]]
    return best, which


def best_overlaps_by_class(
    det_class: np.ndarray,
    det_image: np.ndarray,
    gt_class: np.ndarray,
    gt_image: np.ndarray,
    pair_overlaps_of: Callable[[np.ndarray, np.ndarray], PairOverlaps],
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_overlaps` of each class's detections against its objects, class by class
    (arrays of one class stay in cache); objects of a class below 0 meet nothing.

    Args:
        pair_overlaps_of: ``(det indices, object indices)`` of one class -> the
            ``pair_overlaps`` of :func:`best_overlaps` over those subsets.

    Returns:
        ``(best, which)`` as :func:`best_overlaps`, ``which`` a global object index.
    """
    best = np.zeros(det_class.shape[0])
    which = np.full(det_class.shape[0], -1, np.int64)
    det_order = np.argsort(det_class, kind="stable")  # each class in input order
    gt_order = np.argsort(gt_class, kind="stable")
    top = int(max(det_class.max(initial=-1), gt_class.max(initial=-1)))
    classes = np.arange(top + 2)
    det_bounds = np.searchsorted(det_class[det_order], classes)
    gt_bounds = np.searchsorted(gt_class[gt_order], classes)
    for c in range(top + 1):
        d = det_order[det_bounds[c] : det_bounds[c + 1]]
        g = gt_order[gt_bounds[c] : gt_bounds[c + 1]]
        if d.size and g.size:
            b, w = best_overlaps(det_image[d], gt_image[g], pair_overlaps_of(d, g))
            best[d] = b
            which[d] = np.where(w >= 0, g[np.maximum(w, 0)], -1)
    return best, which


def claim_matches(
    rank: np.ndarray,
    matched: np.ndarray,
    which: np.ndarray,
    gt_ignored: np.ndarray,
    det_counts_if_unmatched: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives of each detection.

    Args:
        rank: (D,) position of each detection in score order (0 = best); the first claimer
            of an object is the one of lowest rank.
        matched: (D,) whether the best overlap passes the threshold.
        which: (D,) the best object (global index), -1 for none.
        gt_ignored: (G,) objects that neither reward nor penalise a match (difficult, out
            of the area range).
        det_counts_if_unmatched: (D,) whether an unmatched detection is a false positive
            (all True by default; MMRotate's area ranges exclude detections outside them).

    Returns:
        ``(tp (D,), fp (D,))`` float32 arrays of 0 and 1.
    """
    D = rank.shape[0]
    tp = np.zeros(D, np.float32)
    fp = np.zeros(D, np.float32)
    unmatched = ~matched
    if det_counts_if_unmatched is not None:
        unmatched &= det_counts_if_unmatched
    fp[unmatched] = 1
    has_gt = which >= 0
    claim = matched & has_gt
    if gt_ignored.shape[0]:
        claim &= ~gt_ignored[np.where(has_gt, which, 0)]
    idx = np.flatnonzero(claim)
    if idx.size:
        by_gt_then_rank = idx[np.lexsort((rank[idx], which[idx]))]
        gts = which[by_gt_then_rank]
        first = np.ones(gts.shape[0], bool)
        first[1:] = gts[1:] != gts[:-1]
        tp[by_gt_then_rank[first]] = 1
        fp[by_gt_then_rank[~first]] = 1
    return tp, fp
