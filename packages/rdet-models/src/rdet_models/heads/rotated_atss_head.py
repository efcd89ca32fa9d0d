"""``RotatedATSSHead``: RotatedRetinaHead trained with ATSS's per-level assignment (MMRotate 0.3.x)."""

from __future__ import annotations

import torch

from rdet_core.structures import GroundTruth
from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.registry import MODELS
from rdet_models.samplers import SamplingResult

__all__ = ["RotatedATSSHead"]


@MODELS.register_module()
class RotatedATSSHead(RotatedRetinaHead):
    """`ATSS <https://arxiv.org/abs/1912.02424>`_ on rotated anchors: the network, the losses
    and inference are :class:`RotatedRetinaHead`'s; the assigner (``ATSSObbAssigner``) also gets
    how many anchors inside the image each level has, ``assign(anchors (A, 5), num_level_anchors
    [A_l], gt_bboxes (k, 5), gt_bboxes_ignore, gt_labels)``. With ``assign_by_circumhbbox`` (an
    angle version) it compares the anchors with the gts' enclosing horizontal boxes (still 5
    columns), and the positives regress to the rotated gts.
    """

    assign_per_level = True

    def _assign_and_sample(
        self, anchors: torch.Tensor, gt: GroundTruth, num_level_anchors: list[int] | None = None
    ) -> SamplingResult:
        if num_level_anchors is None:
            raise ValueError("RotatedATSSHead needs num_level_anchors (anchors per level inside the image)")
        gt_assign, gt_sample = self._gts_to_assign(gt.boxes)
        gt_labels = None if self.sampling or self.class_agnostic else gt.labels
        assign_result = self.assigner.assign(
            anchors, num_level_anchors, gt_assign, gt.boxes_ignore, gt_labels
        )
        return self.sampler.sample(assign_result, anchors, gt_sample)
