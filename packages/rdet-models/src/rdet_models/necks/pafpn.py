"""PAFPN (MMDetection 2.x's ``PAFPN``): an FPN plus a bottom-up path, ``downsample_convs.i.conv``
and ``pafpn_convs.i.conv`` beside FPN's ``lateral_convs`` and ``fpn_convs``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rdet_models.layers import ConvModule
from rdet_models.necks.fpn import FPN
from rdet_models.registry import MODELS

__all__ = ["PAFPN"]


@MODELS.register_module()
class PAFPN(FPN):
    """Path Aggregation Network (`PANet <https://arxiv.org/abs/1803.01534>`_): FPN's top-down
    path, then a bottom-up one. Output level 0 is FPN's; level i >= 1 is
    ``pafpn_convs[i-1](p_i + downsample_convs[i-1](p_{i-1}))`` with ``p`` FPN's outputs as the
    bottom-up path updates them; extra levels as FPN's (from the PAFPN outputs).

    Args: FPN's (MMDetection's order and defaults), without ``upsample_cfg`` (nearest, to the
    lower level's size, as MMDetection's PAFPN).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        init_cfg: dict | list[dict] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform"),  # noqa: B006
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            start_level,
            end_level,
            add_extra_convs,
            relu_before_extra_convs,
            no_norm_on_lateral,
            conv_cfg,
            norm_cfg,
            act_cfg,
            init_cfg=init_cfg,
        )
        self.downsample_convs = nn.ModuleList()
        self.pafpn_convs = nn.ModuleList()
        for _ in range(self.start_level + 1, self.backbone_end_level):
            self.downsample_convs.append(
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    stride=2,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )
            self.pafpn_convs.append(
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        laterals = self._top_down(inputs)
        used = len(laterals)
        inter_outs = [self.fpn_convs[i](laterals[i]) for i in range(used)]
        for i in range(used - 1):  # the bottom-up path
            inter_outs[i + 1] = inter_outs[i + 1] + self.downsample_convs[i](inter_outs[i])
        outs = [inter_outs[0]] + [self.pafpn_convs[i - 1](inter_outs[i]) for i in range(1, used)]
        return self._add_extra_levels(inputs, laterals, outs)
