"""``LayerNorm2d`` (mmcls 0.x's ``LN2d``): LayerNorm over the channels of (N, C, H, W) maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over C at every pixel of an (N, C, H, W) map; parameters ``weight`` and ``bias``
    of shape (C,), as ``nn.LayerNorm(C)`` (so mmcls's checkpoints load unchanged).

    Forward: (N, C, H, W) -> (N, C, H, W), each pixel's C values normalised to mean 0 and
    variance 1 (biased), then scaled by ``weight`` and shifted by ``bias``.
    """

    def __init__(self, num_channels: int, **kwargs: object) -> None:
        super().__init__(num_channels, **kwargs)  # type: ignore[arg-type]
        self.num_channels = self.normalized_shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"LayerNorm2d({self.num_channels}) takes (N, {self.num_channels}, H, W) maps, "
                f"got shape {tuple(x.shape)}"
            )
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
