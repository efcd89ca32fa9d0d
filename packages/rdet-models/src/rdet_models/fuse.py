"""Fold batch normalisation into the convolution before it, for inference (``--fuse-conv-bn``).

In eval mode ``bn(conv(x))`` is an affine map of ``conv(x)`` per output channel, so it equals a
convolution with weight ``w * g / s`` and bias ``(b - mean) * g / s + beta`` (``s = sqrt(var +
eps)``): one pass over the feature map instead of two. MMCV's ``fuse_conv_bn`` pairs each
BatchNorm with the last ``nn.Conv2d`` registered before it, which is wrong wherever the
registration order is not the order of execution (a ``ConvModule`` with ``order=('norm',
'conv', 'act')`` registers its conv first and normalises *before* it). Here a pair is fused only
where the order is known: consecutive children of an ``nn.Sequential``, and the pairs a module
declares through ``conv_bn_pairs()`` (``ConvModule`` with the norm after the conv, the ResNet
blocks and stem). Everything else is left as it is.

The same fold runs on the fly wherever a BatchNorm is in eval mode while its conv runs
(:func:`conv_norm`, :func:`sequential_forward`): frozen stages and ``norm_eval=True`` during
training (MMRotate's configs all train their ResNet so), and inference without ``--fuse-conv-bn``.
The folded weight is computed from the current parameters at every call, so gradients reach the
conv weight and the norm's affine parameters exactly as through ``bn(conv(x))``; the state dict
is untouched.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["conv_norm", "folded_weight_bias", "fuse_conv_bn", "fused_conv", "sequential_forward"]

_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)


def folded_weight_bias(
    conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight ``w * g / s`` (C_out, C_in / groups, kH, kW) and bias ``(b - mean) * g / s +
    beta`` (C_out,) of the one convolution computing ``bn(conv(x))`` with ``bn``'s running
    statistics (``s = sqrt(var + eps)``); ``dtype``: compute in it (default: the parameters').
    Differentiable in ``w``, ``b``, ``g`` and ``beta``."""

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t if dtype is None else t.to(dtype)

    scale = torch.rsqrt(cast(bn.running_var) + bn.eps)
    if bn.weight is not None:
        scale = cast(bn.weight) * scale
    bias = -cast(bn.running_mean) * scale
    if conv.bias is not None:
        bias = bias + cast(conv.bias) * scale
    if bn.bias is not None:
        bias = bias + cast(bn.bias)
    return cast(conv.weight) * scale.reshape(-1, 1, 1, 1), bias


def fused_conv(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> nn.Conv2d:
    """A new ``nn.Conv2d`` computing ``bn(conv(x))`` with ``bn`` in eval mode (running statistics).

    Raises:
        ValueError: ``bn`` has no running statistics, or its channels are not the conv's outputs.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fuse a BatchNorm without running statistics (track_running_stats=False)")
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"BatchNorm of {bn.num_features} channels after a conv of {conv.out_channels} outputs"
        )
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        weight, bias = folded_weight_bias(conv, bn, torch.float64)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
    return fused


def _declared_pairs(module: nn.Module) -> Iterator[tuple[str, str]]:
    pairs = getattr(module, "conv_bn_pairs", None)
    if callable(pairs):
        yield from pairs()
    if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        names = list(module._modules)
        yield from zip(names, names[1:])


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows an ``nn.Conv2d`` into it (in place; returns
    ``module``). The BatchNorm becomes ``nn.Identity``, so the state dict loses its keys: load
    checkpoints first, fuse last, and only for inference.

    Raises:
        RuntimeError: ``module`` is in training mode (BatchNorm would use batch statistics).
    """
    if module.training:
        raise RuntimeError("fuse_conv_bn is for inference: call model.eval() first")
    for parent in list(module.modules()):
        for conv_name, bn_name in list(_declared_pairs(parent)):
            conv, bn = parent._modules.get(conv_name), parent._modules.get(bn_name)
            if type(conv) is nn.Conv2d and isinstance(bn, _BN):
                parent._modules[conv_name] = fused_conv(conv, bn)
                parent._modules[bn_name] = nn.Identity()
    return module


def _plain(module: nn.Module) -> bool:
    """No hooks that ``forward`` would run (spectral norm, quantisation observers ...)."""
    return not (module._forward_pre_hooks or module._forward_hooks)


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    return (
        type(conv) is nn.Conv2d
        and isinstance(norm, _BN)
        and not norm.training
        and norm.running_mean is not None
        and norm.running_var is not None
        and _plain(conv)
        and _plain(norm)
    )


def conv_norm(conv: nn.Module, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``norm(conv(x))``. With ``norm`` a BatchNorm in eval mode (running statistics) after a
    plain ``nn.Conv2d``: one convolution with weight ``w * g / s`` and bias ``(b - mean) * g / s
    + beta`` (``s = sqrt(var + eps)``), computed from the current parameters, so the result
    matches to float rounding and gradients reach ``w``, ``g`` and ``beta`` as through the two
    modules. The fold saves a pass over the output forward and two backward: measured 1.10-1.13x
    on an Oriented R-CNN R50 training step (norm_eval) on one CPU thread.

    Args:
        x: (N, C_in, H, W). Returns (N, C_out, H', W').
    """
    if not _foldable(conv, norm):
        return norm(conv(x))
    return conv._conv_forward(x, *folded_weight_bias(conv, norm))


def sequential_forward(sequential: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``sequential(x)`` with each ``nn.Conv2d`` followed directly by an eval-mode BatchNorm run
    as one folded convolution (:func:`conv_norm`)."""
    layers = list(sequential)
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and _foldable(layers[i], layers[i + 1]):
            x = conv_norm(layers[i], layers[i + 1], x)
            i += 2
        else:
            x = layers[i](x)
            i += 1
    return x
