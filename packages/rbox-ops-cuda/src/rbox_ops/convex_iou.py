"""convex_iou / convex_giou: IoU and GIoU of point sets' convex hulls with polygons (mmcv 1.7's signatures).

The RepPoints family's assigners (convex_iou) and ConvexGIoULoss (convex_giou). Both run in
float64 whatever the input (as mmcv's kernels) and return the input's dtype. Geometry:
rbox_ops/_convex_torch.py and csrc/common/convex_geometry.h (the same algorithm).
"""

from __future__ import annotations

import torch

from . import _backend
from . import _convex_torch as cvx
from ._checks import check_floating, check_rows, check_same_device, check_tensor

_PAIRS_PER_STEP = 1 << 15  # point-set x polygon pairs per step of the torch code


def _check(pointsets: torch.Tensor, polygons: torch.Tensor) -> None:
    check_tensor("pointsets", pointsets, ndim=2, last=18)
    check_tensor("polygons", polygons, ndim=2, last=8)
    check_floating("pointsets", pointsets)
    check_floating("polygons", polygons)
    check_same_device(pointsets=pointsets, polygons=polygons)


def convex_iou(pointsets: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """IoU of the convex hull of each point set with each polygon, as mmcv.ops.convex_iou.

    Args:
        pointsets: (N, 18) ``(x1, y1, ..., x9, y9)``, pixels.
        polygons: (K, 8) ``(x1, y1, ..., x4, y4)``, any vertex order; a quadrilateral is taken
            as the convex hull of its four vertices (MMRotate passes rectangles; mmcv measures a
            concave one by signed triangles instead).

    Returns:
        (N, K) IoU in [0, 1], no gradient. A hull or polygon of zero area (all points equal,
        collinear) has IoU 0 (mmcv: NaN where the union is 0); a row with a NaN/inf
        coordinate gives NaN in its row (point set) or column (polygon).
    """
    _check(pointsets, polygons)
    p, q = pointsets.detach().double(), polygons.detach().double()
    out = torch.ops.rbox_ops.convex_iou(p, q) if _backend.use_compiled(p.device) else convex_iou_torch(p, q)
    return out.to(pointsets.dtype)


def convex_giou(pointsets: torch.Tensor, polygons: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GIoU of aligned pairs and its gradient w.r.t. the 18 point coordinates, as mmcv.ops.convex_giou.

    GIoU = IoU - (C - U) / C, with U the union of the point set's hull and the polygon and C
    the area of the hull of both. The gradient is that of this function (mmcv derives it by
    hand; here: autograd of the torch code, forward-mode dual numbers in the kernels): only
    points on the hull (of the set, or of both) get one; of equal points, the first.

    Args:
        pointsets: (N, 18), pixels. polygons: (N, 8), as ``convex_iou``.

    Returns:
        ``(giou (N,), grad (N, 18))``, the input's dtype, not part of any autograd graph
        (MMRotate's ConvexGIoULoss feeds ``grad`` to its own autograd Function). Degenerate
        pairs follow "0 / 0 is 0": IoU 0 when the union has zero area, no penalty when C has
        zero area. A pair with a NaN/inf coordinate gives NaN GIoU and NaN gradient.
    """
    _check(pointsets, polygons)
    check_rows("polygons", polygons, "pointsets", pointsets.shape[0])
    p, q = pointsets.detach().double(), polygons.detach().double()
    out = torch.ops.rbox_ops.convex_giou(p, q) if _backend.use_compiled(p.device) else convex_giou_torch(p, q)
    out = out.to(pointsets.dtype)
    return out[:, 18], out[:, :18]


def _hull_rings(pointsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 2n) -> ring points (N, n, 2) and areas (N,)."""
    pts = pointsets.view(pointsets.shape[0], -1, 2)
    ring = cvx.gather_points(pts, cvx.hull_ring(pts))
    return ring, cvx.ring_area(ring)


def _iou_parts(
    ring_a: torch.Tensor, area_a: torch.Tensor, ring_b: torch.Tensor, area_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned rings -> (intersection, union), both (M,), with the zero-area rule."""
    inter = cvx.intersection_area(ring_a, ring_b)
    inter = torch.where((area_a > 0) & (area_b > 0), inter, torch.zeros_like(inter))
    return inter, area_a + area_b - inter


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den <= 0 (no NaN in values or gradients)."""
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def convex_iou_torch(pointsets: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """Pure-torch convex_iou ((N, 18), (K, 8) float64 -> (N, K) float64)."""
    n, k = pointsets.shape[0], polygons.shape[0]
    out = pointsets.new_zeros((n, k))
    if n == 0 or k == 0:
        return out
    ring_a, area_a = _hull_rings(pointsets)
    ring_b, area_b = _hull_rings(polygons)
    step = max(1, _PAIRS_PER_STEP // k)
    for s in range(0, n, step):
        ra, aa = ring_a[s : s + step], area_a[s : s + step]
        rows = ra.shape[0]
        inter, union = _iou_parts(
            ra[:, None].expand(rows, k, *ra.shape[1:]).reshape(rows * k, *ra.shape[1:]),
            aa[:, None].expand(rows, k).reshape(-1),
            ring_b[None].expand(rows, k, 4, 2).reshape(rows * k, 4, 2),
            area_b[None].expand(rows, k).reshape(-1),
        )
        out[s : s + step] = _safe_div(inter, union).view(rows, k)
    bad = ~cvx.finite_rows(pointsets)[:, None] | ~cvx.finite_rows(polygons)[None, :]
    return out.masked_fill(bad, float("nan"))


def giou_value(pointsets: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """Differentiable GIoU of aligned pairs ((N, 18), (N, 8) -> (N,)); NaN rows are not masked here."""
    ring_a, area_a = _hull_rings(pointsets)
    ring_b, area_b = _hull_rings(polygons)
    inter, union = _iou_parts(ring_a, area_a, ring_b, area_b)
    _, enclose = _hull_rings(torch.cat((pointsets, polygons), 1))
    return _safe_div(inter, union) - _safe_div(enclose - union, enclose)


def convex_giou_torch(pointsets: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """Pure-torch convex_giou in the kernels' layout: (N, 19) float64, gradient then GIoU."""
    n = pointsets.shape[0]
    if n == 0:
        return pointsets.new_zeros((0, 19))
    with torch.enable_grad():
        p = pointsets.detach().double().clone().requires_grad_(True)
        giou = giou_value(p, polygons.detach().double())
        (grad,) = torch.autograd.grad(giou.sum(), p)
    out = torch.cat((grad, giou.detach()[:, None]), 1)
    bad = ~(cvx.finite_rows(pointsets) & cvx.finite_rows(polygons))
    return out.masked_fill(bad[:, None], float("nan"))


def register_kernels() -> None:
    """Fake kernels of the compiled ops (neither has autograd: convex_giou returns its gradient)."""

    @torch.library.register_fake("rbox_ops::convex_iou")
    def _(pointsets, polygons):
        return pointsets.new_empty((pointsets.shape[0], polygons.shape[0]))

    @torch.library.register_fake("rbox_ops::convex_giou")
    def _(pointsets, polygons):
        return pointsets.new_empty((pointsets.shape[0], 19))
