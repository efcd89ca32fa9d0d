"""ReResNet (MMRotate's ``ReResNet``, ReDet's rotation-equivariant ResNet on e2cnn's C_8).

Every feature map is a stack of regular fields: ``channels / 8`` groups of 8 orientation
channels. Module names are MMRotate's (``conv1``, ``bn1``, ``layer1.0.conv1`` ...) over e2cnn's
own (``weights``, ``_basisexpansion...``, ``batch_norm_[8]``), so its checkpoints load unchanged.
e2cnn convolutions in eval mode hold their expanded ``filter`` as a buffer: a model in training
mode with ``frozen_stages=1`` has it for stage 1 only, as MMRotate's training checkpoints do, so
load a checkpoint before calling ``eval()`` (as ``init_detector`` does). Needs
``pip install rdet-models[redet]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from rdet_models.init import BaseModule
from rdet_models.layers.e2cnn_compat import (
    build_enn_divide_feature,
    build_enn_norm_layer,
    build_enn_trivial_feature,
    e2cnn_nn,
    ennAvgPool,
    ennConv,
    ennMaxPool,
    ennReLU,
    ennTrivialConv,
    geometric_tensor,
)
from rdet_models.registry import MODELS

__all__ = ["ReResNet"]


class _EnnBlock(nn.Module):
    """What the two residual blocks share: norms by name, the shortcut and gradient checkpointing."""

    def _residual(self, x: Any) -> Any:
        raise NotImplementedError

    def forward(self, x: Any) -> Any:
        """GeometricTensor (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)."""

        def inner(t: torch.Tensor) -> torch.Tensor:
            g = geometric_tensor(t, self.in_type)
            out = self._residual(g)
            out += g if self.downsample is None else self.downsample(g)
            return out.tensor

        if self.with_cp and x.tensor.requires_grad:
            out = cp.checkpoint(inner, x.tensor, use_reentrant=False)
        else:
            out = inner(x.tensor)
        return self.relu_out(geometric_tensor(out, self.out_type))


class ReBasicBlock(_EnnBlock):
    """Two equivariant 3x3 convs (ReResNet-18/34); MMRotate's ``BasicBlock``."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 1,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        if expansion != 1:
            raise ValueError(f"BasicBlock's expansion must be 1, got {expansion}")
        self.in_type = build_enn_divide_feature(in_channels)
        self.out_type = build_enn_divide_feature(out_channels)
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, out_channels
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.norm1_name, norm1 = build_enn_norm_layer(out_channels, postfix=1)
        self.norm2_name, norm2 = build_enn_norm_layer(out_channels, postfix=2)
        self.conv1 = ennConv(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation)
        self.add_module(self.norm1_name, norm1)
        self.relu1 = ennReLU(out_channels)
        self.conv2 = ennConv(out_channels, out_channels, 3, padding=1)
        self.add_module(self.norm2_name, norm2)
        self.relu2 = ennReLU(out_channels)
        self.downsample = downsample

    @property
    def relu_out(self) -> nn.Module:
        return self.relu2

    def _residual(self, x: Any) -> Any:
        out = self.relu1(getattr(self, self.norm1_name)(self.conv1(x)))
        return getattr(self, self.norm2_name)(self.conv2(out))


