"""``MlvlPointGenerator``: MMDetection 2.x's grid of points per feature level (anchor-free heads)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rdet_models.anchors.utils import grid_size
from rdet_models.registry import PRIOR_GENERATORS

__all__ = ["MlvlPointGenerator"]


def _pair(x: int | float | Sequence[int | float]) -> tuple:
    return tuple(x) if isinstance(x, Sequence) else (x, x)


@PRIOR_GENERATORS.register_module()
class MlvlPointGenerator:
    """One point per feature-map cell: ``((x + offset) * stride_w, (y + offset) * stride_h)``, pixels.

    Args:
        strides: per level, the stride (px) or a pair ``(stride_w, stride_h)``.
        offset: the point's position in its cell, in strides (0.5: the centre).
    """

    def __init__(self, strides: Sequence[int | Sequence[int]], offset: float = 0.5) -> None:
        self.strides = [_pair(s) for s in strides]
        self.offset = offset

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> list[int]:
        return [1 for _ in self.strides]

    def single_level_grid_priors(
        self,
        featmap_size: Sequence[int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
        with_stride: bool = False,
    ) -> torch.Tensor:
        """(H*W, 2) points ``(x, y)`` row-major (y outer), or (H*W, 4) with the strides appended."""
        feat_h, feat_w = grid_size(featmap_size)
        stride_w, stride_h = self.strides[level_idx]
        shift_x = ((torch.arange(0, feat_w, device=device) + self.offset) * stride_w).to(dtype)
        shift_y = ((torch.arange(0, feat_h, device=device) + self.offset) * stride_h).to(dtype)
        xx = shift_x.repeat(shift_y.shape[0])
        yy = shift_y.view(-1, 1).repeat(1, shift_x.shape[0]).view(-1)
        if not with_stride:
            return torch.stack([xx, yy], dim=-1)
        sw = xx.new_full((xx.shape[0],), stride_w).to(dtype)
        sh = xx.new_full((yy.shape[0],), stride_h).to(dtype)
        return torch.stack([xx, yy, sw, sh], dim=-1)

    def grid_priors(
        self,
        featmap_sizes: Sequence[Sequence[int]],
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
        with_stride: bool = False,
    ) -> list[torch.Tensor]:
        """Per level, the (H_l*W_l, 2) points (see ``single_level_grid_priors``)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} point levels")
        return [
            self.single_level_grid_priors(featmap_sizes[i], i, dtype, device, with_stride)
            for i in range(self.num_levels)
        ]

    def valid_flags(
        self,
        featmap_sizes: Sequence[Sequence[int]],
        pad_shape: Sequence[int],
        device: str | torch.device = "cuda",
    ) -> list[torch.Tensor]:
        """Per level, (H_l*W_l,) flags of the points that fall inside the padded image."""
        flags = []
        for i, (h, w) in enumerate(featmap_sizes):
            sw, sh = self.strides[i]
            vh, vw = min(int(-(-pad_shape[0] // sh)), int(h)), min(int(-(-pad_shape[1] // sw)), int(w))
            vx = torch.zeros(int(w), dtype=torch.bool, device=device)
            vy = torch.zeros(int(h), dtype=torch.bool, device=device)
            vx[:vw], vy[:vh] = True, True
            flags.append((vy[:, None] & vx[None, :]).reshape(-1))
        return flags

    def __repr__(self) -> str:
        return f"MlvlPointGenerator(strides={self.strides}, offset={self.offset})"
