"""Channels-last (NHWC) weights for faster CPU convolutions: float32 inference, and mixed-precision
(bf16 / fp16) inference and training, where oneDNN's half-precision kernels want NHWC. (Float32
training on the CPU is faster in NCHW: oneDNN's NHWC convolution backward is the slower one.)"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["convs_to_channels_last"]


def convs_to_channels_last(model: nn.Module) -> nn.Module:
    """Store the 4-d weight of every ``nn.Conv2d`` in channels-last order (in place; returns ``model``).

    A convolution whose weight is channels-last returns a channels-last map, so the feature
    maps of the backbone, neck and heads follow: oneDNN's NHWC kernels are faster on the CPU.
    Values do not change, only strides. Unlike ``model.to(memory_format=torch.channels_last)``
    this leaves other parameters alone (S2A-Net's ORConv2d keeps a 5-d weight, which that call
    rejects).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.weight.ndim == 4:
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return model
