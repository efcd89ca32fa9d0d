"""ReFPN (MMRotate's ``ReFPN``): FPN of e2cnn's equivariant convolutions over ReResNet's regular fields.

Module names are MMRotate's (``lateral_convs.i.conv``, ``fpn_convs.i.conv``) over e2cnn's. The
outputs are plain tensors (``GeometricTensor.tensor``): channel ``c * 8 + o`` is orientation o of
field c, what ``RiRoIAlignRotated`` expects. Needs ``pip install rdet-models[redet]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rdet_models.init import BaseModule
from rdet_models.layers.e2cnn_compat import (
    build_enn_feature,
    build_enn_norm_layer,
    ennConv,
    ennInterpolate,
    ennMaxPool,
    ennReLU,
)
from rdet_models.registry import MODELS

__all__ = ["ReFPN"]


class EnnConvModule(nn.Module):
    """MMRotate's re_fpn ``ConvModule``: an equivariant conv, optional InnerBatchNorm (``norm_cfg``)
    and ReLU (``activation='relu'``); bias 'auto' is a bias without a norm."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        activation: str | None = "relu",
        order: tuple[str, str, str] = ("conv", "norm", "act"),
    ) -> None:
        super().__init__()
        if set(order) != {"conv", "norm", "act"} or len(order) != 3:
            raise ValueError(f"order must be a permutation of ('conv', 'norm', 'act'), got {order}")
        if activation not in (None, "relu"):
            raise ValueError(f"activation {activation!r} is not supported (None or 'relu')")
        self.in_type = build_enn_feature(in_channels)
        self.out_type = build_enn_feature(out_channels)
        self.in_channels, self.out_channels, self.order = in_channels, out_channels, tuple(order)
        self.with_norm, self.with_activation = norm_cfg is not None, activation is not None
        with_bias = (not self.with_norm) if bias == "auto" else bool(bias)
        self.conv = ennConv(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=groups,
            bias=with_bias,
            dilation=dilation,
        )
        if self.with_norm:
            norm_channels = out_channels if order.index("norm") > order.index("conv") else in_channels
            if conv_cfg is not None and conv_cfg.get("type") == "ORConv":
                norm_channels *= 8
            self.norm_name, norm = build_enn_norm_layer(norm_channels)
            self.add_module(self.norm_name, norm)
        if self.with_activation:
            self.activate = ennReLU(out_channels)

    def forward(self, x: Any, activate: bool = True, norm: bool = True) -> Any:
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and norm and self.with_norm:
                x = getattr(self, self.norm_name)(x)
            elif layer == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x


@MODELS.register_module()
class ReFPN(BaseModule):
    """MMRotate's ``ReFPN`` (same arguments as MMDetection's FPN of 2019: ``activation``,
    ``extra_convs_on_inputs``); extra levels by stride-2 max pooling unless ``add_extra_convs``.

    forward: GeometricTensors (N, in_channels[i], H_i, W_i) -> tuple of ``num_outs`` tensors
    (N, out_channels, H_i, W_i).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool = False,
        extra_convs_on_inputs: bool = True,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        activation: str | None = None,
        init_cfg: dict | list[dict] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform"),  # noqa: B006
    ) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f"ReFPN: in_channels must be a list, got {type(in_channels).__name__}")
        self.in_channels, self.out_channels = list(in_channels), out_channels
        self.num_ins, self.num_outs = len(in_channels), num_outs
        self.activation, self.relu_before_extra_convs = activation, relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        if end_level == -1:
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ValueError(
                    f"ReFPN: num_outs ({num_outs}) < the inputs used ({self.num_ins - start_level})"
                )
        else:
            self.backbone_end_level = end_level
            if end_level > self.num_ins or num_outs != end_level - start_level:
                raise ValueError(f"ReFPN: end_level {end_level} needs num_outs == end_level - start_level")
        self.start_level, self.end_level = start_level, end_level
        self.add_extra_convs, self.extra_convs_on_inputs = add_extra_convs, extra_convs_on_inputs

        self.lateral_convs, self.up_samples, self.fpn_convs = (
            nn.ModuleList(),
            nn.ModuleList(),
            nn.ModuleList(),
        )
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(
                EnnConvModule(
                    in_channels[i],
                    out_channels,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=None if no_norm_on_lateral else norm_cfg,
                    activation=activation,
                )
            )
            self.up_samples.append(ennInterpolate(out_channels, 2))
            self.fpn_convs.append(
                EnnConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    activation=activation,
                )
            )
        extra_levels = num_outs - self.backbone_end_level + start_level
        if add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                channels = (
                    self.in_channels[self.backbone_end_level - 1]
                    if i == 0 and extra_convs_on_inputs
                    else out_channels
                )
                self.fpn_convs.append(
                    EnnConvModule(
                        channels,
                        out_channels,
                        3,
                        stride=2,
                        padding=1,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        activation=activation,
                    )
                )
        self.max_pools, self.relus = nn.ModuleList(), nn.ModuleList()
        used = len(self.lateral_convs)
        if num_outs > used:
            if not add_extra_convs:
                for _ in range(num_outs - used):
                    self.max_pools.append(ennMaxPool(out_channels, 1, stride=2))
            else:
                for _ in range(used + 1, num_outs):
                    self.relus.append(ennReLU(out_channels))
        self.train()  # drops the zero `filter` / `expanded_bias` e2cnn registers until train(True)

    def forward(self, inputs: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"ReFPN: {len(inputs)} inputs, but in_channels has {len(self.in_channels)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        used = len(laterals)
        for i in range(used - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + self.up_samples[i](laterals[i])
        outs = [self.fpn_convs[i](laterals[i]) for i in range(used)]
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for i in range(self.num_outs - used):
                    outs.append(self.max_pools[i](outs[-1]))
            else:
                source = inputs[self.backbone_end_level - 1] if self.extra_convs_on_inputs else outs[-1]
                outs.append(self.fpn_convs[used](source))
                for i in range(used + 1, self.num_outs):
                    # MMRotate indexes relus by the level (i), one past the list's end; we use its own index
                    x = self.relus[i - used - 1](outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](x))
        return tuple(out.tensor for out in outs)
