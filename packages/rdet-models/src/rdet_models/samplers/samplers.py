"""Samplers: ``PseudoSampler`` (take every assigned prior) and ``RRandomSampler`` (MMRotate)."""

from __future__ import annotations

import numpy as np
import torch

from rdet_models.assigners.assign_result import AssignResult
from rdet_models.registry import BBOX_SAMPLERS
from rdet_models.samplers.sampling_result import SamplingResult

__all__ = ["PseudoSampler", "RRandomSampler", "RandomSampler"]


@BBOX_SAMPLERS.register_module()
class PseudoSampler:
    """Every prior with ``gt_inds > 0`` is positive, every one with 0 negative."""

    def __init__(self, **kwargs: object) -> None:
        pass

    def sample(
        self,
        assign_result: AssignResult,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        *args: object,
        **kwargs: object,
    ) -> SamplingResult:
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        gt_flags = bboxes.new_zeros(bboxes.shape[0], dtype=torch.uint8)
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)


@BBOX_SAMPLERS.register_module()
class RandomSampler:
    """Sample ``num`` priors at random, ``pos_fraction`` of them positive (MMDetection's RandomSampler).

    Args:
        neg_pos_ub: at most ``neg_pos_ub`` negatives per positive (-1: no bound).
        add_gt_as_proposals: prepend the ground truths as positive priors.
    """

    box_dim = 4

    def __init__(
        self,
        num: int,
        pos_fraction: float,
        neg_pos_ub: int = -1,
        add_gt_as_proposals: bool = True,
        **kwargs: object,
    ) -> None:
        self.num, self.pos_fraction, self.neg_pos_ub = num, pos_fraction, neg_pos_ub
        self.add_gt_as_proposals = add_gt_as_proposals

    @staticmethod
    def random_choice(gallery: torch.Tensor | np.ndarray | list, num: int) -> torch.Tensor | np.ndarray:
        """``num`` random elements of ``gallery`` (tensor in, tensor out; else a numpy array)."""
        if len(gallery) < num:
            raise ValueError(f"cannot choose {num} of {len(gallery)} elements")
        is_tensor = isinstance(gallery, torch.Tensor)
        g = gallery if is_tensor else torch.tensor(np.asarray(gallery), dtype=torch.long)
        perm = torch.randperm(g.numel())[:num].to(device=g.device)
        out = g[perm]
        return out if is_tensor else out.cpu().numpy()

    def _sample(self, assign_result: AssignResult, num_expected: int, positive: bool) -> torch.Tensor:
        mask = assign_result.gt_inds > 0 if positive else assign_result.gt_inds == 0
        inds = torch.nonzero(mask, as_tuple=False)
        if inds.numel() != 0:
            inds = inds.squeeze(1)
        if inds.numel() <= num_expected:
            return inds.view(-1)
        return self.random_choice(inds, num_expected)

    def sample(
        self,
        assign_result: AssignResult,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_labels: torch.Tensor | None = None,
        **kwargs: object,
    ) -> SamplingResult:
        if bboxes.dim() < 2:
            bboxes = bboxes[None, :]
        bboxes = bboxes[:, : self.box_dim]
        gt_flags = bboxes.new_zeros((bboxes.shape[0],), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            if gt_labels is None:
                raise ValueError("gt_labels must be given when add_gt_as_proposals is True")
            bboxes = torch.cat([gt_bboxes[:, : self.box_dim], bboxes], dim=0)
            assign_result.add_gt_(gt_labels)
            gt_flags = torch.cat([bboxes.new_ones(gt_bboxes.shape[0], dtype=torch.uint8), gt_flags])
        pos_inds = self._sample(assign_result, int(self.num * self.pos_fraction), True).unique()
        num_pos = pos_inds.numel()
        num_neg = self.num - num_pos
        if self.neg_pos_ub >= 0:
            num_neg = min(num_neg, int(self.neg_pos_ub * max(1, num_pos)))
        neg_inds = self._sample(assign_result, num_neg, False).unique()
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)


@BBOX_SAMPLERS.register_module()
class RRandomSampler(RandomSampler):
    """``RandomSampler`` for rotated boxes (N, 5) (MMRotate)."""

    box_dim = 5
