"""mmcv's ``Scale``: a learnable scalar factor (state-dict key ``scale``)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Scale"]


class Scale(nn.Module):
    """``x * scale``, ``scale`` a learnable 0-d float32 parameter (initially ``scale``)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape -> the same shape."""
        return x * self.scale
