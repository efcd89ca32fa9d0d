"""RotationInvariantPooling: the max over each plane's orientation channels (MMRotate's, S2A-Net)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RotationInvariantPooling"]


class RotationInvariantPooling(nn.Module):
    """(N, C * nOrientation, H, W) -> (N, C, H, W): channel c is the max of channels
    ``c * nOrientation ... c * nOrientation + nOrientation - 1`` (ORConv2d's rotations of filter c),
    so it does not depend on their order. ``nInputPlane`` is kept for MMRotate's signature."""

    def __init__(self, nInputPlane: int, nOrientation: int = 8) -> None:
        super().__init__()
        if not isinstance(nOrientation, int) or nOrientation < 1:
            raise ValueError(f"nOrientation must be a positive int, got {nOrientation!r}")
        self.nInputPlane = nInputPlane
        self.nOrientation = nOrientation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a (N, C, H, W) tensor, got {shape}")
        n, c, h, w = x.shape
        if c % self.nOrientation:
            raise ValueError(f"x has {c} channels, not a multiple of nOrientation={self.nOrientation}")
        # max (not amax): the gradient goes to one maximum, as MMRotate's
        return x.reshape(n, c // self.nOrientation, self.nOrientation, h, w).max(dim=2).values

    def extra_repr(self) -> str:
        return f"nInputPlane={self.nInputPlane}, nOrientation={self.nOrientation}"
