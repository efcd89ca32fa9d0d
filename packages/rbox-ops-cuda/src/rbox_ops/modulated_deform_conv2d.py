"""modulated_deform_conv2d, ModulatedDeformConv2d and ModulatedDeformConv2dPack: modulated deformable
convolution (DCNv2), mmcv 1.7's signatures, mask layout and state dicts.

deform_conv2d's kernels with a mask: the compiled op is registered by ``csrc/deform_conv2d/`` (one
implementation for both, ``_ops.HOSTED``), and the pure-torch code is ``deform_conv2d_torch`` with a
mask and a bias.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype
from .deform_conv2d import _load_old_offset_keys, check_deform_args, conv_settings, deform_conv2d_torch


def modulated_deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    deform_groups: int = 1,
) -> torch.Tensor:
    """Modulated deformable convolution (DCNv2), as mmcv.ops.modulated_deform_conv2d.

    Args:
        input: (N, C, H, W). weight: (C_out, C / groups, kh, kw). bias: (C_out,) or None.
        offset: (N, 2 * deform_groups * kh * kw, H_out, W_out), deform_conv2d's layout: for deform
            group g and kernel point k = i * kw + j, channel 2 * (g * kh * kw + k) is the dy and the
            next one the dx. Samples are bilinear, zero outside the map.
        mask: (N, deform_groups * kh * kw, H_out, W_out): channel g * kh * kw + k multiplies the
            sample of kernel point k in deform group g (mmcv's layout; a Pack's sigmoid output).
        stride, padding, dilation: an int or a pair (h, w). groups: as nn.Conv2d; deform_groups:
            channel groups with offsets and masks of their own (C divisible by both).

    Returns:
        (N, C_out, H_out, W_out), the dtype of ``input`` (half and bfloat16 run in float32; offset,
        mask, weight and bias of another floating dtype are cast). Differentiable w.r.t. ``input``,
        ``offset``, ``mask``, ``weight`` and ``bias``.
    """
    args = check_deform_args(input, offset, weight, stride, padding, dilation, groups, deform_groups)
    n, (kh, kw), (ho, wo) = input.shape[0], weight.shape[2:], offset.shape[2:]
    check_tensor("mask", mask)
    check_floating("mask", mask)
    check_same_device(input=input, mask=mask)
    want = (n, args[-1] * kh * kw, ho, wo)
    if tuple(mask.shape) != want:
        raise ValueError(
            f"mask must have shape {want} (N, deform_groups * kh * kw, H_out, W_out) for a {kh}x{kw} kernel "
            f"and deform_groups={args[-1]}, got {tuple(mask.shape)}"
        )
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
        check_floating("bias", bias)
        check_same_device(input=input, bias=bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"bias must have shape ({weight.shape[0]},) (C_out,) as weight {tuple(weight.shape)}, "
                f"got {tuple(bias.shape)}"
            )
    dtype = compute_dtype(input)
    x, off, m, wt = input.to(dtype), offset.to(dtype), mask.to(dtype), weight.to(dtype)
    b = None if bias is None else bias.to(dtype)
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.modulated_deform_conv2d(x, off, m, wt, b, *args)
    else:
        out = deform_conv2d_torch(x, off, wt, *args, mask=m, bias=b)
    return out.to(input.dtype)


class ModulatedDeformConv2d(nn.Module):
    """Module form of modulated_deform_conv2d with mmcv 1.7's signature and state dict (``weight``,
    ``bias`` unless bias=False). forward(x, offset, mask), see modulated_deform_conv2d.

    Initialisation as mmcv's: weight uniform in +-1 / sqrt(in_channels * kh * kw), bias zero.
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
        deform_groups: int = 1,
        bias: bool | str = True,
        *,
        deformable_groups: int | None = None,
    ) -> None:
        super().__init__()
        conv_settings(
            self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
            deformable_groups, "ModulatedDeformConv2d",
        )  # fmt: skip
        if bias:  # mmcv: True or 'auto' (ConvModule's) make one
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.init_weights()

    def init_weights(self) -> None:
        stdv = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        with torch.no_grad():
            self.weight.uniform_(-stdv, stdv)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return modulated_deform_conv2d(
            x,
            offset,
            mask,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.deform_groups,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"deform_groups={self.deform_groups}, bias={self.bias is not None}"
        )


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """ModulatedDeformConv2d that predicts its own offsets and mask (mmcv 1.7's
    ``ModulatedDeformConv2dPack``, MMDetection's 'DCNv2').

    ``conv_offset``: nn.Conv2d(in_channels, deform_groups * 3 * kh * kw) with the layer's kernel size,
    stride, padding and dilation, zero-initialised. forward(x): its output in three chunks (dim 1),
    the first two the offset, the third the mask through a sigmoid; so at init the offsets are 0 and
    the mask 0.5. State dict: ``weight``, ``bias``, ``conv_offset.weight``, ``conv_offset.bias``; old
    ``<name>_offset.*`` keys load as mmcv's do.
    """

    _version = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(
            self.in_channels,
            self.deform_groups * 3 * kh * kw,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True,
        )
        self.init_weights()  # again, as mmcv (the same random draws for one seed)

    def init_weights(self) -> None:
        super().init_weights()
        if hasattr(self, "conv_offset"):
            nn.init.zeros_(self.conv_offset.weight)
            nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = self.conv_offset(x)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        mask = torch.sigmoid(mask)
        return modulated_deform_conv2d(
            x,
            offset,
            mask,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.deform_groups,
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs) -> None:
        _load_old_offset_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op (its kernels are deform_conv2d's)."""

    @torch.library.register_fake("rbox_ops::modulated_deform_conv2d")
    def _(input, offset, mask, weight, bias, *params):
        return input.new_empty((input.shape[0], weight.shape[0], offset.shape[2], offset.shape[3]))

    @torch.library.register_fake("rbox_ops::modulated_deform_conv2d_backward")
    def _(grad_output, input, offset, mask, weight, *params):
        return (
            input.new_empty(input.shape),
            offset.new_empty(offset.shape),
            mask.new_empty(mask.shape),
            weight.new_empty(weight.shape),
        )

    def setup_context(ctx, inputs, output):
        input, offset, mask, weight, bias, *params = inputs
        ctx.save_for_backward(input, offset, mask, weight)
        ctx.has_bias = bias is not None
        ctx.params = params

    def backward(ctx, grad):
        input, offset, mask, weight = ctx.saved_tensors
        gi, go, gm, gw = torch.ops.rbox_ops.modulated_deform_conv2d_backward(
            grad, input, offset, mask, weight, *ctx.params
        )
        gb = grad.sum((0, 2, 3)) if ctx.has_bias else None
        return (gi, go, gm, gw, gb, *([None] * len(ctx.params)))

    torch.library.register_autograd(
        "rbox_ops::modulated_deform_conv2d", backward, setup_context=setup_context
    )
