"""``KFIoURRetinaHead``: RotatedRetinaHead whose box loss also gets decoded boxes (KFIoU)."""

from __future__ import annotations

import torch

from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.registry import MODELS

__all__ = ["KFIoURRetinaHead"]


@MODELS.register_module()
class KFIoURRetinaHead(RotatedRetinaHead):
    """As :class:`RotatedRetinaHead`; ``loss_bbox(pred, target, weight, pred_decode=..., targets_decode=...)``."""

    bboxes_as_anchors = None

    def _bbox_loss(
        self,
        bbox_pred: torch.Tensor,
        anchors: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        avg_factor: int,
    ) -> torch.Tensor:
        return self.loss_bbox(
            bbox_pred,
            bbox_targets,
            bbox_weights,
            pred_decode=self.bbox_coder.decode(anchors, bbox_pred),
            targets_decode=self.bbox_coder.decode(anchors, bbox_targets),
            avg_factor=avg_factor,
        )
