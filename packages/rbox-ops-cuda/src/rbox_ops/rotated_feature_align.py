"""rotated_feature_align: R3Det's feature refinement, mmcv 1.7's signature and arithmetic."""

from __future__ import annotations

import torch

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype
from ._roi_pool_torch import bilinear_taps


def rotated_feature_align(
    features: torch.Tensor,
    best_rbboxes: torch.Tensor,
    spatial_scale: float = 1 / 8,
    points: int = 1,
) -> torch.Tensor:
    """Features plus bilinear samples at each pixel's refined box, as mmcv.ops.rotated_feature_align.

    Args:
        features: (N, C, H, W).
        best_rbboxes: (N, H, W, 5), one box per pixel in image pixels (scaled by
            ``spatial_scale`` to the map) and radians. As mmcv's kernels, column 0 is read as
            the y (row) coordinate and column 1 as x: MMRotate passes (cx, cy, w, h, a) rows
            and its R3Det checkpoints were trained that way, so both are kept.
        spatial_scale: map size / image size (1 / stride).
        points: 1 samples the box centre; 5 the centre and the four corners, centre
            +- (cos a, sin a) w / 2 +- (-sin a, cos a) h / 2 in (x, y).

    Returns:
        (N, C, H, W): ``features`` plus, for each pixel and channel, the bilinear samples of
        that channel at those points (a point more than a pixel outside the map adds 0).
        Differentiable w.r.t. ``features`` (not the boxes).
    """
    check_tensor("features", features, ndim=4)
    check_tensor("best_rbboxes", best_rbboxes)
    check_floating("features", features)
    check_floating("best_rbboxes", best_rbboxes)
    check_same_device(features=features, best_rbboxes=best_rbboxes)
    n, _, h, w = features.shape
    if tuple(best_rbboxes.shape) != (n, h, w, 5):
        raise ValueError(
            f"best_rbboxes must have shape (N, H, W, 5) = {(n, h, w, 5)} for features of shape "
            f"{tuple(features.shape)}, got {tuple(best_rbboxes.shape)}"
        )
    if isinstance(points, bool) or points not in (1, 5):
        raise ValueError(f"points must be 1 or 5, got {points!r}")
    dtype = compute_dtype(features)
    x, boxes = features.to(dtype), best_rbboxes.detach().to(dtype)
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.rotated_feature_align(x, boxes, float(spatial_scale), int(points))
    else:
        out = rotated_feature_align_torch(x, boxes, float(spatial_scale), int(points))
    return out.to(features.dtype)


def rotated_feature_align_torch(
    features: torch.Tensor, best_rbboxes: torch.Tensor, spatial_scale: float, points: int
) -> torch.Tensor:
    """Pure-torch rotated_feature_align (the compiled op's arguments); autograd gives the gradient."""
    n, c, h, w = features.shape
    b = best_rbboxes.detach()
    ys, xs = b[..., 0] * spatial_scale, b[..., 1] * spatial_scale
    if points == 5:  # the corners, in mmcv's order (csrc/common/feature_align.h)
        w2, h2 = b[..., 2] * spatial_scale / 2, b[..., 3] * spatial_scale / 2
        cosa, sina = torch.cos(b[..., 4]), torch.sin(b[..., 4])
        wx, wy, hx, hy = cosa * w2, sina * w2, -sina * h2, cosa * h2
        ys = torch.stack((ys, ys + wy + hy, ys - wy + hy, ys - wy - hy, ys + wy - hy), -1)
        xs = torch.stack((xs, xs + wx + hx, xs - wx + hx, xs - wx - hx, xs + wx - hx), -1)
    else:
        ys, xs = ys[..., None], xs[..., None]
    pos, wt, _ = bilinear_taps(ys, xs, h, w)  # (N, H, W, P, 4) each; an invalid point has weights 0
    flat = features.reshape(n, c, h * w)
    out = features
    for k in range(ys.shape[-1]):
        index = pos[..., k, :].reshape(n, 1, h * w * 4).expand(n, c, h * w * 4)
        taps = flat.gather(2, index).view(n, c, h * w, 4)
        out = out + (taps * wt[..., k, :].reshape(n, 1, h * w, 4)).sum(-1).view(n, c, h, w)
    return out


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op (the gradient of features only, as mmcv)."""

    @torch.library.register_fake("rbox_ops::rotated_feature_align")
    def _(features, best_rbboxes, spatial_scale, points):
        return features.new_empty(features.shape)

    @torch.library.register_fake("rbox_ops::rotated_feature_align_backward")
    def _(grad_output, best_rbboxes, spatial_scale, points):
        return grad_output.new_empty(grad_output.shape)

    def setup_context(ctx, inputs, output):
        _, best_rbboxes, spatial_scale, points = inputs
        ctx.save_for_backward(best_rbboxes)
        ctx.spatial_scale, ctx.points = spatial_scale, points

    def backward(ctx, grad):
        (best_rbboxes,) = ctx.saved_tensors
        grad_features = torch.ops.rbox_ops.rotated_feature_align_backward(
            grad, best_rbboxes, ctx.spatial_scale, ctx.points
        )
        return grad_features, None, None, None

    torch.library.register_autograd("rbox_ops::rotated_feature_align", backward, setup_context=setup_context)
