"""``SASAssigner`` (MMRotate 0.3.x, SASM): ATSS on point sets with a shape-adaptive IoU threshold."""

from __future__ import annotations

from collections.abc import Sequence

import torch

import rbox_ops
from rdet_models.assigners.assign_result import AssignResult
from rdet_models.assigners.convex_assigner import _labels_of, check_polygons
from rdet_models.heads.pointset_utils import (
    aspect_ratio,
    convex_overlaps,
    horizontal_bboxes,
    pointset_centers,
)
from rdet_models.registry import BBOX_ASSIGNERS

__all__ = ["SASAssigner"]


@BBOX_ASSIGNERS.register_module()
class SASAssigner:
    """Per level, the ``topk`` point sets whose mean point is nearest each gt's centre are the
    gt's candidates; those with convex IoU >= ``(mean + std) * exp(-ratio / 4)`` of the
    candidates' IoUs (``ratio`` the gt's long / short side) and whose mean point lies inside the
    gt are positive; a point set positive for several gts keeps the one it overlaps most.

    MMRotate computes ``ratio`` as the mean over all the image's gts (``AspectRatio(gts).mean(0)``,
    a scalar although it is named per gt); here each gt has its own, as SASM's paper describes.

    ``assign(bboxes (n, 18) x-first px, num_level_bboxes [n_l], gt_bboxes (k, 8) polygons,
    gt_bboxes_ignore, gt_labels)``: gt_inds 0 = negative, i > 0 = gt i - 1.
    """

    #: ``assign`` takes the point sets per level (``num_level_bboxes``) after the point sets
    per_level = True

    def __init__(self, topk: int) -> None:
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ValueError(f"SASAssigner: topk must be a positive int, got {topk!r}")
        self.topk = topk

    def assign(
        self,
        bboxes: torch.Tensor,
        num_level_bboxes: Sequence[int],
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """See the class doc (``gt_bboxes_ignore`` is not used, as MMRotate)."""
        if bboxes.dim() != 2 or bboxes.shape[1] != 18:
            raise ValueError(f"bboxes must be (n, 18) point sets, got {tuple(bboxes.shape)}")
        check_polygons("gt_bboxes", gt_bboxes)
        if sum(num_level_bboxes) != bboxes.shape[0]:
            raise ValueError(f"num_level_bboxes {list(num_level_bboxes)} must add up to {bboxes.shape[0]}")
        num_gt, num_bboxes = gt_bboxes.shape[0], bboxes.shape[0]
        assigned = bboxes.new_zeros((num_bboxes,), dtype=torch.long)
        if num_gt == 0 or num_bboxes == 0:
            labels = None if gt_labels is None else assigned.new_full((num_bboxes,), -1)
            return AssignResult(num_gt, assigned, bboxes.new_zeros((num_bboxes,)), labels=labels)

        overlaps = convex_overlaps(gt_bboxes, bboxes).t()  # (n, k)
        gt_hbb = horizontal_bboxes(gt_bboxes)
        gt_points = (gt_hbb[:, :2] + gt_hbb[:, 2:]) / 2
        centers = pointset_centers(bboxes)
        distances = (centers[:, None, :] - gt_points[None, :, :]).pow(2).sum(-1).sqrt()

        candidates, start = [], 0
        for n in num_level_bboxes:
            if n > 0:
                _, idx = distances[start : start + n].topk(min(self.topk, n), dim=0, largest=False)
                candidates.append(idx + start)
            start += n
        candidate_idxs = torch.cat(candidates, dim=0)  # (c, k)
        gt_index = torch.arange(num_gt, device=bboxes.device)
        candidate_overlaps = overlaps[candidate_idxs, gt_index]
        std = (
            candidate_overlaps.std(0)
            if candidate_idxs.shape[0] > 1
            else torch.zeros_like(candidate_overlaps[0])
        )
        threshold = (candidate_overlaps.mean(0) + std) * torch.exp(-aspect_ratio(gt_bboxes) / 4)
        is_pos = candidate_overlaps >= threshold[None, :]
        inside = rbox_ops.points_in_polygons(centers.detach().float(), gt_bboxes.detach().float())
        is_pos &= inside[candidate_idxs, gt_index].bool()

        # a point set positive for several gts keeps the one it overlaps most
        pos_mask = torch.zeros_like(overlaps, dtype=torch.bool)
        gt_cols = gt_index.expand_as(candidate_idxs)
        pos_mask[candidate_idxs[is_pos], gt_cols[is_pos]] = True
        masked = torch.where(pos_mask, overlaps, torch.full_like(overlaps, float("-inf")))
        max_overlaps, argmax = masked.max(dim=1)
        pos = pos_mask.any(dim=1)
        assigned[pos] = argmax[pos] + 1
        return AssignResult(num_gt, assigned, max_overlaps, labels=_labels_of(assigned, gt_labels))
