"""Anchor generators: MMDetection's ``AnchorGenerator`` and MMRotate's ``RotatedAnchorGenerator``.

Anchors are laid out as MMDetection does: for each level, positions row-major (y outer,
x inner) and, at each position, the base anchors (ratios outer, scales inner when
``scale_major``). Pixels; a position's anchor centre is ``(x * stride, y * stride)`` plus
``center_offset * stride``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rdet_models.anchors.utils import grid_size
from rdet_models.registry import PRIOR_GENERATORS

__all__ = ["AnchorGenerator", "RotatedAnchorGenerator"]


def _pair(x: int | float | Sequence) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x, x)


@PRIOR_GENERATORS.register_module()
class AnchorGenerator:
    """Horizontal anchors ``(x1, y1, x2, y2)`` for multi-level feature maps (MMDetection 2.x).

    Args:
        strides: per level, int or (stride_w, stride_h), pixels.
        ratios: height / width ratios.
        scales: anchor scales relative to ``base_sizes``; or give ``octave_base_scale`` and
            ``scales_per_octave`` (scales ``octave_base_scale * 2**(i / scales_per_octave)``).
        base_sizes: per level (default: the smaller stride).
        scale_major: order base anchors ratio-major (True) or scale-major.
        centers: per level base-anchor centre; default ``center_offset * base_size``.
    """

    def __init__(
        self,
        strides: Sequence,
        ratios: Sequence[float],
        scales: Sequence[float] | None = None,
        base_sizes: Sequence[int] | None = None,
        scale_major: bool = True,
        octave_base_scale: float | None = None,
        scales_per_octave: int | None = None,
        centers: Sequence[tuple[float, float]] | None = None,
        center_offset: float = 0.0,
    ) -> None:
        if center_offset != 0 and centers is not None:
            raise ValueError("center_offset and centers cannot be set at the same time")
        if not 0 <= center_offset <= 1:
            raise ValueError(f"center_offset must be in [0, 1], got {center_offset}")
        if centers is not None and len(centers) != len(strides):
            raise ValueError("centers must have one entry per stride")
        self.strides = [_pair(s) for s in strides]
        self.base_sizes = [min(s) for s in self.strides] if base_sizes is None else list(base_sizes)
        if len(self.base_sizes) != len(self.strides):
            raise ValueError("base_sizes must have one entry per stride")
        if (scales is not None) == (octave_base_scale is not None and scales_per_octave is not None):
            raise ValueError("give either scales, or octave_base_scale and scales_per_octave")
        if scales is not None:
            self.scales = torch.Tensor(scales)
        else:
            octave = np.array([2 ** (i / scales_per_octave) for i in range(scales_per_octave)])
            self.scales = torch.Tensor(octave * octave_base_scale)
        self.octave_base_scale, self.scales_per_octave = octave_base_scale, scales_per_octave
        self.ratios = torch.Tensor(ratios)
        self.scale_major, self.centers, self.center_offset = scale_major, centers, center_offset
        self.base_anchors = self.gen_base_anchors()

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_anchors(self) -> list[int]:
        """Anchors per position, per level."""
        return [a.size(0) for a in self.base_anchors]

    num_base_priors = num_base_anchors

    def gen_base_anchors(self) -> list[torch.Tensor]:
        return [
            self.gen_single_level_base_anchors(
                size, self.scales, self.ratios, None if self.centers is None else self.centers[i]
            )
            for i, size in enumerate(self.base_sizes)
        ]

    def gen_single_level_base_anchors(
        self, base_size: float, scales: torch.Tensor, ratios: torch.Tensor, center: tuple | None = None
    ) -> torch.Tensor:
        """(len(ratios) * len(scales), 4) anchors around one position."""
        w = h = base_size
        if center is None:
            x_center, y_center = self.center_offset * w, self.center_offset * h
        else:
            x_center, y_center = center
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * scales[None, :]).view(-1)
        else:
            ws = (w * scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * scales[:, None] * h_ratios[None, :]).view(-1)
        return torch.stack(
            [x_center - 0.5 * ws, y_center - 0.5 * hs, x_center + 0.5 * ws, y_center + 0.5 * hs], dim=-1
        )

    @staticmethod
    def _meshgrid(
        x: torch.Tensor, y: torch.Tensor, row_major: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        xx = x.repeat(y.shape[0])
        yy = y.view(-1, 1).repeat(1, x.shape[0]).view(-1)
        return (xx, yy) if row_major else (yy, xx)

    def grid_priors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
    ) -> list[torch.Tensor]:
        """Anchors of every level: list of (H_i * W_i * A, 4) (or 5 for rotated)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} anchor levels")
        return [
            self.single_level_grid_priors(featmap_sizes[i], i, dtype=dtype, device=device)
            for i in range(self.num_levels)
        ]

    def grid_anchors(
        self, featmap_sizes: Sequence[tuple[int, int]], device: str | torch.device = "cuda"
    ) -> list[torch.Tensor]:
        """Deprecated name of :meth:`grid_priors`."""
        return self.grid_priors(featmap_sizes, device=device)

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
    ) -> torch.Tensor:
        """(H * W * A, 4) anchors of one level, (x1, y1, x2, y2) pixels."""
        base = self.base_anchors[level_idx].to(device).to(dtype)
        feat_h, feat_w = grid_size(featmap_size)
        stride_w, stride_h = self.strides[level_idx]
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride_w
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride_h
        xx, yy = self._meshgrid(shift_x, shift_y)
        shifts = torch.stack([xx, yy, xx, yy], dim=-1)
        return (base[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def valid_flags(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        pad_shape: Sequence[int],
        device: str | torch.device = "cuda",
    ) -> list[torch.Tensor]:
        """Per level, (H * W * A,) bool: the anchor's position lies inside the padded image."""
        flags = []
        h, w = pad_shape[:2]
        for i in range(self.num_levels):
            stride_w, stride_h = self.strides[i]
            feat_h, feat_w = (int(v) for v in featmap_sizes[i])
            valid_h = min(int(np.ceil(h / stride_h)), feat_h)
            valid_w = min(int(np.ceil(w / stride_w)), feat_w)
            flags.append(
                self.single_level_valid_flags(
                    (feat_h, feat_w), (valid_h, valid_w), self.num_base_anchors[i], device=device
                )
            )
        return flags

    def single_level_valid_flags(
        self,
        featmap_size: tuple[int, int],
        valid_size: tuple[int, int],
        num_base_anchors: int,
        device: str | torch.device = "cuda",
    ) -> torch.Tensor:
        feat_h, feat_w = featmap_size
        valid_h, valid_w = valid_size
        valid_x = torch.zeros(feat_w, dtype=torch.bool, device=device)
        valid_y = torch.zeros(feat_h, dtype=torch.bool, device=device)
        valid_x[:valid_w] = 1
        valid_y[:valid_h] = 1
        vx, vy = self._meshgrid(valid_x, valid_y)
        valid = vx & vy
        return valid[:, None].expand(valid.size(0), num_base_anchors).contiguous().view(-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(strides={self.strides}, ratios={self.ratios.tolist()}, "
            f"scales={[round(s, 4) for s in self.scales.tolist()]}, base_sizes={self.base_sizes})"
        )


@PRIOR_GENERATORS.register_module()
class RotatedAnchorGenerator(AnchorGenerator):
    """MMRotate's "fake" rotated anchors: the horizontal anchors as ``(cx, cy, w, h, 0)``."""

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
    ) -> torch.Tensor:
        """(H * W * A, 5) anchors ``(cx, cy, w, h, theta=0)``: pixels, radians."""
        anchors = super().single_level_grid_priors(featmap_size, level_idx, dtype, device)
        xy = (anchors[:, 2:] + anchors[:, :2]) / 2
        wh = anchors[:, 2:] - anchors[:, :2]
        theta = xy.new_zeros((anchors.shape[0], 1))
        return torch.cat([xy, wh, theta], dim=1)


@PRIOR_GENERATORS.register_module()
class PseudoAnchorGenerator(AnchorGenerator):
    """The anchor generator of refine heads (S2A-Net's ODM, R3Det's refine stages): their anchors
    are the previous stage's boxes (``rois``), so it gives only valid flags, one anchor per
    position. Asking it for anchors is an error."""

    def __init__(self, strides: Sequence) -> None:  # no base anchors: super().__init__ not called
        self.strides = [_pair(s) for s in strides]

    @property
    def num_base_anchors(self) -> list[int]:
        return [1 for _ in self.strides]

    num_base_priors = num_base_anchors

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cuda",
    ) -> torch.Tensor:
        raise TypeError(
            "PseudoAnchorGenerator has no anchors: a refine head takes the previous stage's boxes "
            "as anchors (pass rois=...)"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strides={self.strides})"
