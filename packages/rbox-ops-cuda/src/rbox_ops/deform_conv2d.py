"""deform_conv2d, DeformConv2d and DeformConv2dPack: deformable convolution (v1), mmcv 1.7's signatures,
offset layout and state dicts. The modulated form (v2) is modulated_deform_conv2d.py, on the same kernels."""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype, pair


def _pair_min(value: int | tuple[int, int] | list[int], name: str, least: int) -> tuple[int, int]:
    """An int or a pair of ints (PyTorch's _pair), each >= ``least``."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    out = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 2 or min(out) < least:
        kind = "positive" if least > 0 else "non-negative"
        raise ValueError(f"{name} must be a {kind} int or a pair of them, got {value!r}")
    return out  # type: ignore[return-value]


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def check_deform_args(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    groups: int,
    deform_groups: int,
) -> tuple[int, int, int, int, int, int, int, int]:
    """The checks that deform_conv2d and modulated_deform_conv2d share: clear errors naming the
    argument. Returns the compiled ops' trailing arguments (stride_h, stride_w, pad_h, pad_w,
    dilation_h, dilation_w, groups, deform_groups)."""
    check_tensor("input", input, ndim=4)
    check_tensor("offset", offset, ndim=4)
    check_tensor("weight", weight, ndim=4)
    check_floating("input", input)
    check_floating("offset", offset)
    check_floating("weight", weight)
    check_same_device(input=input, offset=offset, weight=weight)
    sh, sw = pair(stride, "stride")
    ph, pw = _pair_min(padding, "padding", 0)
    dh, dw = pair(dilation, "dilation")
    groups, deform_groups = int(groups), int(deform_groups)
    if groups <= 0 or deform_groups <= 0:
        raise ValueError(f"groups and deform_groups must be positive, got {groups} and {deform_groups}")
    n, c, h, w = input.shape
    c_out, c_g, kh, kw = weight.shape
    if c % groups or c_out % groups:
        raise ValueError(
            f"input channels ({c}) and weight's output channels ({c_out}) must be divisible by groups ({groups})"
        )
    if c_g * groups != c:
        raise ValueError(
            f"weight must have shape ({c_out}, {c // groups}, kh, kw) for groups={groups}, got {tuple(weight.shape)}"
        )
    if c % deform_groups:
        raise ValueError(f"input channels ({c}) must be divisible by deform_groups ({deform_groups})")
    ho, wo = _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw)
    if ho <= 0 or wo <= 0:
        raise ValueError(f"input {tuple(input.shape)} is too small for a {kh}x{kw} kernel (output {ho}x{wo})")
    want = (n, 2 * deform_groups * kh * kw, ho, wo)
    if tuple(offset.shape) != want:
        raise ValueError(
            f"offset must have shape {want} (N, 2 * deform_groups * kh * kw, H_out, W_out) for a {kh}x{kw} kernel "
            f"and deform_groups={deform_groups}, got {tuple(offset.shape)}"
        )
    return (sh, sw, ph, pw, dh, dw, groups, deform_groups)


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    deform_groups: int = 1,
    bias: bool = False,
    im2col_step: int = 32,
) -> torch.Tensor:
    """Deformable convolution, as mmcv.ops.deform_conv2d (no bias).

    Args:
        input: (N, C, H, W). weight: (C_out, C / groups, kh, kw).
        offset: (N, 2 * deform_groups * kh * kw, H_out, W_out): for deform group g and kernel
            point k = i * kw + j, channel 2 * (g * kh * kw + k) is the dy and the next one the dx
            added to the sampling point (ho * stride - pad + i * dilation, wo * stride - pad +
            j * dilation). Samples are bilinear, zero outside the map.
        stride, padding, dilation: an int or a pair (h, w). groups: as nn.Conv2d; deform_groups:
            channel groups with offsets of their own (C divisible by both).
        bias: must be False (mmcv's has none either). im2col_step: accepted for mmcv's
            signature; the kernels choose their own batching (results do not depend on it).

    Returns:
        (N, C_out, H_out, W_out), the dtype of ``input`` (half and bfloat16 run in float32).
        Differentiable w.r.t. ``input``, ``offset`` and ``weight``.
    """
    if bias:
        raise ValueError("deform_conv2d has no bias (bias=False only, as mmcv)")
    args = check_deform_args(input, offset, weight, stride, padding, dilation, groups, deform_groups)
    dtype = compute_dtype(input)
    x, off, wt = input.to(dtype), offset.to(dtype), weight.to(dtype)
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.deform_conv2d(x, off, wt, *args)
    else:
        out = deform_conv2d_torch(x, off, wt, *args)
    return out.to(input.dtype)


def deform_conv2d_torch(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    stride_h: int,
    stride_w: int,
    pad_h: int,
    pad_w: int,
    dilation_h: int,
    dilation_w: int,
    groups: int,
    deform_groups: int,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pure-torch deform_conv2d (the compiled op's arguments): the columns by four gathers, then a
    matmul per group; differentiable by autograd. Same sampling as csrc/common/deform_sampling.h.

    With ``mask`` (N, deform_groups * kh * kw, H_out, W_out) and ``bias`` (C_out,) or None, it is
    modulated_deform_conv2d: each sample times its mask value, the bias added to the output."""
    n, c, h, w = input.shape
    c_out, c_g, kh, kw = weight.shape
    _, _, ho, wo = offset.shape
    k, size, dg = kh * kw, ho * wo, deform_groups
    dev, dt = input.device, input.dtype
    # base sampling point of kernel point (i, j) at output pixel (ho, wo): (1, 1, K, H_out, W_out)
    ki = torch.arange(kh, device=dev, dtype=dt).repeat_interleave(kw) * dilation_h
    kj = torch.arange(kw, device=dev, dtype=dt).repeat(kh) * dilation_w
    oy = torch.arange(ho, device=dev, dtype=dt) * stride_h - pad_h
    ox = torch.arange(wo, device=dev, dtype=dt) * stride_w - pad_w
    off = offset.view(n, dg, k, 2, ho, wo)
    y = (ki.view(1, 1, k, 1, 1) + oy.view(1, 1, 1, ho, 1) + off[:, :, :, 0]).reshape(n, dg, 1, k * size)
    x = (kj.view(1, 1, k, 1, 1) + ox.view(1, 1, 1, 1, wo) + off[:, :, :, 1]).reshape(n, dg, 1, k * size)
    inside = (y > -1) & (x > -1) & (y < h) & (x < w)  # False for NaN
    y = torch.where(inside, y, torch.full_like(y, -2))  # keeps NaN out of the weights and their gradients
    x = torch.where(inside, x, torch.full_like(x, -2))
    y0, x0 = torch.floor(y).detach(), torch.floor(x).detach()
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    feats = input.reshape(n, dg, c // dg, h * w)
    cols = None
    for ty, tx, tw in (
        (y0, x0, hy * hx),
        (y0, x0 + 1, hy * lx),
        (y0 + 1, x0, ly * hx),
        (y0 + 1, x0 + 1, ly * lx),
    ):
        on_map = inside & (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        idx = torch.where(on_map, ty * w + tx, torch.zeros_like(ty)).long()
        vals = feats.gather(3, idx.expand(n, dg, c // dg, k * size))
        term = vals * torch.where(on_map, tw, torch.zeros_like(tw))
        cols = term if cols is None else cols + term
    if mask is not None:  # mask channel dg * K + k: the same (dg, k, l) order as the samples
        cols = cols * mask.reshape(n, dg, 1, k * size)
    # (N, C, K, L) -> per group (C / G * K, L), channel-major as the weight's (C / G, kh, kw)
    cols = cols.reshape(n, groups, c_g * k, size)
    out = torch.matmul(weight.reshape(groups, c_out // groups, c_g * k), cols).reshape(n, c_out, ho, wo)
    return out if bias is None else out + bias.view(1, c_out, 1, 1)


def conv_settings(
    module: nn.Module,
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    groups: int,
    deform_groups: int,
    deformable_groups: int | None,
    name: str,
) -> None:
    """What mmcv's DeformConv2d and ModulatedDeformConv2d constructors share: the argument checks,
    the attributes (as ``nn.Conv2d``'s, with ``transposed`` and ``output_padding``) and an
    uninitialised ``weight`` (C_out, C_in / groups, kh, kw). ``deformable_groups``: mmcv's
    deprecated name of ``deform_groups`` (a DeprecationWarning naming ``name``, as mmcv's)."""
    if deformable_groups is not None:
        warnings.warn(
            f'"deformable_groups" is deprecated in {name}, please use "deform_groups" instead',
            DeprecationWarning,
            stacklevel=3,
        )
        deform_groups = deformable_groups
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})"
        )
    if in_channels % deform_groups:
        raise ValueError(f"in_channels ({in_channels}) must be divisible by deform_groups ({deform_groups})")
    module.in_channels = in_channels
    module.out_channels = out_channels
    module.kernel_size = pair(kernel_size, "kernel_size")
    module.stride = pair(stride, "stride")
    module.padding = _pair_min(padding, "padding", 0)
    module.dilation = pair(dilation, "dilation")
    module.groups = groups
    module.deform_groups = deform_groups
    module.transposed = False  # compatibility with nn.Conv2d, as mmcv
    module.output_padding = (0,)
    module.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *module.kernel_size))


class DeformConv2d(nn.Module):
    """Module form of deform_conv2d with mmcv 1.7's signature and state dict (``weight``, no bias).

    forward(x, offset): offset (N, 2 * deform_groups * kh * kw, H_out, W_out), see deform_conv2d.
    An input smaller than the kernel is zero-padded at the bottom/right first and the output
    cropped back, as mmcv's module does.
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
        bias: bool = False,
        im2col_step: int = 32,
        *,
        deformable_groups: int | None = None,
    ) -> None:
        super().__init__()
        if bias:
            raise ValueError(f"bias={bias} is not supported in DeformConv2d")
        conv_settings(
            self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
            deformable_groups, "DeformConv2d",
        )  # fmt: skip
        self.im2col_step = im2col_step
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")  # as mmcv

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        pad_h = max(self.kernel_size[0] - x.size(2), 0)
        pad_w = max(self.kernel_size[1] - x.size(3), 0)
        if pad_h or pad_w:  # an input smaller than the kernel, as mmcv
            x = F.pad(x, (0, pad_w, 0, pad_h), "constant", 0)
            offset = F.pad(offset, (0, pad_w, 0, pad_h), "constant", 0)
        out = deform_conv2d(
            x, offset, self.weight, self.stride, self.padding, self.dilation, self.groups, self.deform_groups
        )
        if pad_h or pad_w:
            out = out[:, :, : out.size(2) - pad_h, : out.size(3) - pad_w].contiguous()
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"deform_groups={self.deform_groups}, bias=False"
        )


def _load_old_offset_keys(state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """mmcv's upgrade of a version < 2 Pack (DeformConvPack / ModulatedDeformConvPack): the offset conv
    of old benchmark models is the sibling ``<name>_offset.{weight,bias}`` (e.g. mmdet 1.x's ResNet
    ``layer1.0.conv2_offset``), which becomes ``<name>.conv_offset.*``. A key already present wins."""
    version = local_metadata.get("version")
    if version is not None and version >= 2:
        return
    for name in ("weight", "bias"):
        new, old = f"{prefix}conv_offset.{name}", f"{prefix[:-1]}_offset.{name}"
        if new not in state_dict and old in state_dict:
            state_dict[new] = state_dict.pop(old)


class DeformConv2dPack(DeformConv2d):
    """DeformConv2d that predicts its own offsets (mmcv 1.7's ``DeformConv2dPack``, MMDetection's
    'DCN'): ``conv_offset``, an nn.Conv2d(in_channels, deform_groups * 2 * kh * kw) with the layer's
    kernel size, stride, padding and dilation, zero-initialised (the layer starts as a plain
    convolution). forward(x) = deform_conv2d(x, conv_offset(x), weight, ...). State dict: ``weight``,
    ``conv_offset.weight``, ``conv_offset.bias``; old ``<name>_offset.*`` keys load as mmcv's do.
    """

    _version = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(
            self.in_channels,
            self.deform_groups * 2 * kh * kw,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True,
        )
        self.init_offset()

    def init_offset(self) -> None:
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        offset = self.conv_offset(x)
        return deform_conv2d(
            x, offset, self.weight, self.stride, self.padding, self.dilation, self.groups, self.deform_groups
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs) -> None:
        _load_old_offset_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op."""

    @torch.library.register_fake("rbox_ops::deform_conv2d")
    def _(
        input, offset, weight, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, deform_groups
    ):
        return input.new_empty((input.shape[0], weight.shape[0], offset.shape[2], offset.shape[3]))

    @torch.library.register_fake("rbox_ops::deform_conv2d_backward")
    def _(grad_output, input, offset, weight, *params):
        return input.new_empty(input.shape), offset.new_empty(offset.shape), weight.new_empty(weight.shape)

    def setup_context(ctx, inputs, output):
        input, offset, weight, *params = inputs
        ctx.save_for_backward(input, offset, weight)
        ctx.params = params

    def backward(ctx, grad):
        input, offset, weight = ctx.saved_tensors
        gi, go, gw = torch.ops.rbox_ops.deform_conv2d_backward(grad, input, offset, weight, *ctx.params)
        return (gi, go, gw, *([None] * len(ctx.params)))

    torch.library.register_autograd("rbox_ops::deform_conv2d", backward, setup_context=setup_context)
