"""``RotatedSingleStageDetector`` (backbone -> neck -> dense head), ``RotatedRetinaNet`` and
``RotatedFCOS``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_head
from rdet_models.detectors.base import RotatedBaseDetector
from rdet_models.registry import MODELS

__all__ = ["RotatedFCOS", "RotatedRetinaNet", "RotatedSingleStageDetector"]


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

    def losses(
        self, img: torch.Tensor, gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """``bbox_head``'s losses (one tensor per level each); invalid gt boxes are dropped first."""
        return self.bbox_head.losses(self.extract_feat(img), self._sanitized(gts), metas)

    def detect(self, img: torch.Tensor, metas: Sequence[ImageMeta], rescale: bool = True) -> list[Detections]:
        return self.bbox_head.predict(self.extract_feat(img), metas, rescale=rescale)

    def _tta_default_merge(self) -> str:
        # MMRotate 0.3.4: SingleStageDetector.aug_test -> RotatedAnchorHead.aug_test
        return "candidates" if getattr(self.bbox_head, "supports_aug_candidates", False) else "detections"

    def detect_candidates(
        self, img: torch.Tensor, metas: Sequence[ImageMeta]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if not getattr(self.bbox_head, "supports_aug_candidates", False):
            return super().detect_candidates(img, metas)
        return self.bbox_head.predict_candidates(self.extract_feat(img), metas)


@MODELS.register_module()
class RotatedRetinaNet(RotatedSingleStageDetector):
    """Rotated RetinaNet (OBB and HBB variants, by its head's ``assign_by_circumhbbox``)."""


@MODELS.register_module()
class RotatedFCOS(RotatedSingleStageDetector):
    """Rotated FCOS (anchor-free: ``RotatedFCOSHead`` or ``CSLRFCOSHead``)."""
