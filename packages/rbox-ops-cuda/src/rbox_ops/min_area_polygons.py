"""min_area_polygons: the minimum-area rectangle around each point set (mmcv 1.7's signature)."""

from __future__ import annotations

import torch

from . import _backend
from . import _convex_torch as cvx
from ._checks import check_floating, check_tensor

MAX_POINTS = 16  # points per set the kernels hold


def min_area_polygons(pointsets: torch.Tensor) -> torch.Tensor:
    """The smallest rectangle enclosing each point set, as mmcv.ops.min_area_polygons.

    Rotating calipers on the convex hull: the rectangle has a side along a hull edge. Each
    hull edge's direction is turned by a multiple of 90 degrees into theta in [0, pi/2)
    (u = (cos theta, sin theta), v = (-sin theta, cos theta)); the first edge (in hull order,
    csrc/common/convex_geometry.h) of least area wins; where two edges give the same area to
    rounding (a triangle's edges often do) the backends may pick different ones.

    Args:
        pointsets: (N, 2k) ``(x1, y1, ..., xk, yk)``, 1 <= k <= 16 (MMRotate: k = 9), pixels.

    Returns:
        (N, 8) corners in mmcv's order, in the (u, v) frame: (u max, v min), (u min, v min),
        (u min, v max), (u max, v max); that is, clockwise in (x, y) axes (negative shoelace
        area), counter-clockwise on screen with y down. Computed in float64, returned in the input's dtype; no gradient. All points
        equal: four copies of the point; collinear points: the segment (two pairs of equal
        corners); a set with a NaN/inf coordinate: NaN.
    """
    check_tensor("pointsets", pointsets, ndim=2)
    check_floating("pointsets", pointsets)
    k2 = pointsets.shape[1]
    if k2 % 2 or not 2 <= k2 <= 2 * MAX_POINTS:
        raise ValueError(
            f"pointsets must have shape (N, 2k) with 1 <= k <= {MAX_POINTS}, got {tuple(pointsets.shape)}"
        )
    p = pointsets.detach().double()
    if _backend.use_compiled(p.device):
        out = torch.ops.rbox_ops.min_area_polygons(p)
    else:
        out = min_area_polygons_torch(p)
    return out.to(pointsets.dtype)


def min_area_polygons_torch(pointsets: torch.Tensor) -> torch.Tensor:
    """Pure-torch min_area_polygons ((N, 2k) float64 -> (N, 8) float64)."""
    n = pointsets.shape[0]
    if n == 0:
        return pointsets.new_zeros((0, 8))
    pts = pointsets.view(n, -1, 2)
    ring = cvx.gather_points(pts, cvx.hull_ring(pts))  # (N, k, 2)
    e = ring.roll(-1, 1) - ring  # hull edges (zero for the padding)
    ex, ey = e[..., 0], e[..., 1]
    # turn each direction by a multiple of 90 degrees into x > 0, y >= 0 (exact: swaps and signs)
    q1 = (ex > 0) & (ey >= 0)
    q2 = (ex <= 0) & (ey > 0)
    q3 = (ex < 0) & (ey <= 0)
    ux = torch.where(q1, ex, torch.where(q2, ey, torch.where(q3, -ex, -ey)))
    uy = torch.where(q1, ey, torch.where(q2, -ex, torch.where(q3, -ey, ex)))
    length = torch.sqrt(ux * ux + uy * uy)
    edge = length > 0
    ux = torch.where(edge, ux / torch.where(edge, length, 1.0), 1.0)
    uy = torch.where(edge, uy / torch.where(edge, length, 1.0), 0.0)
    px, py = pts[:, None, :, 0], pts[:, None, :, 1]  # (N, 1, k) against candidates (N, E, 1)
    a = px * ux[..., None] + py * uy[..., None]
    b = py * ux[..., None] - px * uy[..., None]
    amin, amax, bmin, bmax = a.amin(-1), a.amax(-1), b.amin(-1), b.amax(-1)
    area = torch.where(edge, (amax - amin) * (bmax - bmin), float("inf"))
    best = area.argmin(-1, keepdim=True)  # the first of least area

    def pick(x: torch.Tensor) -> torch.Tensor:
        return x.gather(1, best)[:, 0]

    ux, uy, amin, amax, bmin, bmax = (pick(x) for x in (ux, uy, amin, amax, bmin, bmax))
    corners = [(amax, bmin), (amin, bmin), (amin, bmax), (amax, bmax)]
    out = torch.stack([c for a_, b_ in corners for c in (a_ * ux - b_ * uy, a_ * uy + b_ * ux)], 1)
    return out.masked_fill(~cvx.finite_rows(pointsets)[:, None], float("nan"))


def register_kernels() -> None:
    """Fake kernel of the compiled op (no gradient, as mmcv)."""

    @torch.library.register_fake("rbox_ops::min_area_polygons")
    def _(pointsets):
        return pointsets.new_empty((pointsets.shape[0], 8))
