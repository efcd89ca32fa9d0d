"""``KFIoURRetinaHead``: RotatedRetinaHead whose box loss also gets decoded boxes (KFIoU)."""

from __future__ import annotations

import torch

from rdet_models.heads.rotated_retina_head import _RETINA_ANCHORS, _RETINA_INIT, RotatedRetinaHead
from rdet_models.registry import MODELS

__all__ = ["KFIoURRetinaHead"]


@MODELS.register_module()
class KFIoURRetinaHead(RotatedRetinaHead):
    """As :class:`RotatedRetinaHead`; ``loss_bbox(pred, target, weight, pred_decode=..., targets_decode=...)``."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        anchor_generator: dict = _RETINA_ANCHORS,
        init_cfg: dict | list[dict] | None = _RETINA_INIT,
        **kwargs: object,
    ) -> None:
        self.bboxes_as_anchors = None
        super().__init__(
            num_classes,
            in_channels,
            stacked_convs,
            conv_cfg,
            norm_cfg,
            anchor_generator=anchor_generator,
            init_cfg=init_cfg,
            **kwargs,
        )

    def loss_single(
        self,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        anchors: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        num_total_samples: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=num_total_samples)
        bbox_targets = bbox_targets.reshape(-1, 5)
        bbox_weights = bbox_weights.reshape(-1, 5)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 5)
        anchors = anchors.reshape(-1, 5)
        loss_bbox = self.loss_bbox(
            bbox_pred,
            bbox_targets,
            bbox_weights,
            pred_decode=self.bbox_coder.decode(anchors, bbox_pred),
            targets_decode=self.bbox_coder.decode(anchors, bbox_targets),
            avg_factor=num_total_samples,
        )
        return loss_cls, loss_bbox
