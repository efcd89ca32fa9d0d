"""riroi_align_rotated and RiRoIAlignRotated: ReDet's rotation-invariant RoI align, mmcv's signatures.

The features' channels are C groups of ``num_orientations`` orientation channels (a regular
field of e2cnn's C_N: channel ``c * O + o``). Each RoI is pooled as ``roi_align_rotated`` with
``aligned=False``, and its orientation channels are turned by the RoI's angle: with
``theta * O / (2 pi) = k + f`` (k an integer, 0 <= f < 1), output channel ``c * O + o`` is
``(1 - f) * pooled[c * O + (o - k) % O] + f * pooled[c * O + (o - k + 1) % O]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype, pair
from ._roi_pool_torch import register_pooling_kernels, roi_pool, rotated_geom


def riroi_align_rotated(
    features: torch.Tensor,
    rois: torch.Tensor,
    out_size: int | tuple[int, int],
    spatial_scale: float,
    num_samples: int = 0,
    num_orientations: int = 8,
    clockwise: bool = False,
) -> torch.Tensor:
    """Rotation-invariant RoI align of rotated RoIs, as mmcv.ops.riroi_align_rotated.

    Args:
        features: (B, C * O, H, W), O = ``num_orientations`` channels per group.
        rois: (R, 6) = (batch_index, cx, cy, w, h, theta): image pixels (scaled by
            ``spatial_scale`` to the map), theta in radians.
        out_size: (PH, PW) or an int. num_samples: samples per bin side (0: adaptive,
            ceil(roi size / bins), at most 64; mmcv has no cap).
        clockwise: the sampling grid turns clockwise on screen by theta (MMRotate's boxes);
            the orientation channels turn by theta either way, as mmcv.

    Returns:
        (R, C * O, PH, PW). Differentiable w.r.t. ``features`` (not ``rois``). A RoI with a bad
        batch index or a NaN/inf value gives zeros. As mmcv, RoIs are not shifted by half a
        pixel and are at least 1 x 1 feature pixels.
    """
    check_tensor("features", features, ndim=4)
    check_tensor("rois", rois, ndim=2, last=6)
    check_floating("features", features)
    check_floating("rois", rois)
    check_same_device(features=features, rois=rois)
    ph, pw = pair(out_size, "out_size")
    if int(num_orientations) <= 0 or features.shape[1] % int(num_orientations):
        raise ValueError(
            f"num_orientations must be > 0 and divide the channels of features ({features.shape[1]}), "
            f"got {num_orientations}"
        )
    if int(num_samples) < 0:
        raise ValueError(
            f"num_samples must be >= 0 (0: adaptive, at most 64 per bin side), got {num_samples}"
        )
    dtype = compute_dtype(features)
    x, r = features.to(dtype), rois.detach().to(dtype)
    args = (ph, pw, float(spatial_scale), int(num_samples), int(num_orientations), bool(clockwise))
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.riroi_align_rotated(x, r, *args)
    else:
        out = riroi_align_rotated_torch(x, r, *args)
    return out.to(features.dtype)


def orientation_mix(
    theta: torch.Tensor, num_orientations: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(R,) angles (finite; radians) -> shift k (R,) long, and the weights 1 - f and f (R,) of
    ``theta * O / (2 pi) = k + f``; k is taken modulo O (csrc/riroi_align_rotated/riroi_align_rotated.h)."""
    f = ((theta * num_orientations).double() / (2 * math.pi)).to(theta.dtype)
    k = torch.floor(f)
    shift = torch.remainder(k, num_orientations).long().clamp(0, num_orientations - 1)
    return shift, 1 - (f - k), f - k


def riroi_align_rotated_torch(
    features: torch.Tensor,
    rois: torch.Tensor,
    pooled_height: int,
    pooled_width: int,
    spatial_scale: float,
    num_samples: int,
    num_orientations: int,
    clockwise: bool,
) -> torch.Tensor:
    """Pure-torch riroi_align_rotated (the compiled op's arguments): roi_align_rotated's pooling,
    then each RoI's orientation channels gathered and mixed."""
    pooled_size = (pooled_height, pooled_width)
    g = rotated_geom(
        rois.detach(), features.shape[0], spatial_scale, pooled_size, num_samples, False, clockwise
    )
    pooled = roi_pool(features, g, pooled_size)  # (R, C * O, PH, PW); zeros for skipped RoIs
    n, channels = pooled.shape[:2]
    o = num_orientations
    theta = torch.where(g.batch >= 0, rois[:, 5], torch.zeros_like(rois[:, 5]))  # no NaN into the weights
    shift, w_low, w_high = orientation_mix(theta, o)
    low = torch.remainder(torch.arange(o, device=features.device)[None, :] - shift[:, None], o)  # (R, O)
    grouped = pooled.view(n, channels // o, o, pooled_height, pooled_width)

    def take(index: torch.Tensor) -> torch.Tensor:
        return grouped.gather(2, index.view(n, 1, o, 1, 1).expand_as(grouped))

    mixed = w_low.view(n, 1, 1, 1, 1) * take(low) + w_high.view(n, 1, 1, 1, 1) * take(
        torch.remainder(low + 1, o)
    )
    return mixed.view(n, channels, pooled_height, pooled_width)


class RiRoIAlignRotated(nn.Module):
    """Module form of riroi_align_rotated with mmcv's arguments (ReDet's second RoI stage).

    ``output_size`` is ``out_size`` as a pair (what rdet-models' RoI extractors read).
    """

    def __init__(
        self,
        out_size: int | tuple[int, int],
        spatial_scale: float,
        num_samples: int = 0,
        num_orientations: int = 8,
        clockwise: bool = False,
    ) -> None:
        super().__init__()
        self.out_size = out_size
        self.output_size = pair(out_size, "out_size")
        self.spatial_scale = float(spatial_scale)
        self.num_samples = int(num_samples)
        self.num_orientations = int(num_orientations)
        self.clockwise = clockwise
        if self.num_samples < 0 or self.num_orientations <= 0:
            raise ValueError(
                f"num_samples must be >= 0 and num_orientations > 0, got {num_samples} and {num_orientations}"
            )

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return riroi_align_rotated(
            features,
            rois,
            self.output_size,
            self.spatial_scale,
            self.num_samples,
            self.num_orientations,
            self.clockwise,
        )

    def extra_repr(self) -> str:
        return (
            f"out_size={self.out_size}, spatial_scale={self.spatial_scale}, num_samples={self.num_samples}, "
            f"num_orientations={self.num_orientations}, clockwise={self.clockwise}"
        )


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op."""
    register_pooling_kernels("riroi_align_rotated")
