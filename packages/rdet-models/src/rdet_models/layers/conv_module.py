"""Conv / norm / activation builders and ``ConvModule`` with mmcv 1.x's names.

Module names matter: ``ConvModule`` holds ``conv``, then a norm named by its type's
abbreviation (``bn``, ``gn``, ``ln``, ``in``) and ``activate``, so that state-dict keys of
MMRotate checkpoints (``neck.fpn_convs.0.conv.weight``) load as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rbox_ops import DeformConv2dPack, ModulatedDeformConv2dPack
from rdet_models.fuse import conv_norm
from rdet_models.layers.layer_norm import LayerNorm2d

__all__ = [
    "ConvModule",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "conv_tower",
    "norm_abbreviation",
]

_CONV_LAYERS: dict[str, type[nn.Module]] = {
    "Conv": nn.Conv2d,
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "Conv3d": nn.Conv3d,
    "DCN": DeformConv2dPack,  # mmcv's names: deformable convolution v1 and v2 (modulated)
    "DCNv2": ModulatedDeformConv2dPack,
}
_NORM_LAYERS: dict[str, type[nn.Module]] = {
    "BN": nn.BatchNorm2d,
    "BN1d": nn.BatchNorm1d,
    "BN2d": nn.BatchNorm2d,
    "BN3d": nn.BatchNorm3d,
    "SyncBN": nn.SyncBatchNorm,
    "GN": nn.GroupNorm,
    "LN": nn.LayerNorm,
    "LN2d": LayerNorm2d,  # mmcls 0.x
    "IN": nn.InstanceNorm2d,
    "IN1d": nn.InstanceNorm1d,
    "IN2d": nn.InstanceNorm2d,
    "IN3d": nn.InstanceNorm3d,
}
_ACT_LAYERS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "RReLU": nn.RReLU,
    "ReLU6": nn.ReLU6,
    "ELU": nn.ELU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,
}


def build_conv_layer(cfg: dict | None, *args: Any, **kwargs: Any) -> nn.Module:
    """A convolution from ``cfg`` (``None`` means ``dict(type='Conv2d')``), mmcv's signature."""
    cfg = dict(type="Conv2d") if cfg is None else dict(cfg)
    layer_type = cfg.pop("type")
    if layer_type not in _CONV_LAYERS:
        raise KeyError(f"conv_cfg type {layer_type!r} is not supported; known: {sorted(_CONV_LAYERS)}")
    return _CONV_LAYERS[layer_type](*args, **kwargs, **cfg)


def norm_abbreviation(layer_type: str) -> str:
    """mmcv's name stem of a norm layer: 'bn' for BN/SyncBN, 'gn', 'ln', 'in'."""
    if layer_type.startswith("IN"):
        return "in"
    return {"GN": "gn", "LN": "ln", "LN2d": "ln"}.get(layer_type, "bn")


def build_norm_layer(cfg: dict, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """A norm layer and its mmcv name (``'bn1'`` for BN with postfix 1).

    ``cfg``: ``dict(type='BN' | 'SyncBN' | 'GN' | 'LN' | 'IN', requires_grad=True, eps=..., ...)``;
    GN needs ``num_groups``.
    """
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"norm_cfg must be a dict with a 'type', got {cfg!r}")
    cfg = dict(cfg)
    layer_type = cfg.pop("type")
    if layer_type not in _NORM_LAYERS:
        raise KeyError(f"norm_cfg type {layer_type!r} is not supported; known: {sorted(_NORM_LAYERS)}")
    name = norm_abbreviation(layer_type) + str(postfix)
    requires_grad = cfg.pop("requires_grad", True)
    cfg.setdefault("eps", 1e-5)
    if layer_type == "GN":
        if "num_groups" not in cfg:
            raise KeyError("norm_cfg of type GN needs num_groups")
        layer = nn.GroupNorm(num_channels=num_features, **cfg)
    else:
        layer = _NORM_LAYERS[layer_type](num_features, **cfg)
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return name, layer


def build_activation_layer(cfg: dict) -> nn.Module:
    """An activation from ``dict(type='ReLU', inplace=True, ...)``."""
    cfg = dict(cfg)
    layer_type = cfg.pop("type")
    if layer_type not in _ACT_LAYERS:
        raise KeyError(f"act_cfg type {layer_type!r} is not supported; known: {sorted(_ACT_LAYERS)}")
    cls = _ACT_LAYERS[layer_type]
    if cls in (nn.Sigmoid, nn.Tanh, nn.GELU, nn.PReLU):
        cfg.pop("inplace", None)
    return cls(**cfg)


