"""``ODMRefineHead``: S2A-Net's Oriented Detection Module (MMRotate 0.3.x).

Its anchors are the FAM head's refined boxes (``rois``, per image and level, one per position),
given to ``loss_by_feat`` / ``_batch_get_bboxes`` / ``predict_by_feat``, and to ``loss`` /
``get_bboxes``, which keep MMRotate's signatures (``rois`` after ``img_metas`` in ``loss``; ``cfg``
and ``rescale`` positional in ``get_bboxes``); its ``PseudoAnchorGenerator`` only gives valid flags.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.layers import ConvModule, ORConv2d, RotationInvariantPooling
from rdet_models.registry import MODELS

__all__ = ["ODMRefineHead"]

_ODM_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=dict(type="Normal", name="odm_cls", std=0.01, bias_prob=0.01),
)
_ODM_ANCHORS = dict(type="PseudoAnchorGenerator", strides=[8, 16, 32, 64, 128])
#: orientation channels of the ORConv2d (arf_config=(1, 8)) that RotationInvariantPooling pools
_N_ORIENT = 8


@MODELS.register_module()
class ODMRefineHead(RotatedRetinaHead):
    """Orientation-sensitive features for the boxes, orientation-invariant ones for the classes:
    ``or_conv`` (ORConv2d, feat_channels -> feat_channels / 8 filters x 8 rotations); the
    regression tower on its output, the classification tower on its max over the 8 rotations
    (``or_pool``); then ``odm_cls`` and ``odm_reg`` (3x3). Names are MMRotate's.

    As MMRotate's (which passes ``stacked_convs=2`` to its base, which then overwrites
    ``stacked_convs``, ``conv_cfg`` and ``norm_cfg``): always 2 convs per tower, without norm;
    other values of those three are accepted and ignored, with a warning. The input must have
    ``feat_channels`` channels (``in_channels`` is not used by the layers), a multiple of 8.
    """

    needs_rois = True

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 2,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        anchor_generator: dict = _ODM_ANCHORS,
        init_cfg: dict | list[dict] | None = _ODM_INIT,
        **kwargs: object,
    ) -> None:
        if stacked_convs != 2 or conv_cfg is not None or norm_cfg is not None:
            warnings.warn(
                f"{type(self).__name__} always builds 2 stacked convs without conv_cfg / norm_cfg, as "
                f"MMRotate's; stacked_convs={stacked_convs}, conv_cfg={conv_cfg}, norm_cfg={norm_cfg} ignored",
                stacklevel=2,
            )
        feat_channels = kwargs.get("feat_channels", 256)
        if not isinstance(feat_channels, int) or feat_channels < _N_ORIENT or feat_channels % _N_ORIENT:
            raise ValueError(
                f"feat_channels must be a multiple of {_N_ORIENT} (ORConv2d's 8 rotations), got {feat_channels!r}"
            )
        if in_channels != feat_channels:
            raise ValueError(
                f"{type(self).__name__}'s or_conv takes feat_channels={feat_channels} input channels "
                f"(as MMRotate's); in_channels={in_channels} differs"
            )
        super().__init__(
            num_classes,
            in_channels,
            stacked_convs=2,
            anchor_generator=anchor_generator,
            init_cfg=init_cfg,
            **kwargs,  # type: ignore[arg-type]
        )
        if self.num_anchors != 1:
            raise ValueError(
                f"{type(self).__name__} refines one box per position; its anchor_generator gives "
                f"{self.num_anchors} (use PseudoAnchorGenerator)"
            )

    def _init_layers(self) -> None:
        planes = self.feat_channels // _N_ORIENT
        self.or_conv = ORConv2d(
            self.feat_channels, planes, kernel_size=3, padding=1, arf_config=(1, _N_ORIENT)
        )
        self.or_pool = RotationInvariantPooling(self.feat_channels, _N_ORIENT)  # nInputPlane: unused
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            chn = planes if i == 0 else self.feat_channels
            self.reg_convs.append(
                ConvModule(
                    self.feat_channels,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                )
            )
            self.cls_convs.append(
                ConvModule(
                    chn,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                )
            )
        self.odm_cls = nn.Conv2d(self.feat_channels, self.num_anchors * self.cls_out_channels, 3, padding=1)
        self.odm_reg = nn.Conv2d(self.feat_channels, self.num_anchors * 5, 3, padding=1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, feat_channels, H, W) -> cls_score (N, num_classes, H, W), bbox_pred (N, 5, H, W)."""
        reg_feat = or_feat = self.or_conv(x)
        cls_feat = self.or_pool(or_feat)
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        return self.odm_cls(cls_feat), self.odm_reg(reg_feat)
