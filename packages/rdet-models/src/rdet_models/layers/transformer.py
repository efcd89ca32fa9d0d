"""Transformer bricks with mmcv 1.x's / MMDetection 2.x's names: ``DropPath``, ``FFN``
(``layers.0.0`` / ``layers.1``), ``PatchEmbed`` (``projection``, ``norm``) and ``PatchMerging``
(``norm``, ``reduction``), so that their checkpoints load unchanged.

Tokens are (N, L, C) with L = H * W in row-major order; a spatial shape travels beside them as
``hw_shape = (H, W)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rdet_models.init import BaseModule, Sequential
from rdet_models.layers.conv_module import build_activation_layer, build_norm_layer

__all__ = [
    "FFN",
    "AdaptivePadding",
    "DropPath",
    "PatchEmbed",
    "PatchMerging",
    "build_dropout",
    "drop_path",
    "to_2tuple",
]


def to_2tuple(value: int | tuple[int, int] | list[int], name: str = "value") -> tuple[int, int]:
    """``7`` -> ``(7, 7)``; a pair stays a pair; anything else is a ``ValueError`` naming ``name``."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth: zero whole samples of ``x`` (any shape, batch first) with probability
    ``drop_prob`` and scale the kept ones by ``1 / (1 - drop_prob)``; identity when not training."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor()
    return x.div(keep_prob) * keep


