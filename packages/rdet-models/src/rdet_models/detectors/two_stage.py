"""``RotatedTwoStageDetector`` (backbone -> neck -> RPN head -> RoI head) and MMRotate's two-stage detectors:
``RotatedFasterRCNN``, ``OrientedRCNN``, ``RoITransformer``, ``GlidingVertex``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_head
from rdet_models.detectors.base import RotatedBaseDetector
from rdet_models.registry import MODELS
from rdet_models.utils import to_config

__all__ = ["GlidingVertex", "OrientedRCNN", "RoITransformer", "RotatedFasterRCNN", "RotatedTwoStageDetector"]


@MODELS.register_module()
class RotatedTwoStageDetector(RotatedBaseDetector):
    """Backbone, optional neck, an RPN head (gets ``train_cfg.rpn`` / ``test_cfg.rpn``) and a RoI
    head (gets ``train_cfg.rcnn`` / ``test_cfg.rcnn``); training proposals use
    ``train_cfg.rpn_proposal`` (else ``test_cfg.rpn``).

    Losses: the RPN's ``loss_rpn_cls`` / ``loss_rpn_bbox`` (one per level) and the RoI head's
    (``loss_cls``, ``acc``, ``loss_bbox``, ...; RoI Transformer: ``s0.loss_cls`` ...).
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict | None = None,
        rpn_head: dict | None = None,
        roi_head: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if pretrained:
            warnings.warn("pretrained is deprecated, use init_cfg instead", DeprecationWarning, stacklevel=2)
        self._init_backbone_neck(backbone, neck, pretrained)
        train_cfg, test_cfg = to_config(train_cfg), to_config(test_cfg)
        if rpn_head is not None:
            rpn_head = dict(rpn_head)
            rpn_head.update(
                train_cfg=train_cfg.rpn if train_cfg is not None else None,
                test_cfg=test_cfg.rpn if test_cfg is not None else None,
            )
            self.rpn_head = build_head(rpn_head)
        if roi_head is None:
            raise ValueError("a two-stage detector needs a roi_head")
        roi_head = dict(roi_head)
        roi_head.update(
            train_cfg=train_cfg.rcnn if train_cfg is not None else None,
            test_cfg=test_cfg.rcnn if test_cfg is not None else None,
            pretrained=pretrained,
        )
        self.roi_head = build_head(roi_head)
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    @property
    def with_rpn(self) -> bool:
        return hasattr(self, "rpn_head") and self.rpn_head is not None

    @property
    def with_roi_head(self) -> bool:
        return hasattr(self, "roi_head") and self.roi_head is not None

    @property
    def with_bbox(self) -> bool:
        return self.with_roi_head and self.roi_head.with_bbox

    @property
    def num_classes(self) -> int:
        return self.roi_head.num_classes

    def forward_dummy(self, img: torch.Tensor) -> tuple[Any, ...]:
        """Network outputs for 1000 random proposals (FLOP counting)."""
        x = self.extract_feat(img)
        outs: tuple[Any, ...] = ()
        if self.with_rpn:
            outs = outs + (self.rpn_head(x),)
        proposals = torch.rand(1000, 5, device=img.device) * img.shape[-1]
        proposals[:, 2:4] = proposals[:, :2] + proposals[:, 2:4].clamp(min=8)
        return outs + (self.roi_head.forward_dummy(x, proposals),)

    def losses(
        self,
        img: torch.Tensor,
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
        proposals: list[torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """The RPN's and the RoI head's losses; invalid gt boxes are dropped first. A detector
        without ``rpn_head`` needs ``proposals`` (per image (k, 5[+1]))."""
        gts = self._sanitized(gts)
        x = self.extract_feat(img)
        losses: dict[str, Any] = {}
        if self.with_rpn:
            if self.train_cfg is None:
                raise RuntimeError("training needs the model's train_cfg (rpn, rpn_proposal, rcnn)")
            proposal_cfg = self.train_cfg.get("rpn_proposal", self.test_cfg.rpn if self.test_cfg else None)
            rpn_losses, proposal_list = self.rpn_head.losses_and_proposals(x, gts, metas, proposal_cfg)
            losses.update(rpn_losses)
        elif proposals is None:
            raise ValueError("a detector without rpn_head needs proposals")
        else:
            proposal_list = proposals
        losses.update(self.roi_head.losses(x, proposal_list, gts, metas))
        return losses

    def _proposals(
        self, x: tuple[torch.Tensor, ...], metas: Sequence[ImageMeta], proposals: list[torch.Tensor] | None
    ) -> list[torch.Tensor]:
        if proposals is not None:
            return proposals
        if not self.with_rpn:
            raise ValueError("a detector without rpn_head needs proposals")
        return self.rpn_head.proposals(x, metas)

    def detect(
        self,
        img: torch.Tensor,
        metas: Sequence[ImageMeta],
        rescale: bool = True,
        proposals: list[torch.Tensor] | None = None,
    ) -> list[Detections]:
        if not self.with_bbox:
            raise RuntimeError("the RoI head has no bbox head")
        x = self.extract_feat(img)
        return self.roi_head.predict(x, self._proposals(x, metas, proposals), metas, rescale=rescale)


@MODELS.register_module()
class RotatedFasterRCNN(RotatedTwoStageDetector):
    """Rotated Faster R-CNN: ``RotatedRPNHead`` + ``RotatedStandardRoIHead`` (horizontal rois, rotated boxes)."""


@MODELS.register_module()
class OrientedRCNN(RotatedTwoStageDetector):
    """Oriented R-CNN: ``OrientedRPNHead`` (rotated proposals) + ``OrientedStandardRoIHead`` (``RoIAlignRotated``)."""


@MODELS.register_module()
class RoITransformer(RotatedTwoStageDetector):
    """RoI Transformer: ``RotatedRPNHead`` + ``RoITransRoIHead`` (horizontal then rotated RoI stages)."""


@MODELS.register_module()
class GlidingVertex(RotatedTwoStageDetector):
    """Gliding Vertex: ``RotatedRPNHead`` + ``GVRatioRoIHead`` (``GVBBoxHead``)."""
