"""``RotatedTwoStageDetector`` (backbone -> neck -> RPN head -> RoI head) and MMRotate's two-stage detectors:
``RotatedFasterRCNN``, ``OrientedRCNN``, ``RoITransformer``, ``GlidingVertex``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

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
        head = self.roi_head.bbox_head
        return (head[-1] if isinstance(head, torch.nn.ModuleList) else head).num_classes

    def forward_dummy(self, img: torch.Tensor) -> tuple[Any, ...]:
        """Network outputs for 1000 random proposals (FLOP counting)."""
        x = self.extract_feat(img)
        outs: tuple[Any, ...] = ()
        if self.with_rpn:
            outs = outs + (self.rpn_head(x),)
        proposals = torch.rand(1000, 5, device=img.device) * img.shape[-1]
        proposals[:, 2:4] = proposals[:, :2] + proposals[:, 2:4].clamp(min=8)
        return outs + (self.roi_head.forward_dummy(x, proposals),)

    def forward_train(
        self,
        img: torch.Tensor,
        img_metas: list[dict],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
        gt_masks: Any = None,
        proposals: list[torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Loss dict. ``gt_bboxes``: per image (k, 5) ``(cx, cy, w, h, theta)``; invalid boxes
        (non-finite, or w / h < ``min_gt_size`` px) are dropped first."""
        super().forward_train(img, img_metas)
        clean_boxes, clean_labels = self._sanitized_gts(gt_bboxes, gt_labels)
        x = self.extract_feat(img)
        losses: dict[str, Any] = {}
        if self.with_rpn:
            if self.train_cfg is None:
                raise RuntimeError("training needs the model's train_cfg (rpn, rpn_proposal, rcnn)")
            proposal_cfg = self.train_cfg.get("rpn_proposal", self.test_cfg.rpn if self.test_cfg else None)
            rpn_losses, proposal_list = self.rpn_head.forward_train(
                x,
                img_metas,
                clean_boxes,
                gt_labels=None,
                gt_bboxes_ignore=gt_bboxes_ignore,
                proposal_cfg=proposal_cfg,
            )
            losses.update(rpn_losses)
        else:
            if proposals is None:
                raise ValueError("a detector without rpn_head needs proposals")
            proposal_list = proposals
        losses.update(
            self.roi_head.forward_train(
                x, img_metas, proposal_list, clean_boxes, clean_labels, gt_bboxes_ignore, gt_masks
            )
        )
        return losses

    def _proposals(
        self, x: tuple[torch.Tensor, ...], img_metas: list[dict], proposals: Any
    ) -> list[torch.Tensor]:
        if proposals is not None:
            return proposals
        if not self.with_rpn:
            raise ValueError("a detector without rpn_head needs proposals")
        return self.rpn_head.simple_test_rpn(x, img_metas)

    def simple_test_dets(
        self, img: torch.Tensor, img_metas: list[dict], rescale: bool = True, proposals: Any = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x = self.extract_feat(img)
        det_bboxes, det_labels = self.roi_head.simple_test_bboxes(
            x, img_metas, self._proposals(x, img_metas, proposals), self.roi_head.test_cfg, rescale=rescale
        )
        return list(zip(det_bboxes, det_labels))

    def simple_test(
        self, img: torch.Tensor, img_metas: list[dict], proposals: Any = None, rescale: bool = False
    ) -> list[list[np.ndarray]]:
        """Per image, MMRotate's result: a list per class of (k, 6) float32 arrays."""
        if not self.with_bbox:
            raise RuntimeError("the RoI head has no bbox head")
        return super().simple_test(img, img_metas, rescale=rescale, proposals=proposals)


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
