"""roi_align and RoIAlign: bilinear pooling of axis-aligned RoIs, mmcv's signatures."""

from __future__ import annotations

import torch
from torch import nn

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype, pair
from ._roi_pool_torch import aligned_geom, register_pooling_kernels, roi_pool


def roi_align(
    input: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    pool_mode: str = "avg",
    aligned: bool = True,
) -> torch.Tensor:
    """Bilinear RoIAlign of axis-aligned RoIs, as mmcv.ops.roi_align.

    Args:
        input: (B, C, H, W) features. rois: (R, 5) = (batch_index, x1, y1, x2, y2), image
            pixels, scaled by ``spatial_scale`` to the map.
        output_size: (PH, PW) or an int. sampling_ratio: samples per bin side (0: adaptive).
        pool_mode: 'avg' (compiled) or 'max' (the pure-torch code on every backend).
        aligned: shift by half a pixel (the pixel-model fix).

    Returns:
        (R, C, PH, PW), differentiable w.r.t. ``input``.
    """
    check_tensor("input", input, ndim=4)
    check_tensor("rois", rois, ndim=2, last=5)
    check_floating("input", input)
    check_floating("rois", rois)
    check_same_device(input=input, rois=rois)
    if pool_mode not in ("avg", "max"):
        raise ValueError(f"pool_mode must be 'avg' or 'max', got {pool_mode!r}")
    ph, pw = pair(output_size, "output_size")
    dtype = compute_dtype(input)
    x, r = input.to(dtype), rois.detach().to(dtype)
    if int(sampling_ratio) < 0:
        raise ValueError(
            f"sampling_ratio must be >= 0 (0: adaptive, at most 64 per bin side), got {sampling_ratio}"
        )
    args = (ph, pw, float(spatial_scale), int(sampling_ratio), bool(aligned))
    if pool_mode == "avg" and _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.roi_align(x, r, *args)
    else:
        out = roi_align_torch(x, r, *args, pool_mode=pool_mode)
    return out.to(input.dtype)


def roi_align_torch(
    input: torch.Tensor,
    rois: torch.Tensor,
    pooled_height: int,
    pooled_width: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
    pool_mode: str = "avg",
) -> torch.Tensor:
    """Pure-torch roi_align (the compiled op's arguments, plus pool_mode)."""
    pooled = (pooled_height, pooled_width)
    g = aligned_geom(rois.detach(), input.shape[0], spatial_scale, pooled, sampling_ratio, aligned)
    return roi_pool(input, g, pooled, pool_mode)


class RoIAlign(nn.Module):
    """Module form of roi_align (mmcv's RoIAlign; ``use_torchvision`` is accepted and ignored)."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        pool_mode: str = "avg",
        aligned: bool = True,
        use_torchvision: bool = False,
    ) -> None:
        super().__init__()
        self.output_size = pair(output_size, "output_size")
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(
            input,
            rois,
            self.output_size,
            self.spatial_scale,
            self.sampling_ratio,
            self.pool_mode,
            self.aligned,
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, pool_mode={self.pool_mode!r}, aligned={self.aligned}"
        )


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled ops."""
    register_pooling_kernels("roi_align")
