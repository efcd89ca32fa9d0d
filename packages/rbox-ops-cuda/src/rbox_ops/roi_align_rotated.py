"""roi_align_rotated and RoIAlignRotated: bilinear pooling of rotated RoIs, mmcv's signatures."""

from __future__ import annotations

import torch
from torch import nn

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype, pair
from ._roi_pool_torch import register_pooling_kernels, roi_pool, rotated_geom


def roi_align_rotated(
    input: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    aligned: bool = True,
    clockwise: bool = False,
) -> torch.Tensor:
    """Average of bilinear samples in each bin of rotated RoIs, as mmcv.ops.roi_align_rotated.

    Args:
        input: (B, C, H, W) features. rois: (R, 6) = (batch_index, cx, cy, w, h, theta) in
            image pixels (scaled by ``spatial_scale`` to the map) and radians.
        output_size: (PH, PW) or an int. sampling_ratio: samples per bin side (0: adaptive,
            ceil(roi size / bins), at most 64; mmcv has no cap). aligned: shift by half a pixel (the pixel-model fix).
        clockwise: theta is clockwise on screen (MMRotate's boxes); mmcv's default False.

    Returns:
        (R, C, PH, PW). Differentiable w.r.t. ``input`` (not ``rois``). A RoI with a bad
        batch index or a NaN/inf value gives zeros.
    """
    check_tensor("input", input, ndim=4)
    check_tensor("rois", rois, ndim=2, last=6)
    check_floating("input", input)
    check_floating("rois", rois)
    check_same_device(input=input, rois=rois)
    ph, pw = pair(output_size, "output_size")
    dtype = compute_dtype(input)
    x, r = input.to(dtype), rois.detach().to(dtype)
    if int(sampling_ratio) < 0:
        raise ValueError(
            f"sampling_ratio must be >= 0 (0: adaptive, at most 64 per bin side), got {sampling_ratio}"
        )
    args = (ph, pw, float(spatial_scale), int(sampling_ratio), bool(aligned), bool(clockwise))
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.roi_align_rotated(x, r, *args)
    else:
        out = roi_align_rotated_torch(x, r, *args)
    return out.to(input.dtype)


def roi_align_rotated_torch(
    input: torch.Tensor,
    rois: torch.Tensor,
    pooled_height: int,
    pooled_width: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
    clockwise: bool,
) -> torch.Tensor:
    """Pure-torch roi_align_rotated (the compiled op's arguments)."""
    pooled = (pooled_height, pooled_width)
    g = rotated_geom(rois.detach(), input.shape[0], spatial_scale, pooled, sampling_ratio, aligned, clockwise)
    return roi_pool(input, g, pooled)


class RoIAlignRotated(nn.Module):
    """Module form of roi_align_rotated; accepts mmcv's names and MMRotate's (out_size, sample_num)."""

    def __init__(
        self,
        output_size: int | tuple[int, int] | None = None,
        spatial_scale: float = 1.0,
        sampling_ratio: int | None = None,
        aligned: bool = True,
        clockwise: bool = False,
        *,
        out_size: int | tuple[int, int] | None = None,
        sample_num: int | None = None,
    ) -> None:
        super().__init__()
        if (output_size is None) == (out_size is None):
            raise ValueError("give exactly one of output_size and out_size")
        if sampling_ratio is not None and sample_num is not None:
            raise ValueError("give at most one of sampling_ratio and sample_num")
        self.output_size = pair(output_size if output_size is not None else out_size, "output_size")
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio if sampling_ratio is not None else (sample_num or 0))
        self.aligned = aligned
        self.clockwise = clockwise

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align_rotated(
            input,
            rois,
            self.output_size,
            self.spatial_scale,
            self.sampling_ratio,
            self.aligned,
            self.clockwise,
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}, clockwise={self.clockwise}"
        )


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled ops."""
    register_pooling_kernels("roi_align_rotated")
