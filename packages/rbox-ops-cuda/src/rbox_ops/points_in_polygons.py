"""points_in_polygons: which points lie in which quadrilaterals, mmcv's signature and rule."""

from __future__ import annotations

import torch

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor

_CHUNK = 1 << 22  # (points x polygons x 4 edges) values per step of the torch code


def points_in_polygons(points: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """Whether each point lies in each quadrilateral, as mmcv.ops.points_in_polygons (ATSS assigners).

    Args:
        points: (N, 2) ``(x, y)``. polygons: (M, 8) ``(x1, y1, ..., x4, y4)``.

    Returns:
        (N, M) float32: 1.0 inside, 0.0 outside; no gradient. mmcv's crossing-number rule in
        float32 (csrc/common/point_in_polygon.h): away from the boundary, inside means inside;
        a point on an edge or a vertex is inside or outside depending on the edge it meets
        first (mmcv's kernel stops counting there), and a degenerate polygon contains nothing
        but such boundary points.
    """
    check_tensor("points", points, ndim=2, last=2)
    check_tensor("polygons", polygons, ndim=2, last=8)
    check_floating("points", points)
    check_floating("polygons", polygons)
    check_same_device(points=points, polygons=polygons)
    p, q = points.detach().float(), polygons.detach().float()
    if _backend.use_compiled(p.device):
        return torch.ops.rbox_ops.points_in_polygons(p, q)
    return points_in_polygons_torch(p, q)


def points_in_polygons_torch(points: torch.Tensor, polygons: torch.Tensor) -> torch.Tensor:
    """Pure-torch points_in_polygons (float32, vectorised over chunks of points); same rule and
    rounding as the compiled kernels, so the results agree exactly."""
    p, q = points.float(), polygons.float().view(-1, 4, 2)
    n, m = p.shape[0], q.shape[0]
    out = p.new_zeros((n, m))
    if n == 0 or m == 0:
        return out
    sx, sy = q[..., 0], q[..., 1]  # edge i runs from vertex i to vertex i - 1 (mod 4), as mmcv
    tx, ty = sx.roll(1, 1), sy.roll(1, 1)
    lo, hi = torch.fmin(sy, ty), torch.fmax(sy, ty)
    ex, ey = tx - sx, ty - sy
    step = max(1, _CHUNK // (4 * m))
    for start in range(0, n, step):
        px, py = p[start : start + step, 0, None, None], p[start : start + step, 1, None, None]
        in_range = ~((py < lo) | (py > hi))
        vertex = ((sx == px) & (sy == py)) | ((tx == px) & (ty == py))
        straddle = ((sy < py) & (ty >= py)) | ((sy >= py) & (ty < py))
        x = sx + (py - sy) * ex / ey  # (py - sy) * ex rounds first, then / ey, then + sx: the kernel's order
        stop = in_range & (vertex | (straddle & (x == px)))
        cross = in_range & ~vertex & straddle & (x > px)
        count = (cross & (stop.cumsum(-1) == 0)).sum(-1)  # the crossings before the first stop
        out[start : start + step] = (count % 2 == 1).float()
    return out


def register_kernels() -> None:
    """Fake (meta) kernel of the compiled op, for torch.compile / torch.export."""

    @torch.library.register_fake("rbox_ops::points_in_polygons")
    def _(points, polygons):
        return points.new_empty((points.shape[0], polygons.shape[0]), dtype=torch.float32)
