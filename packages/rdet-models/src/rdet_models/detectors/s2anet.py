"""``S2ANet``: Align Deep Features for Oriented Object Detection (MMRotate 0.3.x).

backbone -> neck -> ``fam_head`` (a RotatedRetinaHead, one anchor per position) -> its refined
boxes ``rois`` (``refine_bboxes``: every position's decoded box, detached) -> ``align_conv``
(AlignConv: deformable convs sampling the features over each position's box) -> ``odm_head``
(ODMRefineHead), whose anchors are the rois. Losses: ``fam.*`` and ``odm.*``; detections: the
ODM's, decoded against the rois.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_head
from rdet_models.detectors.base import RotatedBaseDetector
from rdet_models.layers import AlignConvModule
from rdet_models.registry import MODELS

__all__ = ["S2ANet"]


def _stride(s: Any) -> float:
    """An anchor generator's stride (an int or an (x, y) pair) as one number."""
    if isinstance(s, (tuple, list)):
        if len(s) != 2 or s[0] != s[1]:
            raise ValueError(f"AlignConv needs square strides, got {s!r}")
        s = s[0]
    return float(s)


def _at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


@MODELS.register_module()
class S2ANet(RotatedBaseDetector):
    """S2A-Net with MMRotate's signature.

    Args:
        backbone, neck: component configs.
        fam_head: the Feature Alignment Module's head (``RotatedRetinaHead`` or ``KFIoURRetinaHead``
            in MMRotate's configs), one anchor per position; gets ``train_cfg.fam_cfg``.
        align_cfgs: ``dict(type='AlignConv', kernel_size, channels, featmap_strides)``; the strides
            must be the FAM head's anchor strides (the rois are in image pixels).
        odm_head: ``ODMRefineHead`` or ``KFIoUODMRefineHead``; gets ``train_cfg.odm_cfg``.
        train_cfg: ``dict(fam_cfg=..., odm_cfg=...)``. test_cfg: both heads'.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict | None = None,
        fam_head: dict | None = None,
        align_cfgs: dict | None = None,
        odm_head: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if fam_head is None or odm_head is None or align_cfgs is None:
            raise ValueError("S2ANet needs fam_head, align_cfgs and odm_head")
        self._init_backbone_neck(backbone, neck, pretrained)
        self.fam_head = build_head(self._head_cfg(fam_head, train_cfg, "fam_cfg", test_cfg))

        align_cfgs = dict(align_cfgs)
        self.align_conv_type = align_cfgs.get("type", "AlignConv")
        if self.align_conv_type != "AlignConv":
            raise ValueError(
                f"align_cfgs type must be 'AlignConv' (MMRotate's only one), got {self.align_conv_type!r}"
            )
        missing = {"kernel_size", "channels", "featmap_strides"} - set(align_cfgs)
        if missing:
            raise KeyError(f"align_cfgs lacks {sorted(missing)}")
        self.align_conv_size = align_cfgs["kernel_size"]
        self.feat_channels = align_cfgs["channels"]
        self.featmap_strides = align_cfgs["featmap_strides"]
        self._check_fam_anchors()
        self.align_conv = AlignConvModule(self.feat_channels, self.featmap_strides, self.align_conv_size)

        self.odm_head = build_head(self._head_cfg(odm_head, train_cfg, "odm_cfg", test_cfg))
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    @staticmethod
    def _head_cfg(head: dict, train_cfg: dict | None, key: str, test_cfg: dict | None) -> dict:
        head = dict(head)
        if train_cfg is not None:
            head.update(train_cfg=train_cfg[key])
        head.update(test_cfg=test_cfg)
        return head

    def _check_fam_anchors(self) -> None:
        """The rois AlignConv lays its samples on: one per position, at the strides it scales by."""
        gen = self.fam_head.anchor_generator
        if self.fam_head.num_anchors != 1:
            raise ValueError(
                f"S2ANet's fam_head must have one anchor per position (AlignConv aligns to one box), "
                f"its anchor generator has {self.fam_head.num_anchors}"
            )
        anchor_strides = [_stride(s) for s in gen.strides]
        align_strides = [_stride(s) for s in self.featmap_strides]
        if anchor_strides != align_strides:
            raise ValueError(
                f"align_cfgs featmap_strides {list(self.featmap_strides)} must be the fam_head's anchor "
                f"strides {list(gen.strides)}"
            )

    @property
    def num_classes(self) -> int:
        return self.odm_head.num_classes

    def _stages(
        self, x: Sequence[torch.Tensor]
    ) -> tuple[tuple[list[torch.Tensor], ...], list[list[torch.Tensor]], tuple[list[torch.Tensor], ...]]:
        """The FAM head's outputs, its refined boxes (per image, per level; detached) and the
        ODM head's outputs on the aligned features."""
        fam_outs = self.fam_head(x)
        # half precision (autocast) decoded in float32, as MMRotate's force_fp32: boxes decoded in
        # half precision are pixels off
        rois = self.fam_head.refine_bboxes(*[[_at_least_fp32(t) for t in out] for out in fam_outs])
        odm_outs = self.odm_head(self.align_conv(x, rois))
        return fam_outs, rois, odm_outs

    def forward_dummy(self, img: torch.Tensor) -> Any:
        return self._stages(self.extract_feat(img))[2]

    def losses(
        self, img: torch.Tensor, gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """``fam.loss_cls``, ``fam.loss_bbox``, ``odm.loss_cls``, ``odm.loss_bbox`` (one tensor per
        level each); invalid gt boxes are dropped first."""
        gts = self._sanitized(gts)
        fam_outs, rois, odm_outs = self._stages(self.extract_feat(img))
        losses: dict[str, Any] = {}
        for stage, head, outs, kw in (
            ("fam", self.fam_head, fam_outs, {}),
            ("odm", self.odm_head, odm_outs, {"rois": rois}),
        ):
            stage_losses = head.loss_by_feat(outs, gts, metas, **kw)
            if stage_losses is None:
                raise RuntimeError(
                    f"S2ANet's {stage}_head: no anchor lies inside an image of the batch (img_shape smaller "
                    "than every anchor centre); check the pipeline's resize and the anchor strides"
                )
            losses.update({f"{stage}.{name}": value for name, value in stage_losses.items()})
        return losses

    def detect(self, img: torch.Tensor, metas: Sequence[ImageMeta], rescale: bool = True) -> list[Detections]:
        """The ODM head's detections, its deltas decoded against the FAM head's refined boxes."""
        _, rois, odm_outs = self._stages(self.extract_feat(img))
        return self.odm_head.predict_by_feat(odm_outs, metas, rescale=rescale, rois=rois)
