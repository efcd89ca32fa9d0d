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
    if D == 0 or gt_image.shape[0] == 0:
        return np.zeros(D, np.float64), np.full(D, -1, np.int64)
    gt_order, start, count = _groups(det_image, gt_image)
    return _best_in_groups(gt_order, start, count, pair_overlaps)


def _groups(det_group: np.ndarray, gt_group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects sorted by group (each group in input order) and, for each detection, where
    its group starts there and how many objects it has."""
    gt_order = np.argsort(gt_group, kind="stable")
    sorted_groups = gt_group[gt_order]
    start = np.searchsorted(sorted_groups, det_group, side="left")
    return gt_order, start, np.searchsorted(sorted_groups, det_group, side="right") - start


def _best_in_groups(
    gt_order: np.ndarray, start: np.ndarray, count: np.ndarray, pair_overlaps: PairOverlaps
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_overlaps` from :func:`_groups`: detection k meets objects
    ``gt_order[start[k] : start[k] + count[k]]``."""
    D = start.shape[0]
    best = np.zeros(D, np.float64)
    which = np.full(D, -1, np.int64)
    first_pair = np.cumsum(count) - count
    pair_det = np.repeat(np.arange(D), count)
    if pair_det.shape[0] == 0:
        return best, which
    pair_gt = gt_order[np.arange(pair_det.shape[0]) + np.repeat(start - first_pair, count)]
    iou = np.asarray(pair_overlaps(pair_det, pair_gt), np.float64)
    iou = np.where(np.isnan(iou), 0.0, iou)
    has = count > 0
    best[has] = np.maximum.reduceat(iou, first_pair[has])
    at_max = np.flatnonzero(iou == best[pair_det])
    dets = pair_det[at_max]  # ascending: each detection's pairs are consecutive
    first = np.ones(dets.shape[0], bool)
    first[1:] = dets[1:] != dets[:-1]
    which[dets[first]] = pair_gt[at_max[first]]
    return best, which


def best_overlaps_by_class(
    det_class: np.ndarray,
    det_image: np.ndarray,
    gt_class: np.ndarray,
    gt_image: np.ndarray,
    pair_overlaps_of: Callable[[np.ndarray, np.ndarray], PairOverlaps],
    max_pairs: int = 1 << 21,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_overlaps` of each class's detections against its objects: every class at
    once, grouped by (class, image), in batches of detections with at most about
    ``max_pairs`` candidate pairs (memory stays bounded on large sets; a small set is one
    batch, one call of the overlap function). Objects of a class below 0 meet nothing.

    Args:
        pair_overlaps_of: ``(det indices, object indices)`` -> the ``pair_overlaps`` of
            :func:`best_overlaps` over those subsets (a batch's detections and the objects
            of every class).
        max_pairs: Candidate pairs per batch (a detection's pairs are never split).

    Returns:
        ``(best, which)`` as :func:`best_overlaps`, ``which`` a global object index.
    """
    best = np.zeros(det_class.shape[0])
    which = np.full(det_class.shape[0], -1, np.int64)
    d = np.flatnonzero(det_class >= 0)
    g = np.flatnonzero(gt_class >= 0)
    if d.size == 0 or g.size == 0:
        return best, which
    low = min(int(det_image[d].min()), int(gt_image[g].min()))
    span = max(int(det_image[d].max()), int(gt_image[g].max())) - low + 1
    gt_order, start, count = _groups(
        det_class[d] * span + (det_image[d] - low), gt_class[g] * span + (gt_image[g] - low)
    )
    total = np.cumsum(count)
    cuts = np.searchsorted(total, np.arange(max_pairs, int(total[-1]), max_pairs), "right")
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, d.size]):
        if hi > lo:
            db = d[lo:hi]
            b, w = _best_in_groups(gt_order, start[lo:hi], count[lo:hi], pair_overlaps_of(db, g))
            best[db] = b
            which[db] = np.where(w >= 0, g[np.maximum(w, 0)], -1)
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
