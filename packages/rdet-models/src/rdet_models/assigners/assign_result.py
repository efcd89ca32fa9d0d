"""``AssignResult``: which ground truth (if any) each prior is assigned to (MMDetection 2.x)."""

from __future__ import annotations

import torch

__all__ = ["AssignResult"]


class AssignResult:
    """Assignment of N priors to ``num_gts`` ground truths.

    Attributes:
        gt_inds: (N,) long: 0 = negative, -1 = ignored, i > 0 = assigned to gt ``i - 1``.
        max_overlaps: (N,) the prior's best IoU with any gt.
        labels: (N,) long class of the assigned gt (-1 if none), or None.
    """

    def __init__(
        self,
        num_gts: int,
        gt_inds: torch.Tensor,
        max_overlaps: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.num_gts, self.gt_inds, self.max_overlaps, self.labels = num_gts, gt_inds, max_overlaps, labels
        self._extra_properties: dict[str, object] = {}

    @property
    def num_preds(self) -> int:
        return len(self.gt_inds)

    def set_extra_property(self, key: str, value: object) -> None:
        self._extra_properties[key] = value

    def get_extra_property(self, key: str) -> object:
        return self._extra_properties.get(key)

    def add_gt_(self, gt_labels: torch.Tensor) -> None:
        """Prepend the ground truths themselves as positive priors (samplers' add_gt_as_proposals)."""
        self_inds = torch.arange(1, len(gt_labels) + 1, dtype=torch.long, device=gt_labels.device)
        self.gt_inds = torch.cat([self_inds, self.gt_inds])
        self.max_overlaps = torch.cat([self.max_overlaps.new_ones(len(gt_labels)), self.max_overlaps])
        if self.labels is not None:
            self.labels = torch.cat([gt_labels, self.labels])

    def __repr__(self) -> str:
        pos = int((self.gt_inds > 0).sum())
        neg = int((self.gt_inds == 0).sum())
        return f"AssignResult(num_gts={self.num_gts}, num_preds={self.num_preds}, pos={pos}, neg={neg})"