class DropPath(nn.Module):
    """:func:`drop_path` as a module (mmcv's ``DropPath``); ``drop_prob`` in [0, 1)."""

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def build_dropout(cfg: dict | None) -> nn.Module:
    """mmcv's ``build_dropout``: ``dict(type='DropPath' | 'Dropout', drop_prob=p)``; None is identity."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    prob = float(cfg.pop("drop_prob", 0.5 if kind == "Dropout" else 0.1))
    if cfg:
        raise TypeError(f"dropout_layer {kind!r} got unexpected keys {sorted(cfg)}")
    if kind == "DropPath":
        return DropPath(prob)
    if kind == "Dropout":
        return nn.Dropout(prob)
    raise KeyError(f"dropout_layer type {kind!r} is not supported (DropPath, Dropout)")


class FFN(BaseModule):
    """Feed-forward network with identity connection (mmcv 1.x's ``FFN``).

    ``num_fcs`` linear layers (the hidden ones followed by the activation and dropout), then
    ``dropout_layer`` (e.g. DropPath) on the branch before the identity is added.
    Module names: ``layers.0.0`` (first Linear), ..., ``layers.{num_fcs-1}`` (last Linear).

    Forward: (..., embed_dims) -> (..., embed_dims).
    """

    def __init__(
        self,
        embed_dims: int = 256,
        feedforward_channels: int = 1024,
        num_fcs: int = 2,
        act_cfg: dict = dict(type="ReLU", inplace=True),  # noqa: B006 - never mutated
        ffn_drop: float = 0.0,
        dropout_layer: dict | None = None,
        add_identity: bool = True,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if num_fcs < 2:
            raise ValueError(f"num_fcs should be no less than 2, got {num_fcs}")
        self.embed_dims, self.feedforward_channels, self.num_fcs = embed_dims, feedforward_channels, num_fcs
        layers: list[nn.Module] = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(
                Sequential(
                    nn.Linear(in_channels, feedforward_channels),
                    build_activation_layer(act_cfg),
                    nn.Dropout(ffn_drop),
                )
            )
            in_channels = feedforward_channels
        layers += [nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        out = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out


class AdaptivePadding(nn.Module):
    """Zero padding so that a ``kernel_size`` / ``stride`` / ``dilation`` window covers the whole
    input (MMDetection's ``AdaptivePadding``): ``'corner'`` pads bottom-right, ``'same'`` around.

    Forward: (N, C, H, W) -> (N, C, H', W') with H' = (ceil(H / s) - 1) * s + (k - 1) * d + 1
    (or H when that is smaller).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = 1,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        padding: str = "corner",
    ) -> None:
        super().__init__()
        if padding not in ("same", "corner"):
            raise ValueError(f"padding must be 'same' or 'corner', got {padding!r}")
        self.padding = padding
        self.kernel_size = to_2tuple(kernel_size, "kernel_size")
        self.stride = to_2tuple(stride, "stride")
        self.dilation = to_2tuple(dilation, "dilation")

    def get_pad_shape(self, input_shape: tuple[int, int]) -> tuple[int, int]:
        """(pad_h, pad_w) in pixels for an input of ``(H, W)``."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation, strict=True):
            pads.append(max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape((x.shape[-2], x.shape[-1]))
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == "corner":
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchEmbed(BaseModule):
    """Image to patch tokens with one convolution (MMDetection 2.x's ``PatchEmbed``).

    Module names: ``projection`` (the Conv2d), ``norm`` (optional). ``padding`` is an int/pair
    for the convolution, or ``'corner'`` / ``'same'`` for :class:`AdaptivePadding` (then no
    pixel is dropped when H or W is not a multiple of the stride).

    Forward: (N, C_in, H, W) -> ((N, H_out * W_out, embed_dims), (H_out, W_out)).
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 768,
        conv_type: str = "Conv2d",
        kernel_size: int | tuple[int, int] = 16,
        stride: int | tuple[int, int] | None = 16,
        padding: int | tuple[int, int] | str = "corner",
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        norm_cfg: dict | None = None,
        input_size: int | tuple[int, int] | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if conv_type != "Conv2d":
            raise KeyError(f"PatchEmbed conv_type {conv_type!r} is not supported (Conv2d)")
        self.embed_dims = embed_dims
        stride = kernel_size if stride is None else stride
        self.adap_padding: AdaptivePadding | None = None
        if isinstance(padding, str):
            self.adap_padding = AdaptivePadding(kernel_size, stride, dilation, padding)
            padding = 0
        self.projection = nn.Conv2d(
            in_channels,
            embed_dims,
            kernel_size=to_2tuple(kernel_size, "kernel_size"),
            stride=to_2tuple(stride, "stride"),
            padding=to_2tuple(padding, "padding"),
            dilation=to_2tuple(dilation, "dilation"),
            bias=bias,
        )
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if x.ndim != 4:
            raise ValueError(f"PatchEmbed takes (N, C, H, W) images, got shape {tuple(x.shape)}")
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        hw_shape = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, hw_shape


class PatchMerging(BaseModule):
    """Merge each ``kernel_size`` window of tokens into one (MMDetection 2.x's ``PatchMerging``):
    ``nn.Unfold``, then ``norm`` over the k*k*C_in values, then the linear ``reduction``.

    The unfolded channel order is ``nn.Unfold``'s (channel-major), which is why the official Swin
    checkpoints need :func:`rdet_models.backbones.swin.swin_converter`.

    Forward: ((N, H * W, C_in), (H, W)) -> ((N, H_out * W_out, out_channels), (H_out, W_out)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] | str = "corner",
        dilation: int | tuple[int, int] = 1,
        bias: bool = False,
        norm_cfg: dict | None = dict(type="LN"),  # noqa: B006 - never mutated
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels, self.out_channels = in_channels, out_channels
        stride = stride if stride else kernel_size
        kernel = to_2tuple(kernel_size, "kernel_size")
        self.adap_padding: AdaptivePadding | None = None
        if isinstance(padding, str):
            self.adap_padding = AdaptivePadding(kernel, stride, dilation, padding)
            padding = 0
        self.sampler = nn.Unfold(
            kernel_size=kernel,
            dilation=to_2tuple(dilation, "dilation"),
            padding=to_2tuple(padding, "padding"),
            stride=to_2tuple(stride, "stride"),
        )
        sample_dim = kernel[0] * kernel[1] * in_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        n, length, channels = x.shape
        h, w = hw_shape
        if h * w != length:
            raise ValueError(f"PatchMerging: {length} tokens do not make hw_shape {tuple(hw_shape)}")
        x = x.view(n, h, w, channels).permute(0, 3, 1, 2)
        if self.adap_padding is not None:
            x = self.adap_padding(x)
            h, w = x.shape[-2:]
        x = self.sampler(x)  # (N, k*k*C, L_out)
        sizes = []
        for size, i in ((h, 0), (w, 1)):
            k, s = self.sampler.kernel_size[i], self.sampler.stride[i]
            p, d = self.sampler.padding[i], self.sampler.dilation[i]
            sizes.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        x = x.transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), (sizes[0], sizes[1])
