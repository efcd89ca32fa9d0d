"""ResNet (MMDetection 2.x's ``ResNet``): module names ``conv1``, ``bn1``, ``layer1.0.conv1`` ...

The names are torchvision's and MMDetection's, so MMRotate checkpoints and torchvision's
ImageNet weights load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from rdet_models.fuse import conv_norm, sequential_forward
from rdet_models.init import BaseModule, Sequential
from rdet_models.layers import build_conv_layer, build_norm_layer
from rdet_models.registry import MODELS

__all__ = ["BasicBlock", "Bottleneck", "ResLayer", "ResNet", "ResNetV1d"]

_BN = dict(type="BN")


def _no_plugins(plugins: list | None) -> None:
    if plugins is not None:
        raise NotImplementedError(
            "ResNet plugins (ContextBlock, GeneralizedAttention, NonLocal2d ...) are not supported; "
            "no MMRotate 0.3.4 config uses them"
        )


class BasicBlock(BaseModule):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
        dcn: dict | None = None,
        plugins: list | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if dcn is not None:
            raise NotImplementedError(
                "dcn is for Bottleneck ResNets (depth 50/101/152); BasicBlock (depth 18/34) has none, "
                "as in MMDetection"
            )
        _no_plugins(plugins)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride, self.dilation, self.with_cp = stride, dilation, with_cp

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def conv_bn_pairs(self) -> list[tuple[str, str]]:
        """``(conv, norm)`` child names applied one after the other (``rdet_models.fuse``)."""
        return [("conv1", self.norm1_name), ("conv2", self.norm2_name)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            identity = x
            out = self.relu(conv_norm(self.conv1, self.norm1, x))
            out = conv_norm(self.conv2, self.norm2, out)
            if self.downsample is not None:
                identity = sequential_forward(self.downsample, x)
            out += identity  # in place, as MMCV: one feature map less to allocate and fill
            return out

        out = cp.checkpoint(inner, x, use_reentrant=False) if self.with_cp and x.requires_grad else inner(x)
        return self.relu(out)


class Bottleneck(BaseModule):
    """1x1 -> 3x3 -> 1x1 (ResNet-50/101/152); ``style='pytorch'`` strides the 3x3, 'caffe' the 1x1."""

    expansion = 4
    #: MMDetection's ResNet honours ``fallback_on_stride`` (in its first dcn block); ResNeXt never
    falls_back_on_stride = True

    def _conv2_width_groups(self, planes: int) -> tuple[int, int]:
        """Channels and groups of the 3x3 conv (ResNeXt widens and groups it)."""
        return planes, 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
        dcn: dict | None = None,
        plugins: list | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        _no_plugins(plugins)
        if dcn is not None and conv_cfg is not None:
            raise ValueError(
                f"conv_cfg must be None when dcn is set (as MMDetection), got conv_cfg={conv_cfg!r}"
            )
        self.inplanes, self.planes, self.stride, self.dilation = inplanes, planes, stride, dilation
        self.style, self.with_cp = style, with_cp
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width, groups = self._conv2_width_groups(planes)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        # MMDetection pops `fallback_on_stride` from the dcn dict that all blocks share, so only the
        # first block built with it falls back to a plain conv (and ResNeXt's never does, since
        # its block pops the key a second time): kept, so that such checkpoints load
        fallback_on_stride = bool(dcn.pop("fallback_on_stride", False)) if dcn is not None else False
        self.with_dcn = dcn is not None and not (fallback_on_stride and self.falls_back_on_stride)
        self.conv2 = build_conv_layer(
            dcn if self.with_dcn else conv_cfg,
            width,
            width,
            3,
            stride=self.conv2_stride,
            padding=dilation,
            dilation=dilation,
            groups=groups,
            bias=False,
        )
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def conv_bn_pairs(self) -> list[tuple[str, str]]:
        """``(conv, norm)`` child names applied one after the other (``rdet_models.fuse``)."""
        return [("conv1", self.norm1_name), ("conv2", self.norm2_name), ("conv3", self.norm3_name)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            identity = x
            out = self.relu(conv_norm(self.conv1, self.norm1, x))
            out = self.relu(conv_norm(self.conv2, self.norm2, out))
            out = conv_norm(self.conv3, self.norm3, out)
            if self.downsample is not None:
                identity = sequential_forward(self.downsample, x)
            out += identity  # in place, as MMCV: one feature map less to allocate and fill
            return out

        out = cp.checkpoint(inner, x, use_reentrant=False) if self.with_cp and x.requires_grad else inner(x)
        return self.relu(out)


class ResLayer(Sequential):
    """One ResNet stage: ``num_blocks`` blocks, the first one strided, with a ``downsample``."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int = 1,
        avg_down: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
        downsample_first: bool = True,
        **kwargs: object,
    ) -> None:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            layers: list[nn.Module] = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
            layers += [
                build_conv_layer(
                    conv_cfg, inplanes, planes * block.expansion, 1, stride=conv_stride, bias=False
                ),
                build_norm_layer(norm_cfg, planes * block.expansion)[1],
            ]
            downsample = nn.Sequential(*layers)
        blocks = [
            block(
                inplanes,
                planes,
                stride=stride,
                downsample=downsample,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                **kwargs,
            )
        ]
        inplanes = planes * block.expansion
        blocks += [
            block(inplanes, planes, stride=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
            for _ in range(1, num_blocks)
        ]
        super().__init__(*blocks)


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet backbone, MMDetection 2.x's arguments and module names.

    Args:
        depth: 18, 34, 50, 101 or 152.
        base_channels: channels of the first stage (64 for the real networks); stage i has
            ``base_channels * 2**i * expansion`` output channels.
        stem_channels: channels of the stem (default ``base_channels``).
        out_indices: stages whose outputs are returned (0-based).
        frozen_stages: stages (with the stem) to freeze; -1 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode while training.
        style: 'pytorch' (stride on the 3x3 conv) or 'caffe' (stride on the first 1x1).
        with_cp: gradient checkpointing in the blocks (saves memory, costs time).
        zero_init_residual: zero the last norm of each block at ``init_weights()``.
        pretrained: deprecated; use ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Forward: (N, 3, H, W) -> tuple of (N, C_i, H / 2**(i+2), W / 2**(i+2)) for i in out_indices.
    """

    arch_settings = {  # noqa: RUF012 - MMDetection's class attribute
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int | None = None,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        norm_eval: bool = True,
        dcn: dict | None = None,
        stage_with_dcn: Sequence[bool] = (False, False, False, False),
        plugins: list | None = None,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if depth not in self.arch_settings:
            raise KeyError(f"invalid depth {depth} for ResNet; choose from {sorted(self.arch_settings)}")
        if pretrained is not None and init_cfg is not None:
            raise ValueError("init_cfg and pretrained cannot be set at the same time")
        default_init = init_cfg is None and pretrained is None
        if isinstance(pretrained, str):
            init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif init_cfg is None:
            init_cfg = [
                dict(type="Kaiming", layer="Conv2d"),
                dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]),
            ]
        super().__init__(init_cfg)
        _no_plugins(plugins)
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1..4, got {num_stages}")
        if dcn is not None:
            if not isinstance(dcn, dict) or "type" not in dcn:
                raise TypeError(f"dcn must be a conv_cfg dict such as dict(type='DCNv2'), got {dcn!r}")
            if len(stage_with_dcn) != num_stages:
                raise ValueError(
                    f"stage_with_dcn needs one entry per stage ({num_stages}), got {tuple(stage_with_dcn)}"
                )
            dcn = dict(
                dcn
            )  # one dict shared by the blocks, as MMDetection's (see Bottleneck); the config's stays
        self.dcn, self.stage_with_dcn = dcn, tuple(stage_with_dcn)
        if len(strides) < num_stages or len(dilations) < num_stages:
            raise ValueError("strides and dilations need one entry per stage")
        if max(out_indices) >= num_stages:
            raise ValueError(f"out_indices {tuple(out_indices)} must be < num_stages={num_stages}")
        self.zero_init_residual = zero_init_residual and default_init
        self._default_init = default_init
        self.depth, self.num_stages = depth, num_stages
        stem_channels = base_channels if stem_channels is None else stem_channels
        self.stem_channels, self.base_channels = stem_channels, base_channels
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.out_indices, self.style = tuple(out_indices), style
        self.deep_stem, self.avg_down, self.frozen_stages = deep_stem, avg_down, frozen_stages
        self.conv_cfg, self.norm_cfg, self.with_cp, self.norm_eval = conv_cfg, norm_cfg, with_cp, norm_eval
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.inplanes = stem_channels
        self._make_stem_layer(in_channels, stem_channels)

        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            res_layer = self.make_res_layer(
                block=self.block,
                inplanes=self.inplanes,
                planes=planes,
                num_blocks=num_blocks,
                stride=strides[i],
                dilation=dilations[i],
                style=style,
                avg_down=avg_down,
                with_cp=with_cp,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                dcn=dcn if self.stage_with_dcn[i] else None,
            )
            self.inplanes = planes * self.block.expansion
            name = f"layer{i + 1}"
            self.add_module(name, res_layer)
            self.res_layers.append(name)
        self._freeze_stages()
        self.feat_dim = self.block.expansion * base_channels * 2 ** (len(self.stage_blocks) - 1)

    def make_res_layer(self, **kwargs: object) -> ResLayer:
        """One stage (MMDetection's hook: ResNeXt passes its groups and widths)."""
        return ResLayer(**kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            c = stem_channels // 2
            self.stem = nn.Sequential(
                build_conv_layer(self.conv_cfg, in_channels, c, 3, stride=2, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, c)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, c, c, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, c)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, c, stem_channels, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, stem_channels)[1],
                nn.ReLU(inplace=True),
            )
        else:
            self.conv1 = build_conv_layer(
                self.conv_cfg, in_channels, stem_channels, 7, stride=2, padding=3, bias=False
            )
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def conv_bn_pairs(self) -> list[tuple[str, str]]:
        """The stem's ``(conv, norm)`` (``rdet_models.fuse``; a deep stem is a Sequential)."""
        return [] if self.deep_stem else [("conv1", self.norm1_name)]

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
            for m in stem:
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f"layer{i}")
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def init_weights(self) -> None:
        super().init_weights()
        if self._default_init:
            # the default init_cfg's Kaiming reaches the offset convs too (they are nn.Conv2d); MMCV
            # leaves a DCN's (v1) so, which starts training from random offsets. Here every
            # deformable conv starts on its grid, as DeformConv2dPack and DCNv2 are constructed.
            for m in self.modules():
                offset = getattr(m, "conv_offset", None)
                if isinstance(offset, nn.Conv2d):
                    nn.init.zeros_(offset.weight)
                    nn.init.zeros_(offset.bias)
        if self.zero_init_residual:  # only with the default init_cfg, as MMDetection
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.norm3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.norm2.weight, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.deep_stem:
            x = sequential_forward(self.stem, x)
        else:
            x = self.relu(conv_norm(self.conv1, self.norm1, x))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        """Train mode, keeping frozen stages (and, with ``norm_eval``, all BN layers) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet-V1d (MMDetection's ``ResNetV1d``, "Bag of Tricks"): ResNet with a deep stem (three
    3x3 convs) and average-pool downsampling in the shortcuts."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
