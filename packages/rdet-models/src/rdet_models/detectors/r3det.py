"""``R3Det``: the refined rotated RetinaNet (MMRotate 0.3.x): a dense first stage, then
refinement stages, each a feature refinement module and a refine head whose anchors are the
previous stage's boxes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_head
from rdet_models.detectors.base import RotatedBaseDetector
from rdet_models.init import ModuleList
from rdet_models.layers import FeatureRefineModule
from rdet_models.registry import MODELS
from rdet_models.utils import to_config

__all__ = ["R3Det"]

Rois = list[list[torch.Tensor]]


@MODELS.register_module()
class R3Det(RotatedBaseDetector):
    """`R3Det <https://arxiv.org/abs/1908.05612>`_: backbone, neck, a first dense head
    (``bbox_head``: ``RotatedRetinaHead``, ``KFIoURRetinaHead``, ``RotatedATSSHead``...), then
    ``num_refine_stages`` pairs of ``FeatureRefineModule`` (``frm_cfgs[i]``) and refine head
    (``refine_heads[i]``: ``RotatedRetinaRefineHead``, ``KFIoURRetinaRefineHead``).

    The boxes between stages (``rois``) are, per image and per level, one box per position
    (H*W, 5): the first stage's best anchor's box there (``filter_bboxes``), then each refine
    stage's decoded box (``refine_bboxes``). Each refine stage refines the features at them and
    uses them as anchors; the last refine head's detections are the model's.

    ``train_cfg``: ``s0`` (the first head's), ``sr`` (one per refine head) and
    ``stage_loss_weights`` (one per refine stage); ``test_cfg`` goes to every head. Losses:
    ``s0.loss_cls``, ``s0.loss_bbox``, ``sr{i}.loss_cls``, ``sr{i}.loss_bbox`` (one tensor per
    level, refine stages' times their weight). Module names are MMRotate's (``bbox_head``,
    ``feat_refine_module.{i}``, ``refine_head.{i}``).
    """

    def __init__(
        self,
        num_refine_stages: int,
        backbone: dict,
        neck: dict | None = None,
        bbox_head: dict | None = None,
        frm_cfgs: Sequence[dict] | None = None,
        refine_heads: Sequence[dict] | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if pretrained:
            warnings.warn("pretrained is deprecated, use init_cfg instead", DeprecationWarning, stacklevel=2)
        if bbox_head is None:
            raise ValueError("R3Det needs a bbox_head (its first stage)")
        frm_cfgs, refine_heads = list(frm_cfgs or []), list(refine_heads or [])
        if num_refine_stages < 1 or not (len(frm_cfgs) == len(refine_heads) == num_refine_stages):
            raise ValueError(
                f"R3Det needs num_refine_stages >= 1 and as many frm_cfgs and refine_heads: got "
                f"num_refine_stages={num_refine_stages}, {len(frm_cfgs)} frm_cfgs, {len(refine_heads)} refine_heads"
            )
        train_cfg, test_cfg = to_config(train_cfg), to_config(test_cfg)
        if train_cfg is not None:
            if len(train_cfg.get("sr", [])) < num_refine_stages:
                raise ValueError(f"train_cfg.sr needs one entry per refine stage ({num_refine_stages})")
            if len(train_cfg.get("stage_loss_weights", [])) < num_refine_stages:
                raise ValueError(
                    f"train_cfg.stage_loss_weights needs one weight per refine stage ({num_refine_stages})"
                )
        self._init_backbone_neck(backbone, neck, pretrained)
        self.num_refine_stages = num_refine_stages
        self.bbox_head = build_head(
            dict(bbox_head, train_cfg=train_cfg.s0 if train_cfg is not None else None, test_cfg=test_cfg)
        )
        self.feat_refine_module = ModuleList()
        self.refine_head = ModuleList()
        for i, (frm_cfg, head_cfg) in enumerate(zip(frm_cfgs, refine_heads)):
            self.feat_refine_module.append(FeatureRefineModule(**frm_cfg))
            head_train_cfg = train_cfg.sr[i] if train_cfg is not None else None
            self.refine_head.append(build_head(dict(head_cfg, train_cfg=head_train_cfg, test_cfg=test_cfg)))
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    @property
    def num_classes(self) -> int:
        return self.refine_head[-1].num_classes

    def _forward_stages(
        self, x: Sequence[torch.Tensor]
    ) -> tuple[tuple[list[torch.Tensor], ...], list[tuple[tuple[list[torch.Tensor], ...], Rois]]]:
        """The first head's outputs, and per refine stage its outputs with the rois it refined
        (its anchors); the next stage's rois are computed only when a stage follows."""
        first = self.bbox_head(x)
        rois = self.bbox_head.filter_bboxes(*first)
        stages = []
        for i in range(self.num_refine_stages):
            outs = self.refine_head[i](self.feat_refine_module[i](x, rois))
            stages.append((outs, rois))
            if i + 1 < self.num_refine_stages:
                rois = self.refine_head[i].refine_bboxes(*outs, rois=rois)
        return first, stages

    def forward_dummy(self, img: torch.Tensor) -> Any:
        """The last refine head's outputs (FLOP counting)."""
        return self._forward_stages(self.extract_feat(img))[1][-1][0]

    @staticmethod
    def _head_losses(
        head: Any,
        outs: Any,
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
        rois: Rois | None = None,
    ) -> dict[str, list[torch.Tensor]]:
        extra = {} if rois is None else {"rois": rois}
        losses = head.loss_by_feat(outs, gts, metas, **extra)
        if losses is None:
            raise RuntimeError(
                "no anchor lies inside an image of the batch (img_shape smaller than every anchor centre); "
                "check the images' img_shape"
            )
        return losses

    def losses(
        self, img: torch.Tensor, gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """``s0.*`` (the first head's) and ``sr{i}.*`` (refine stage i's, times
        ``stage_loss_weights[i]``) losses, one tensor per level each; invalid gt boxes are
        dropped first."""
        if self.train_cfg is None:
            raise RuntimeError("training R3Det needs its train_cfg (s0, sr, stage_loss_weights)")
        gts = self._sanitized(gts)
        first, stages = self._forward_stages(self.extract_feat(img))
        losses: dict[str, Any] = {
            f"s0.{name}": value
            for name, value in self._head_losses(self.bbox_head, first, gts, metas).items()
        }
        for i, (outs, rois) in enumerate(stages):
            weight = self.train_cfg.stage_loss_weights[i]
            for name, value in self._head_losses(self.refine_head[i], outs, gts, metas, rois).items():
                losses[f"sr{i}.{name}"] = [v * weight for v in value] if "loss" in name else value
        return losses

    def detect(self, img: torch.Tensor, metas: Sequence[ImageMeta], rescale: bool = True) -> list[Detections]:
        """The last refine head's detections, decoded against its rois (``test_cfg``)."""
        outs, rois = self._forward_stages(self.extract_feat(img))[1][-1]
        return self.refine_head[-1].predict_by_feat(outs, metas, rescale=rescale, rois=rois)
