"""``SamplingResult``: the positive and negative priors of one image and their targets."""

from __future__ import annotations

import torch

from rdet_models.assigners.assign_result import AssignResult

__all__ = ["SamplingResult"]


class SamplingResult:
    """Positive / negative prior indices, the positives' boxes and assigned gt boxes and labels."""

    def __init__(
        self,
        pos_inds: torch.Tensor,
        neg_inds: torch.Tensor,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        assign_result: AssignResult,
        gt_flags: torch.Tensor,
    ) -> None:
        self.pos_inds, self.neg_inds = pos_inds, neg_inds
        self.pos_bboxes, self.neg_bboxes = bboxes[pos_inds], bboxes[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = gt_bboxes.shape[0]
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        box_dim = gt_bboxes.shape[-1] if gt_bboxes.dim() == 2 else 5
        if gt_bboxes.numel() == 0:
            if self.pos_assigned_gt_inds.numel() != 0:
                raise RuntimeError("positive priors without any ground truth")
            self.pos_gt_bboxes = torch.empty_like(gt_bboxes).view(-1, box_dim)
        else:
            gt_bboxes = gt_bboxes.view(-1, box_dim) if gt_bboxes.dim() < 2 else gt_bboxes
            self.pos_gt_bboxes = gt_bboxes[self.pos_assigned_gt_inds.long(), :]
        self.pos_gt_labels = None if assign_result.labels is None else assign_result.labels[pos_inds]

    @property
    def bboxes(self) -> torch.Tensor:
        return torch.cat([self.pos_bboxes, self.neg_bboxes])

    def __repr__(self) -> str:
        return f"SamplingResult(num_gts={self.num_gts}, pos={len(self.pos_inds)}, neg={len(self.neg_inds)})"
