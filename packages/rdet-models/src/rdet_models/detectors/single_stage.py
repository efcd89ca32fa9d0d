"""``RotatedSingleStageDetector`` (backbone -> neck -> dense head) and ``RotatedRetinaNet``."""

from __future__ import annotations

from typing import Any

import torch

from rdet_models.builder import build_head
from rdet_models.detectors.base import RotatedBaseDetector
from rdet_models.registry import MODELS

__all__ = ["RotatedRetinaNet", "RotatedSingleStageDetector"]


@MODELS.register_module()
class RotatedSingleStageDetector(RotatedBaseDetector):
    """Backbone, optional neck, and a dense ``bbox_head`` that gets ``train_cfg`` / ``test_cfg``."""

    def __init__(
        self,
        backbone: dict,
        neck: dict | None = None,
        bbox_head: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self._init_backbone_neck(backbone, neck, pretrained)
        if bbox_head is None:
            raise ValueError("a single-stage detector needs a bbox_head")
        bbox_head = dict(bbox_head)
        bbox_head.update(train_cfg=train_cfg)
        bbox_head.update(test_cfg=test_cfg)
        self.bbox_head = build_head(bbox_head)
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    @property
    def num_classes(self) -> int:
        return self.bbox_head.num_classes

    def forward_dummy(self, img: torch.Tensor) -> Any:
        return self.bbox_head(self.extract_feat(img))

    def forward_train(
        self,
        img: torch.Tensor,
        img_metas: list[dict],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Loss dict. ``gt_bboxes``: per image (k, 5) ``(cx, cy, w, h, theta)``; invalid boxes
        (non-finite, or w / h < ``min_gt_size`` px) are dropped first."""
        super().forward_train(img, img_metas)
        clean_boxes, clean_labels = self._sanitized_gts(gt_bboxes, gt_labels)
        x = self.extract_feat(img)
        losses = self.bbox_head.forward_train(x, img_metas, clean_boxes, clean_labels, gt_bboxes_ignore)
        if losses is None:
            raise RuntimeError(
                "no anchor lies inside an image of the batch (img_shape smaller than every anchor centre); "
                "check the pipeline's resize and the anchor strides"
            )
        return losses

    def simple_test_dets(
        self, img: torch.Tensor, img_metas: list[dict], rescale: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.bbox_head.simple_test(self.extract_feat(img), img_metas, rescale=rescale)


@MODELS.register_module()
class RotatedRetinaNet(RotatedSingleStageDetector):
    """Rotated RetinaNet (OBB and HBB variants, by its head's ``assign_by_circumhbbox``)."""
