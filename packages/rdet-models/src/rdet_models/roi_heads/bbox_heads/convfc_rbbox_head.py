"""``RotatedConvFCBBoxHead`` and its shared-2-fc variants (MMRotate 0.3.x).

.. code-block:: none

                                /-> cls convs -> cls fcs -> cls
    shared convs -> shared fcs
                                \\-> reg convs -> reg fcs -> reg
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rdet_models.layers import ConvModule
from rdet_models.registry import MODELS
from rdet_models.roi_heads.bbox_heads.rotated_bbox_head import RotatedBBoxHead, build_linear_layer

__all__ = ["RotatedConvFCBBoxHead", "RotatedKFIoUShared2FCBBoxHead", "RotatedShared2FCBBoxHead"]


@MODELS.register_module()
class RotatedConvFCBBoxHead(RotatedBBoxHead):
    """Shared convs / fcs, then separate class and box branches (MMDetection's ``ConvFCBBoxHead``)."""

    def __init__(
        self,
        num_shared_convs: int = 0,
        num_shared_fcs: int = 0,
        num_cls_convs: int = 0,
        num_cls_fcs: int = 0,
        num_reg_convs: int = 0,
        num_reg_fcs: int = 0,
        conv_out_channels: int = 256,
        fc_out_channels: int = 1024,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        if num_shared_convs + num_shared_fcs + num_cls_convs + num_cls_fcs + num_reg_convs + num_reg_fcs <= 0:
            raise ValueError("RotatedConvFCBBoxHead needs at least one conv or fc layer")
        if (num_cls_convs > 0 or num_reg_convs > 0) and num_shared_fcs != 0:
            raise ValueError("branch convs cannot follow shared fcs")
        if not self.with_cls and (num_cls_convs or num_cls_fcs):
            raise ValueError("cls convs / fcs without the cls branch")
        if not self.with_reg and (num_reg_convs or num_reg_fcs):
            raise ValueError("reg convs / fcs without the reg branch")
        self.num_shared_convs, self.num_shared_fcs = num_shared_convs, num_shared_fcs
        self.num_cls_convs, self.num_cls_fcs = num_cls_convs, num_cls_fcs
        self.num_reg_convs, self.num_reg_fcs = num_reg_convs, num_reg_fcs
        self.conv_out_channels, self.fc_out_channels = conv_out_channels, fc_out_channels
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.shared_convs, self.shared_fcs, last_layer_dim = self._add_conv_fc_branch(
            num_shared_convs, num_shared_fcs, self.in_channels, True
        )
        self.shared_out_channels = last_layer_dim
        self.cls_convs, self.cls_fcs, self.cls_last_dim = self._add_conv_fc_branch(
            num_cls_convs, num_cls_fcs, self.shared_out_channels
        )
        self.reg_convs, self.reg_fcs, self.reg_last_dim = self._add_conv_fc_branch(
            num_reg_convs, num_reg_fcs, self.shared_out_channels
        )
        if self.num_shared_fcs == 0 and not self.with_avg_pool:
            if self.num_cls_fcs == 0:
                self.cls_last_dim *= self.roi_feat_area
            if self.num_reg_fcs == 0:
                self.reg_last_dim *= self.roi_feat_area
        self.relu = nn.ReLU(inplace=True)
        if self.with_cls:
            self.fc_cls = build_linear_layer(self.cls_predictor_cfg, self.cls_last_dim, self.cls_channels)
        if self.with_reg:
            self.fc_reg = build_linear_layer(self.reg_predictor_cfg, self.reg_last_dim, self.reg_out_dim)
        if init_cfg is None:
            self.init_cfg += [
                dict(
                    type="Xavier",
                    layer="Linear",
                    override=[dict(name="shared_fcs"), dict(name="cls_fcs"), dict(name="reg_fcs")],
                )
            ]

    def _add_conv_fc_branch(
        self, num_branch_convs: int, num_branch_fcs: int, in_channels: int, is_shared: bool = False
    ) -> tuple[nn.ModuleList, nn.ModuleList, int]:
        last_layer_dim = in_channels
        branch_convs = nn.ModuleList()
        for i in range(num_branch_convs):
            branch_convs.append(
                ConvModule(
                    last_layer_dim if i == 0 else self.conv_out_channels,
                    self.conv_out_channels,
                    3,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                )
            )
        if num_branch_convs > 0:
            last_layer_dim = self.conv_out_channels
        branch_fcs = nn.ModuleList()
        if num_branch_fcs > 0:
            if (is_shared or self.num_shared_fcs == 0) and not self.with_avg_pool:
                last_layer_dim *= self.roi_feat_area
            for i in range(num_branch_fcs):
                branch_fcs.append(
                    nn.Linear(last_layer_dim if i == 0 else self.fc_out_channels, self.fc_out_channels)
                )
            last_layer_dim = self.fc_out_channels
        return branch_convs, branch_fcs, last_layer_dim

    def _branch(self, x: torch.Tensor, convs: nn.ModuleList, fcs: nn.ModuleList) -> torch.Tensor:
        for conv in convs:
            x = conv(x)
        if x.dim() > 2:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in fcs:
            x = self.relu(fc(x))
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        x_cls = self._branch(x, self.cls_convs, self.cls_fcs)
        x_reg = self._branch(x, self.reg_convs, self.reg_fcs)
        return (self.fc_cls(x_cls) if self.with_cls else None, self.fc_reg(x_reg) if self.with_reg else None)


@MODELS.register_module()
class RotatedShared2FCBBoxHead(RotatedConvFCBBoxHead):
    """Two shared fully connected layers, then ``fc_cls`` and ``fc_reg``."""

    def __init__(self, fc_out_channels: int = 1024, **kwargs: Any) -> None:
        super().__init__(
            num_shared_convs=0,
            num_shared_fcs=2,
            num_cls_convs=0,
            num_cls_fcs=0,
            num_reg_convs=0,
            num_reg_fcs=0,
            fc_out_channels=fc_out_channels,
            **kwargs,
        )


@MODELS.register_module()
class RotatedKFIoUShared2FCBBoxHead(RotatedShared2FCBBoxHead):
    """``RotatedShared2FCBBoxHead`` whose box loss (``KFLoss``) also gets the decoded boxes."""

    def _pos_loss_bbox(
        self,
        bbox_pred: torch.Tensor,
        rois: torch.Tensor,
        pos: torch.Tensor,
        labels: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        reduction_override: str | None,
    ) -> torch.Tensor:
        pred_decode = self.bbox_coder.decode(rois[:, 1:], bbox_pred)
        targets_decode = self.bbox_coder.decode(rois[:, 1:], bbox_targets)
        return self.loss_bbox(
            self._pos_pred(bbox_pred, pos, labels, 5),
            bbox_targets[pos],
            bbox_weights[pos],
            pred_decode=self._pos_pred(pred_decode, pos, labels, 5),
            targets_decode=targets_decode[pos],
            avg_factor=bbox_targets.size(0),
            reduction_override=reduction_override,
        )
