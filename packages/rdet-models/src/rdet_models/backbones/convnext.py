"""ConvNeXt (mmcls 0.x's ``ConvNeXt``, which MMRotate's config names ``mmcls.ConvNeXt``), with its
arguments and module names: ``downsample_layers.0`` (the stem), ``stages.i.j.depthwise_conv``,
``.norm``, ``.pointwise_conv1``, ``.pointwise_conv2``, ``.gamma`` (layer scale), ``norm{i}``, so that
mmcls's checkpoints load unchanged (``init_cfg=dict(type='Pretrained', checkpoint=...,
prefix='backbone.')``).

The scoped name ``mmcls.ConvNeXt`` resolves to this class (the one type rdet-models lists as
mmcls's, ``rdet_models.registry.SCOPE_TYPES``; ``mmdet.ConvNeXt`` is an error, as in MMCV), and a config's ``custom_imports=dict(imports=['mmcls.models'])`` is satisfied by rdet-models
(``rdet_core.custom_imports.PROVIDED_MODULES``): mmcls need not be installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch
import torch.utils.checkpoint as cp
from torch import nn

from rdet_models.init import BaseModule, ModuleList, Sequential
from rdet_models.layers.conv_module import build_activation_layer, build_norm_layer
from rdet_models.layers.transformer import DropPath
from rdet_models.registry import MODELS

__all__ = ["ConvNeXt", "ConvNeXtBlock"]

_LN2D = dict(type="LN2d", eps=1e-6)


class ConvNeXtBlock(BaseModule):
    """7x7 depthwise conv -> LayerNorm -> pointwise (C -> mlp_ratio * C) -> GELU -> pointwise
    (-> C) -> layer scale ``gamma`` -> drop path -> + input.

    ``linear_pw_conv``: the pointwise convolutions are ``nn.Linear`` on channel-last maps (the
    official layout, mmcls's default) or 1x1 ``nn.Conv2d``. ``layer_scale_init_value`` <= 0 means
    no ``gamma``.

    Forward: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        norm_cfg: dict = _LN2D,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        mlp_ratio: float = 4.0,
        linear_pw_conv: bool = True,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp, self.linear_pw_conv = with_cp, linear_pw_conv
        self.depthwise_conv = nn.Conv2d(
            in_channels, in_channels, kernel_size=7, padding=3, groups=in_channels
        )
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        mid_channels = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1: nn.Module = nn.Linear(in_channels, mid_channels)
            self.pointwise_conv2: nn.Module = nn.Linear(mid_channels, in_channels)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1)
            self.pointwise_conv2 = nn.Conv2d(mid_channels, in_channels, kernel_size=1)
        self.act = build_activation_layer(act_cfg)
        self.gamma = (
            nn.Parameter(layer_scale_init_value * torch.ones(in_channels))
            if layer_scale_init_value > 0
            else None
        )
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            shortcut = x
            x = self.norm(self.depthwise_conv(x))
            if self.linear_pw_conv:
                x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
            x = self.pointwise_conv2(self.act(self.pointwise_conv1(x)))
            if self.linear_pw_conv:
                x = x.permute(0, 3, 1, 2)
            if self.gamma is not None:
                x = x.mul(self.gamma.view(1, -1, 1, 1))
            return shortcut + self.drop_path(x)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt backbone, mmcls 0.x's arguments and module names.

    Args:
        arch: 'tiny', 'small', 'base', 'large', 'xlarge', or ``dict(depths=[...], channels=[...])``
            (one entry per stage).
        stem_patch_size: the stem convolution's kernel and stride.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        layer_scale_init_value: initial ``gamma`` (layer scale); <= 0 disables it.
        out_indices: stages whose normed outputs are returned; negative counts from the end.
        frozen_stages: freeze ``downsample_layers[i]`` and ``stages[i]`` for i < frozen_stages.
        gap_before_final_norm: average-pool each output to (N, C) before its norm (classification);
            detection configs set False.
        init_cfg: None (mmcls's default: truncated normal std 0.02 for Conv2d / Linear, unit
            LayerNorms) or an ``init_cfg`` such as ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.

    Forward: (N, C_in, H, W) -> tuple of (N, channels[i], H / (4 * 2**i), W / (4 * 2**i)) for i in
    out_indices (floor division by the strides), or (N, channels[i]) with gap_before_final_norm.
    """

    arch_settings = {  # noqa: RUF012 - mmcls's class attribute
        "tiny": {"depths": [3, 3, 9, 3], "channels": [96, 192, 384, 768]},
        "small": {"depths": [3, 3, 27, 3], "channels": [96, 192, 384, 768]},
        "base": {"depths": [3, 3, 27, 3], "channels": [128, 256, 512, 1024]},
        "large": {"depths": [3, 3, 27, 3], "channels": [192, 384, 768, 1536]},
        "xlarge": {"depths": [3, 3, 27, 3], "channels": [256, 512, 1024, 2048]},
    }

    def __init__(
        self,
        arch: str | dict = "tiny",
        in_channels: int = 3,
        stem_patch_size: int = 4,
        norm_cfg: dict = _LN2D,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        linear_pw_conv: bool = True,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool = True,
        with_cp: bool = False,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(
                    f"ConvNeXt arch {arch!r} is unknown; choose from {sorted(self.arch_settings)} or pass a dict"
                )
            arch = self.arch_settings[arch]
        if not isinstance(arch, dict) or "depths" not in arch or "channels" not in arch:
            raise ValueError(f"ConvNeXt arch dict needs 'depths' and 'channels', got {arch!r}")
        self.depths, self.channels = list(arch["depths"]), list(arch["channels"])
        if len(self.depths) != len(self.channels) or not self.depths:
            raise ValueError(
                f"ConvNeXt arch: depths {self.depths} and channels {self.channels} need the same length"
            )
        self.num_stages = len(self.depths)
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        resolved = [i + self.num_stages if i < 0 else i for i in indices]
        if not resolved or not all(0 <= i < self.num_stages for i in resolved):
            raise ValueError(f"out_indices {out_indices} must index the {self.num_stages} stages")
        self.out_indices = resolved
        self.frozen_stages, self.gap_before_final_norm = frozen_stages, gap_before_final_norm

        rates = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        self.downsample_layers = ModuleList()
        self.downsample_layers.append(
            nn.Sequential(
                nn.Conv2d(in_channels, self.channels[0], kernel_size=stem_patch_size, stride=stem_patch_size),
                build_norm_layer(norm_cfg, self.channels[0])[1],
            )
        )
        self.stages = nn.ModuleList()
        first = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels, strict=True)):
            if i >= 1:
                self.downsample_layers.append(
                    nn.Sequential(
                        build_norm_layer(norm_cfg, self.channels[i - 1])[1],
                        nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2),
                    )
                )
            blocks = [
                ConvNeXtBlock(
                    channels,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    linear_pw_conv=linear_pw_conv,
                    drop_path_rate=rates[first + j],
                    layer_scale_init_value=layer_scale_init_value,
                    with_cp=with_cp,
                )
                for j in range(depth)
            ]
            first += depth
            self.stages.append(Sequential(*blocks))
            if i in self.out_indices:
                self.add_module(f"norm{i}", build_norm_layer(norm_cfg, channels)[1])
        self._freeze_stages()

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self._is_init = True

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x).contiguous())
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for m in (self.downsample_layers[i], self.stages[i]):
                m.eval()
            for p in chain(self.downsample_layers[i].parameters(), self.stages[i].parameters()):
                p.requires_grad = False

    def train(self, mode: bool = True) -> ConvNeXt:
        """Train mode, keeping the frozen stages in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self
