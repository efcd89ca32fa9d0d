"""``MaxIoUAssigner`` (MMDetection 2.x), with any IoU calculator (``RBboxOverlaps2D`` for rotated boxes)."""

from __future__ import annotations

import math
from typing import Any

import torch

from rdet_models.assigners.assign_result import AssignResult
from rdet_models.registry import BBOX_ASSIGNERS, IOU_CALCULATORS

__all__ = ["MaxIoUAssigner", "check_iou_thresholds"]


def _iou(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{owner}: {name} must be an IoU in [0, 1], got {value!r}")
    return float(value)


def check_iou_thresholds(
    owner: str,
    pos_iou_thr: Any,
    neg_iou_thr: Any,
    min_pos_iou: Any,
    ignore_iof_thr: Any,
) -> None:
    """MMDetection's ``MaxIoUAssigner`` thresholds, checked (``owner`` names the assigner).

    ``pos_iou_thr``, ``min_pos_iou``: IoUs in [0, 1] (above 1 no prior is ever positive by the
    threshold). ``neg_iou_thr``: an IoU in [0, ``pos_iou_thr``] (a prior is negative when its best
    IoU is below it), or a ``(low, high)`` pair with ``0 <= low < high <= pos_iou_thr`` (negative in
    [low, high)): above ``pos_iou_thr`` the bands would overlap, an inverted or empty pair gives no
    negatives. ``ignore_iof_thr``: -1 (off, MMDetection's value) or an IoF in (0, 1] (above 1
    nothing is ever ignored; 0 and other negatives turn ignoring off unsaid).

    Raises:
        ValueError: naming the argument and the value.
    """
    pos = _iou(owner, "pos_iou_thr", pos_iou_thr)
    _iou(owner, "min_pos_iou", min_pos_iou)
    if isinstance(neg_iou_thr, (tuple, list)):
        if len(neg_iou_thr) != 2:
            raise ValueError(
                f"{owner}: neg_iou_thr must be an IoU or a (low, high) pair, got {neg_iou_thr!r}"
            )
        low = _iou(owner, "neg_iou_thr[0] (low)", neg_iou_thr[0])
        high = _iou(owner, "neg_iou_thr[1] (high)", neg_iou_thr[1])
        if not low < high:
            raise ValueError(
                f"{owner}: neg_iou_thr (low, high) must have low < high (negatives have their best IoU "
                f"in [low, high)), got {tuple(neg_iou_thr)!r}"
            )
    else:
        high = _iou(owner, "neg_iou_thr", neg_iou_thr)
    if high > pos:
        raise ValueError(
            f"{owner}: neg_iou_thr ({neg_iou_thr!r}) must not exceed pos_iou_thr ({pos_iou_thr!r}): a prior "
            "would be negative and positive at once"
        )
    if (
        isinstance(ignore_iof_thr, bool)
        or not isinstance(ignore_iof_thr, (int, float))
        or math.isnan(ignore_iof_thr)
        or not (ignore_iof_thr == -1 or 0 < ignore_iof_thr <= 1)
    ):
        raise ValueError(
            f"{owner}: ignore_iof_thr must be -1 (off) or an IoF in (0, 1], got {ignore_iof_thr!r}"
        )


@BBOX_ASSIGNERS.register_module()
class MaxIoUAssigner:
    """Assign each prior to the ground truth it overlaps most.

    A prior is negative when its best IoU is in [0, neg_iou_thr) (or the (lo, hi) range),
    positive when >= pos_iou_thr; then (``match_low_quality``) every gt also takes the
    priors it overlaps most when that IoU >= min_pos_iou (all of them if
    ``gt_max_assign_all``). Priors overlapping an ignored box by IoF > ignore_iof_thr are
    ignored (-1).

    Raises:
        ValueError: an impossible threshold, naming it (:func:`check_iou_thresholds`).
    """

    def __init__(
        self,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        gt_max_assign_all: bool = True,
        ignore_iof_thr: float = -1,
        ignore_wrt_candidates: bool = True,
        match_low_quality: bool = True,
        gpu_assign_thr: int = -1,
        iou_calculator: dict = dict(type="BboxOverlaps2D"),  # noqa: B006 - never mutated
    ) -> None:
        check_iou_thresholds(type(self).__name__, pos_iou_thr, neg_iou_thr, min_pos_iou, ignore_iof_thr)
        self.pos_iou_thr, self.neg_iou_thr, self.min_pos_iou = pos_iou_thr, neg_iou_thr, min_pos_iou
        self.gt_max_assign_all, self.ignore_iof_thr = gt_max_assign_all, ignore_iof_thr
        self.ignore_wrt_candidates, self.gpu_assign_thr = ignore_wrt_candidates, gpu_assign_thr
        self.match_low_quality = match_low_quality
        self.iou_calculator = IOU_CALCULATORS.build(iou_calculator)

    def assign(
        self,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """Priors (n, 5), gts (k, 5) [, ignored (j, 5), labels (k,)] -> :class:`AssignResult`."""
        on_cpu = self.gpu_assign_thr > 0 and gt_bboxes.shape[0] > self.gpu_assign_thr
        device = bboxes.device
        if on_cpu:
            bboxes, gt_bboxes = bboxes.cpu(), gt_bboxes.cpu()
            gt_bboxes_ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore.cpu()
            gt_labels = None if gt_labels is None else gt_labels.cpu()
        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        if (
            self.ignore_iof_thr > 0
            and gt_bboxes_ignore is not None
            and gt_bboxes_ignore.numel() > 0
            and bboxes.numel() > 0
        ):
            if self.ignore_wrt_candidates:
                ignore_max = self.iou_calculator(bboxes, gt_bboxes_ignore, mode="iof").max(dim=1)[0]
            else:
                ignore_max = self.iou_calculator(gt_bboxes_ignore, bboxes, mode="iof").max(dim=0)[0]
            overlaps[:, ignore_max > self.ignore_iof_thr] = -1
        result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if on_cpu:
            result.gt_inds = result.gt_inds.to(device)
            result.max_overlaps = result.max_overlaps.to(device)
            if result.labels is not None:
                result.labels = result.labels.to(device)
        return result

    def assign_wrt_overlaps(
        self, overlaps: torch.Tensor, gt_labels: torch.Tensor | None = None
    ) -> AssignResult:
        """Assign from a (k, n) gt x prior overlap matrix."""
        num_gts, num_bboxes = overlaps.size(0), overlaps.size(1)
        assigned = overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
        if num_gts == 0 or num_bboxes == 0:
            max_overlaps = overlaps.new_zeros((num_bboxes,))
            if num_gts == 0:
                assigned[:] = 0
            labels = None if gt_labels is None else overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
            return AssignResult(num_gts, assigned, max_overlaps, labels=labels)
        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
        if isinstance(self.neg_iou_thr, (tuple, list)):
            lo, hi = self.neg_iou_thr
            assigned[(max_overlaps >= lo) & (max_overlaps < hi)] = 0
        else:
            assigned[(max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)] = 0
        pos = max_overlaps >= self.pos_iou_thr
        assigned[pos] = argmax_overlaps[pos] + 1
        if self.match_low_quality:
            for i in range(num_gts):
                if gt_max_overlaps[i] >= self.min_pos_iou:
                    if self.gt_max_assign_all:
                        assigned[overlaps[i, :] == gt_max_overlaps[i]] = i + 1
                    else:
                        assigned[gt_argmax_overlaps[i]] = i + 1
        labels = None
        if gt_labels is not None:
            labels = assigned.new_full((num_bboxes,), -1)
            pos_inds = torch.nonzero(assigned > 0, as_tuple=False).squeeze(-1)
            if pos_inds.numel() > 0:
                labels[pos_inds] = gt_labels[assigned[pos_inds] - 1]
        return AssignResult(num_gts, assigned, max_overlaps, labels=labels)