class ReBottleneck(_EnnBlock):
    """1x1, 3x3, 1x1 equivariant convs (ReResNet-50+); MMRotate's ``Bottleneck``. ``style``
    'pytorch' strides the 3x3 conv, 'caffe' the first 1x1."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 4,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        if out_channels % expansion:
            raise ValueError(f"out_channels ({out_channels}) must be a multiple of expansion ({expansion})")
        self.in_type = build_enn_divide_feature(in_channels)
        self.out_type = build_enn_divide_feature(out_channels)
        mid = out_channels // expansion
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        conv1_stride, conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        self.norm1_name, norm1 = build_enn_norm_layer(mid, postfix=1)
        self.norm2_name, norm2 = build_enn_norm_layer(mid, postfix=2)
        self.norm3_name, norm3 = build_enn_norm_layer(out_channels, postfix=3)
        self.conv1 = ennConv(in_channels, mid, kernel_size=1, stride=conv1_stride)
        self.add_module(self.norm1_name, norm1)
        self.relu1 = ennReLU(mid)
        self.conv2 = ennConv(
            mid, mid, kernel_size=3, stride=conv2_stride, padding=dilation, dilation=dilation
        )
        self.add_module(self.norm2_name, norm2)
        self.relu2 = ennReLU(mid)
        self.conv3 = ennConv(mid, out_channels, kernel_size=1)
        self.add_module(self.norm3_name, norm3)
        self.relu3 = ennReLU(out_channels)
        self.downsample = downsample

    @property
    def relu_out(self) -> nn.Module:
        return self.relu3

    def _residual(self, x: Any) -> Any:
        out = self.relu1(getattr(self, self.norm1_name)(self.conv1(x)))
        out = self.relu2(getattr(self, self.norm2_name)(self.conv2(out)))
        return getattr(self, self.norm3_name)(self.conv3(out))


def _res_layer(
    block: type[_EnnBlock],
    num_blocks: int,
    in_channels: int,
    out_channels: int,
    expansion: int,
    stride: int = 1,
    avg_down: bool = False,
    **kwargs: Any,
) -> nn.Sequential:
    """MMRotate's ``ResLayer``: the first block strides and projects (``downsample``), the rest keep shape."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        parts, conv_stride = [], stride
        if avg_down and stride != 1:
            conv_stride = 1
            parts.append(ennAvgPool(in_channels, kernel_size=stride, stride=stride, ceil_mode=True))
        parts += [
            ennConv(in_channels, out_channels, kernel_size=1, stride=conv_stride),
            build_enn_norm_layer(out_channels)[1],
        ]
        downsample = e2cnn_nn().SequentialModule(*parts)
    layers = [block(in_channels, out_channels, expansion, stride, downsample=downsample, **kwargs)]
    layers += [block(out_channels, out_channels, expansion, 1, **kwargs) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class ReResNet(BaseModule):
    """Rotation-equivariant ResNet (MMRotate's ``ReResNet``; depth 18, 34, 50, 101 or 152).

    Args: as MMRotate's: ``stem_channels`` and ``base_channels`` count channels (multiples of 8);
        stage i has ``base_channels * expansion * 2**i`` output channels. ``frozen_stages``
        freezes the stem (its norm in eval mode) and stages 1..k (in eval mode: e2cnn then keeps
        their expanded filters as buffers). ``norm_eval`` keeps every BatchNorm in eval mode.

    forward: (N, in_channels, H, W) image -> one e2cnn ``GeometricTensor`` per ``out_indices``
    stage, (N, C_i, H / 2**(i + 2), W / 2**(i + 2)); ReFPN takes them.
    """

    arch_settings: ClassVar[dict[int, tuple[type[_EnnBlock], tuple[int, ...]]]] = {
        18: (ReBasicBlock, (2, 2, 2, 2)),
        34: (ReBasicBlock, (3, 4, 6, 3)),
        50: (ReBottleneck, (3, 4, 6, 3)),
        101: (ReBottleneck, (3, 4, 23, 3)),
        152: (ReBottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int = 64,
        base_channels: int = 64,
        expansion: int | None = None,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (3,),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if init_cfg and pretrained:
            raise ValueError("ReResNet: give init_cfg or pretrained, not both")
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f"ReResNet: pretrained must be a str or None, got {type(pretrained).__name__}")
        if isinstance(pretrained, str):
            warnings.warn("pretrained is deprecated, use init_cfg instead", DeprecationWarning, stacklevel=2)
            init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif init_cfg is None:
            init_cfg = [
                dict(type="Kaiming", layer="Conv2d"),
                dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]),
            ]
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f"ReResNet: invalid depth {depth} (one of {sorted(self.arch_settings)})")
        if deep_stem:
            raise NotImplementedError("ReResNet: deep_stem has no stem in MMRotate either (it is not built)")
        if not 1 <= num_stages <= 4 or len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(
                f"ReResNet: num_stages must be 1..4 with one stride and dilation each, got {num_stages}, "
                f"strides {tuple(strides)}, dilations {tuple(dilations)}"
            )
        if max(out_indices) >= num_stages:
            raise ValueError(
                f"ReResNet: out_indices {tuple(out_indices)} must be < num_stages ({num_stages})"
            )
        for name, channels in (("stem_channels", stem_channels), ("base_channels", base_channels)):
            if channels % 8:
                raise ValueError(f"ReResNet: {name} must be a multiple of 8 (orientations), got {channels}")
        self.depth, self.stem_channels, self.base_channels = depth, stem_channels, base_channels
        self.num_stages, self.strides, self.dilations = num_stages, tuple(strides), tuple(dilations)
        self.out_indices, self.style, self.deep_stem, self.avg_down = (
            tuple(out_indices),
            style,
            deep_stem,
            avg_down,
        )
        self.frozen_stages, self.norm_eval, self.with_cp = frozen_stages, norm_eval, with_cp
        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.expansion = expansion if expansion is not None else self.block.expansion
        self.in_type = build_enn_trivial_feature(in_channels)

        self.conv1 = ennTrivialConv(in_channels, stem_channels, kernel_size=7, stride=2, padding=3)
        self.norm1_name, norm1 = build_enn_norm_layer(stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = ennReLU(stem_channels)
        self.maxpool = ennMaxPool(stem_channels, kernel_size=3, stride=2, padding=1)

        self.res_layers: list[str] = []
        stage_in, stage_out = stem_channels, base_channels * self.expansion
        for i, num_blocks in enumerate(self.stage_blocks):
            layer = _res_layer(
                self.block,
                num_blocks,
                stage_in,
                stage_out,
                self.expansion,
                stride=strides[i],
                avg_down=avg_down,
                dilation=dilations[i],
                style=style,
                with_cp=with_cp,
            )
            stage_in, stage_out = stage_out, stage_out * 2
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = stage_in
        # e2cnn registers a zero `filter` in every conv until train(True) drops it: start as MMRotate's
        # runner does, in training mode with the frozen stages in eval (their filters expanded)
        self.train()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _freeze_stages(self) -> None:
        """MMRotate's: the stem's norm in eval mode, stem and stages 1..frozen_stages without gradients."""
        if self.frozen_stages >= 0:
            self.norm1.eval()
            for m in (self.conv1, self.norm1):
                for param in m.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f"layer{i}")
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> Any:
        """(N, in_channels, H, W) -> tuple of GeometricTensors (one per out_indices; alone if one)."""
        out = self.maxpool(self.relu(self.norm1(self.conv1(geometric_tensor(x, self.in_type)))))
        outs = []
        for i, name in enumerate(self.res_layers):
            out = getattr(self, name)(out)
            if i in self.out_indices:
                outs.append(out)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def train(self, mode: bool = True) -> ReResNet:
        """Training mode, with the frozen stages (and, with ``norm_eval``, every BatchNorm) kept in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
