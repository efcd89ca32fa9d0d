"""A small convolutional backbone: (N, 3, H, W) -> feature maps at strides 2, 4, 8, 16."""

from __future__ import annotations

import torch
from torch import nn


class TinyConvBackbone(nn.Module):
    """Four stride-2 conv-BN-ReLU stages; returns the maps of ``out_indices`` as a tuple.

    Args:
        in_channels: Input channels.
        base_channels: Channels of the first stage; each next stage doubles them.
        out_indices: Which of the stages 0..3 to return.
    """

    def __init__(
        self, in_channels: int = 3, base_channels: int = 8, out_indices: tuple[int, ...] = (0, 1, 2, 3)
    ) -> None:
        super().__init__()
        if not all(0 <= i < 4 for i in out_indices):
            raise ValueError(f"out_indices must lie in 0..3, got {out_indices}")
        self.out_indices = tuple(out_indices)
        layers, channels = [], in_channels
        for stage in range(4):
            out = base_channels * 2**stage
            layers.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)
                )
            )
            channels = out
        self.stages = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.dim() != 4:
            raise ValueError(f"TinyConvBackbone takes (N, C, H, W) images, got shape {tuple(x.shape)}")
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
