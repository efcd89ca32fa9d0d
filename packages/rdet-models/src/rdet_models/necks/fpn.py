"""FPN (MMDetection 2.x's ``FPN``): ``lateral_convs.i.conv``, ``fpn_convs.i.conv``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rdet_models.init import BaseModule
from rdet_models.layers import ConvModule
from rdet_models.registry import MODELS

__all__ = ["FPN"]


@MODELS.register_module()
class FPN(BaseModule):
    """Feature Pyramid Network.

    Args:
        in_channels: channels of each backbone output.
        out_channels: channels of every output level.
        num_outs: number of output levels (extra levels beyond the backbone's are added by
            stride-2 3x3 convs, or max-pooling without ``add_extra_convs``).
        start_level / end_level: the backbone levels used (``end_level=-1``: the last).
        add_extra_convs: False, True (= 'on_input'), 'on_input', 'on_lateral' or 'on_output':
            the source of the first extra conv.
        relu_before_extra_convs: ReLU before the extra convs after the first.

    Forward: tuple of backbone maps -> tuple of ``num_outs`` (N, out_channels, H_i, W_i).
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
        upsample_cfg: dict = dict(mode="nearest"),  # noqa: B006 - never mutated
        init_cfg: dict | list[dict] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform"),  # noqa: B006
    ) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, Sequence):
            raise TypeError(f"in_channels must be a list of ints, got {in_channels!r}")
        self.in_channels, self.out_channels = list(in_channels), out_channels
        self.num_ins, self.num_outs = len(in_channels), num_outs
        self.relu_before_extra_convs, self.no_norm_on_lateral = relu_before_extra_convs, no_norm_on_lateral
        self.upsample_cfg = dict(upsample_cfg)
        if end_level in (-1, self.num_ins - 1):
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ValueError(
                    f"num_outs={num_outs} is less than the {self.num_ins - start_level} backbone levels used"
                )
        else:
            self.backbone_end_level = end_level + 1
            if not end_level < self.num_ins or num_outs != end_level - start_level + 1:
                raise ValueError(
                    f"end_level={end_level} does not fit {self.num_ins} inputs and num_outs={num_outs}"
                )
        self.start_level, self.end_level = start_level, end_level
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in ("on_input", "on_lateral", "on_output"):
                raise ValueError(
                    f"add_extra_convs must be on_input, on_lateral or on_output, got {add_extra_convs!r}"
                )
        elif not isinstance(add_extra_convs, bool):
            raise TypeError(f"add_extra_convs must be a bool or a str, got {add_extra_convs!r}")
        elif add_extra_convs:
            add_extra_convs = "on_input"
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(self.start_level, self.backbone_end_level):
            self.lateral_convs.append(
                ConvModule(
                    in_channels[i],
                    out_channels,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg if not no_norm_on_lateral else None,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )
            self.fpn_convs.append(
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
        extra_levels = num_outs - self.backbone_end_level + self.start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                if i == 0 and self.add_extra_convs == "on_input":
                    in_ch = self.in_channels[self.backbone_end_level - 1]
                else:
                    in_ch = out_channels
                self.fpn_convs.append(
                    ConvModule(
                        in_ch,
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

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        laterals = self._top_down(inputs)
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals))]
        return self._add_extra_levels(inputs, laterals, outs)

    def _top_down(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The lateral convs of the used backbone levels, each plus its upsampled upper level."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f"{type(self).__name__} expects {len(self.in_channels)} inputs, got {len(inputs)}"
            )
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                size = laterals[i - 1].shape[2:]
                laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=size, **self.upsample_cfg)
        return laterals

    def _add_extra_levels(
        self, inputs: Sequence[torch.Tensor], laterals: list[torch.Tensor], outs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        """``outs`` (one per used backbone level) and the extra levels up to ``num_outs``:
        stride-2 max-pooling, or the extra ``fpn_convs`` on ``add_extra_convs``' source."""
        used = len(laterals)
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == "on_input":
                    source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == "on_lateral":
                    source = laterals[-1]
                else:
                    source = outs[-1]
                outs.append(self.fpn_convs[used](source))
                for i in range(used + 1, self.num_outs):
                    x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](x))
        return tuple(outs)