class ConvModule(nn.Module):
    """conv -> norm -> activation, mmcv 1.x's ``ConvModule`` (names ``conv``, ``bn``/``gn``, ``activate``).

    Args:
        bias: ``'auto'`` means a bias only without a norm layer.
        conv_cfg / norm_cfg / act_cfg: layer configs; ``act_cfg=None`` for no activation.
        order: the order of ``'conv'``, ``'norm'``, ``'act'``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006 - mmcv's default, never mutated
        inplace: bool = True,
        with_spectral_norm: bool = False,
        padding_mode: str = "zeros",
        order: tuple[str, str, str] = ("conv", "norm", "act"),
    ) -> None:
        super().__init__()
        if set(order) != {"conv", "norm", "act"} or len(order) != 3:
            raise ValueError(f"order must be a permutation of conv, norm, act; got {order}")
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.inplace, self.order = inplace, tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm
        self.with_bias = bool(bias)
        conv_padding = padding if padding_mode in ("zeros", "circular") else 0
        self.conv = build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=conv_padding,
            dilation=dilation,
            groups=groups,
            bias=bool(bias),
        )
        if padding_mode not in ("zeros", "circular"):
            self.conv.padding_mode = "zeros"
            self.padding_layer = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}[
                padding_mode
            ](padding)
        if padding_mode == "circular":
            self.conv.padding_mode = "circular"
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.in_channels, self.out_channels = in_channels, out_channels
        if self.with_norm:
            norm_channels = out_channels if order.index("norm") > order.index("conv") else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
            self.add_module(self.norm_name, norm)
        else:
            self.norm_name = None
        if self.with_activation:
            act = dict(act_cfg)
            if act["type"] not in ("Tanh", "PReLU", "Sigmoid", "HSigmoid", "Swish", "GELU"):
                act.setdefault("inplace", inplace)
            self.activate = build_activation_layer(act)
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        return getattr(self, self.norm_name) if self.norm_name else None

    def conv_bn_pairs(self) -> list[tuple[str, str]]:
        """``(conv, norm)`` child names applied one after the other (``rdet_models.fuse``)."""
        if self.norm_name and self.order.index("norm") == self.order.index("conv") + 1:
            return [("conv", self.norm_name)]
        return []

    def init_weights(self) -> None:
        """Kaiming for the conv, ones/zeros for the norm (mmcv's ConvModule.init_weights)."""
        if not hasattr(self.conv, "init_weights"):
            if self.with_activation and self.act_cfg["type"] == "LeakyReLU":
                nonlinearity, a = "leaky_relu", self.act_cfg.get("negative_slope", 0.01)
            else:
                nonlinearity, a = "relu", 0
            nn.init.kaiming_normal_(self.conv.weight, a=a, mode="fan_out", nonlinearity=nonlinearity)
            if self.conv.bias is not None:
                nn.init.constant_(self.conv.bias, 0)
        if self.with_norm and getattr(self.norm, "weight", None) is not None:
            nn.init.constant_(self.norm.weight, 1)
            nn.init.constant_(self.norm.bias, 0)

    def forward(self, x: torch.Tensor, activate: bool = True, norm: bool = True) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H', W')."""
        folded = norm and bool(self.conv_bn_pairs())  # conv then norm: one folded conv in eval
        for layer in self.order:
            if layer == "conv":
                if hasattr(self, "padding_layer"):
                    x = self.padding_layer(x)
                x = conv_norm(self.conv, self.norm, x) if folded else self.conv(x)
            elif layer == "norm" and norm and self.with_norm and not folded:
                x = self.norm(x)
            elif layer == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x


def conv_tower(
    in_channels: int,
    feat_channels: int,
    num_convs: int,
    conv_cfg: dict | None = None,
    norm_cfg: dict | None = None,
    bias: bool | str = "auto",
    dcn_on_last_conv: bool = False,
) -> nn.ModuleList:
    """A dense head's tower: ``num_convs`` 3x3 ``ConvModule`` s (stride 1, padding 1, ReLU), the
    first from ``in_channels``, all to ``feat_channels`` (MMDetection's ``cls_convs`` /
    ``reg_convs`` of the anchor-free and RepPoints heads). ``dcn_on_last_conv``: the last one is a
    modulated deformable convolution (``conv_cfg=dict(type='DCNv2')``), as MMDetection's."""
    return nn.ModuleList(
        ConvModule(
            in_channels if i == 0 else feat_channels,
            feat_channels,
            3,
            stride=1,
            padding=1,
            conv_cfg=dict(type="DCNv2") if dcn_on_last_conv and i == num_convs - 1 else conv_cfg,
            norm_cfg=norm_cfg,
            bias=bias,
        )
        for i in range(num_convs)
    )
