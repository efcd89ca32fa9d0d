"""``ATSSObbAssigner``: ATSS's adaptive assignment on rotated boxes (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rbox_geometry import obb2poly
from rbox_geometry.angles import check_version
from rdet_models.assigners.assign_result import AssignResult
from rdet_models.registry import BBOX_ASSIGNERS, IOU_CALCULATORS

__all__ = ["ATSSObbAssigner", "atss_assign"]

_NEG_INF = -100000000.0


def _check_topk(topk: object) -> int:
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int, got {topk!r}")
    return topk


def _check_levels(num_level_bboxes: Sequence[int], num_bboxes: int) -> list[int]:
    levels = [int(n) for n in num_level_bboxes]
    if any(n < 0 for n in levels) or sum(levels) != num_bboxes:
        raise ValueError(
            f"num_level_bboxes must be counts per level summing to the {num_bboxes} bboxes, got {levels}"
        )
    return levels


def check_atss_inputs(
    num_level_bboxes: Sequence[int], num_bboxes: int, gt_bboxes: torch.Tensor, gt_labels: torch.Tensor | None
) -> list[int]:
    """The ATSS assigners' shared checks: labels one per gt, the level sizes summing to the
    priors; returns the level sizes."""
    if gt_labels is not None and gt_labels.shape != (gt_bboxes.size(0),):
        raise ValueError(
            f"gt_labels must be ({gt_bboxes.size(0)},) like gt_bboxes, got {tuple(gt_labels.shape)}"
        )
    return _check_levels(num_level_bboxes, num_bboxes)


def atss_assign(
    overlaps: torch.Tensor,
    points: torch.Tensor,
    gt_points: torch.Tensor,
    gt_polygons: torch.Tensor,
    num_level_bboxes: Sequence[int],
    topk: int,
    gt_labels: torch.Tensor | None = None,
    thr_weight: torch.Tensor | None = None,
) -> AssignResult:
    """ATSS's selection from precomputed quantities (``n`` priors, ``k`` gts, ``k >= 1``, ``n >= 1``).

    1. per level and gt, the ``topk`` priors whose centres are nearest the gt's centre
       (Euclidean distance, px; all of a level's priors when it has fewer) are its candidates;
    2. the gt's threshold is the mean + (unbiased) std of its candidates' overlaps (times
       ``thr_weight`` when given);
    3. a candidate is positive when its overlap >= the threshold and its centre lies inside the
       gt's polygon (``rbox_ops.points_in_polygons``);
    4. a prior positive for several gts goes to the one it overlaps most.

    Args:
        overlaps: (n, k) prior x gt overlaps (IoU, or KLD's ``1 / (2 + kld)``).
        points: (n, 2) prior centres ``(x, y)`` px.
        gt_points: (k, 2) gt centres px.
        gt_polygons: (k, 8) gt corners ``(x1, y1, ..., x4, y4)`` px.
        num_level_bboxes: n_l priors of each level (levels concatenated in ``overlaps``' rows).
        topk: candidates per level and gt.
        gt_labels: (k,) long, or None.
        thr_weight: (k,) or scalar factor of the thresholds, or None.

    Returns:
        :class:`AssignResult`: ``gt_inds`` (n,) 0 negative, i + 1 gt i; ``max_overlaps`` (n,) the
        overlap with the assigned gt, -1e8 for the negatives (as MMRotate).
    """
    num_bboxes, num_gt = overlaps.shape
    distances = (points[:, None, :] - gt_points[None, :, :]).pow(2).sum(-1).sqrt()
    candidates = []
    start = 0
    for n in num_level_bboxes:
        if n > 0:
            idx = distances[start : start + n].topk(min(topk, n), dim=0, largest=False)[1]
            candidates.append(idx + start)
        start += n
    candidate_idxs = torch.cat(candidates, dim=0)  # (c, k)
    gt_range = torch.arange(num_gt, device=overlaps.device)
    candidate_overlaps = overlaps[candidate_idxs, gt_range]
    thr = candidate_overlaps.mean(0) + candidate_overlaps.std(0)
    if thr_weight is not None:
        thr = thr * thr_weight
    is_pos = candidate_overlaps >= thr[None, :]
    inside = _points_in_polygons(points, gt_polygons)
    is_pos = is_pos & inside[candidate_idxs, gt_range].bool()
    flat_idxs = (candidate_idxs + gt_range[None, :] * num_bboxes).view(-1)
    # a prior that is a positive of several gts goes to the one it overlaps most
    overlaps_t = overlaps.t().contiguous().view(-1)
    overlaps_inf = torch.full_like(overlaps_t, _NEG_INF)
    index = flat_idxs[is_pos.view(-1)]
    overlaps_inf[index] = overlaps_t[index]
    overlaps_inf = overlaps_inf.view(num_gt, -1).t()
    max_overlaps, argmax_overlaps = overlaps_inf.max(dim=1)
    assigned = overlaps.new_zeros((num_bboxes,), dtype=torch.long)
    pos = max_overlaps != _NEG_INF
    assigned[pos] = argmax_overlaps[pos] + 1
    labels = None
    if gt_labels is not None:
        labels = assigned.new_full((num_bboxes,), -1)
        pos_inds = torch.nonzero(assigned > 0, as_tuple=False).squeeze(-1)
        if pos_inds.numel() > 0:
            labels[pos_inds] = gt_labels[assigned[pos_inds] - 1]
    return AssignResult(num_gt, assigned, max_overlaps, labels=labels)


def _points_in_polygons(points: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    from rbox_ops import points_in_polygons

    return points_in_polygons(points.contiguous(), polygons.contiguous())


def empty_assign(
    num_gt: int, num_bboxes: int, like: torch.Tensor, gt_labels: torch.Tensor | None
) -> AssignResult:
    """Everything negative (no gt, or no prior)."""
    assigned = like.new_zeros((num_bboxes,), dtype=torch.long)
    labels = None if gt_labels is None else like.new_full((num_bboxes,), -1, dtype=torch.long)
    return AssignResult(num_gt, assigned, like.new_zeros((num_bboxes,)), labels=labels)


@BBOX_ASSIGNERS.register_module()
class ATSSObbAssigner:
    """ATSS on rotated boxes: each gt's candidates are the ``topk`` priors per level nearest its
    centre; those whose IoU reaches the candidates' mean + std and whose centre lies inside the
    gt are positive (see :func:`atss_assign`). Ignored boxes are not used (as MMRotate).

    Args:
        topk: candidates per level and gt.
        angle_version: ``'oc'``, ``'le90'`` or ``'le135'``, for the gts' polygons.
        iou_calculator: config of the prior x gt IoU (``RBboxOverlaps2D``).
    """

    def __init__(
        self,
        topk: int,
        angle_version: str = "oc",
        iou_calculator: dict = dict(type="RBboxOverlaps2D"),  # noqa: B006 - never mutated
    ) -> None:
        self.topk = _check_topk(topk)
        try:
            self.angle_version = check_version(angle_version)
        except ValueError as e:
            raise ValueError(f"angle_version: {e}") from None
        self.iou_calculator = IOU_CALCULATORS.build(iou_calculator)

    def assign(
        self,
        bboxes: torch.Tensor,
        num_level_bboxes: Sequence[int],
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """Priors (n, 5) ``(cx, cy, w, h, theta)`` px / rad, n_l per level, gts (k, 5)
        [, ignored (unused), labels (k,)] -> :class:`AssignResult`."""
        if bboxes.dim() != 2 or bboxes.size(-1) < 5:
            raise ValueError(f"bboxes must be (n, 5) rotated boxes, got {tuple(bboxes.shape)}")
        if gt_bboxes.dim() != 2 or gt_bboxes.size(-1) < 5:
            raise ValueError(f"gt_bboxes must be (k, 5) rotated boxes, got {tuple(gt_bboxes.shape)}")
        num_gt, num_bboxes = gt_bboxes.size(0), bboxes.size(0)
        levels = check_atss_inputs(num_level_bboxes, num_bboxes, gt_bboxes, gt_labels)
        if num_gt == 0 or num_bboxes == 0:
            return empty_assign(num_gt, num_bboxes, bboxes, gt_labels)
        overlaps = self.iou_calculator(bboxes, gt_bboxes)
        polygons = obb2poly(gt_bboxes[:, :5], self.angle_version)
        return atss_assign(overlaps, bboxes[:, :2], gt_bboxes[:, :2], polygons, levels, self.topk, gt_labels)

    def __repr__(self) -> str:
        return f"ATSSObbAssigner(topk={self.topk}, angle_version={self.angle_version!r})"
