"""chamfer_distance: nearest-neighbour squared distances between 2-D point sets (mmcv 1.7's signature)."""

from __future__ import annotations

import torch

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype

_PAIRS_PER_STEP = 1 << 22  # point pairs per step of the torch code


def chamfer_distance(
    xyz1: torch.Tensor, xyz2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each point's squared distance to, and index of, its nearest point in the other set, as
    mmcv.ops.chamfer_distance (Oriented RepPoints).

    Args:
        xyz1: (B, N, 2) and xyz2: (B, M, 2) points (x, y), same batch size, device.

    Returns:
        ``dist1`` (B, N), ``dist2`` (B, M): squared Euclidean distances (pixels^2), the input's
        dtype (float32 for half); ``idx1`` (B, N), ``idx2`` (B, M) int32: the nearest point's
        index, the first one on ties. Differentiable w.r.t. both point sets through ``dist1``
        and ``dist2`` (mmcv's gradient: 2 (p - nearest), and its negative onto the nearest).
        A point with a NaN/inf coordinate has distance NaN and index -1 and is nobody's
        nearest; an empty (or all non-finite) other set gives distance inf and index -1
        (mmcv: 1e10 and 0).
    """
    check_tensor("xyz1", xyz1, ndim=3, last=2)
    check_tensor("xyz2", xyz2, ndim=3, last=2)
    check_floating("xyz1", xyz1)
    check_floating("xyz2", xyz2)
    check_same_device(xyz1=xyz1, xyz2=xyz2)
    if xyz1.shape[0] != xyz2.shape[0]:
        raise ValueError(
            f"xyz2 must have the batch size of xyz1 ({xyz1.shape[0]}), got shape {tuple(xyz2.shape)}"
        )
    dtype = compute_dtype(xyz1)
    a, b = xyz1.to(dtype), xyz2.to(dtype)
    if _backend.use_compiled(a.device):
        return torch.ops.rbox_ops.chamfer_distance(a, b)
    return chamfer_distance_torch(a, b)


def nearest(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, N, 2), (B, M, 2) -> (B, N) int64: the index of each point's nearest point of b (the
    first on ties); -1 for a non-finite point or when b has no finite point."""
    bsz, n, m = a.shape[0], a.shape[1], b.shape[1]
    idx = torch.full((bsz, n), -1, dtype=torch.long, device=a.device)
    if m == 0 or n == 0:
        return idx
    finite_b = torch.isfinite(b).all(-1)[:, None, :]
    step = max(1, _PAIRS_PER_STEP // max(1, bsz * m))
    for s in range(0, n, step):
        d = ((a[:, s : s + step, None, :] - b[:, None, :, :]) ** 2).sum(-1)  # (B, n', M)
        best, arg = torch.where(finite_b, d, float("inf")).min(-1)  # the first index of the least
        idx[:, s : s + step] = torch.where(torch.isinf(best), -1, arg)
    return torch.where(torch.isfinite(a).all(-1), idx, -1)


def _distance(a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Differentiable squared distance of each point of a to b[idx]: NaN for a non-finite point,
    inf where there is no nearest point."""
    if b.shape[1] == 0:
        return a.new_full(a.shape[:2], float("inf"))
    near = b.gather(1, idx.clamp(min=0)[..., None].expand(*idx.shape, 2))
    d = ((a - near) ** 2).sum(-1)
    missing = torch.where(torch.isfinite(a).all(-1), float("inf"), float("nan")).to(d.dtype)
    return torch.where(idx >= 0, d, missing)


def chamfer_distance_torch(
    xyz1: torch.Tensor, xyz2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pure-torch chamfer_distance; autograd gives mmcv's gradient (the nearest point is fixed)."""
    with torch.no_grad():
        idx1, idx2 = nearest(xyz1, xyz2), nearest(xyz2, xyz1)
    return _distance(xyz1, xyz2, idx1), _distance(xyz2, xyz1, idx2), idx1.int(), idx2.int()


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op."""

    @torch.library.register_fake("rbox_ops::chamfer_distance")
    def _(xyz1, xyz2):
        b, n, m = xyz1.shape[0], xyz1.shape[1], xyz2.shape[1]
        return (
            xyz1.new_empty((b, n)),
            xyz1.new_empty((b, m)),
            xyz1.new_empty((b, n), dtype=torch.int32),
            xyz1.new_empty((b, m), dtype=torch.int32),
        )

    @torch.library.register_fake("rbox_ops::chamfer_distance_backward")
    def _(xyz1, xyz2, idx1, idx2, grad_dist1, grad_dist2):
        return xyz1.new_empty(xyz1.shape), xyz2.new_empty(xyz2.shape)

    def setup_context(ctx, inputs, output):
        xyz1, xyz2 = inputs
        _, _, idx1, idx2 = output
        ctx.save_for_backward(xyz1, xyz2, idx1, idx2)
        ctx.mark_non_differentiable(idx1, idx2)

    def backward(ctx, grad_dist1, grad_dist2, _grad_idx1, _grad_idx2):
        xyz1, xyz2, idx1, idx2 = ctx.saved_tensors
        g1 = grad_dist1 if grad_dist1 is not None else torch.zeros_like(idx1, dtype=xyz1.dtype)
        g2 = grad_dist2 if grad_dist2 is not None else torch.zeros_like(idx2, dtype=xyz2.dtype)
        return torch.ops.rbox_ops.chamfer_distance_backward(
            xyz1, xyz2, idx1, idx2, g1.contiguous(), g2.contiguous()
        )

    torch.library.register_autograd("rbox_ops::chamfer_distance", backward, setup_context=setup_context)
