"""Convex hulls, convex clipping and areas of point sets, vectorised in torch (float64).

The same algorithm, step for step, as csrc/common/convex_geometry.h (the C++ and CUDA
kernels), so the backends agree to rounding and make the same discrete choices:

- Hull: the directed edge i -> j of distinct points is a hull edge when every other point is
  strictly on its left (cross > 0) or on the segment [p_i, p_j]; of equal points only the
  lowest index takes part. The ring walks those edges from the lowest-index hull vertex
  (first edge by index), so it is counter-clockwise in (x, y) axes (positive shoelace area;
  clockwise on screen with y down), has no collinear middle points, and is padded to n
  entries with its start vertex (duplicates add no area). No edge (all points equal, or a
  NaN) gives the ring [0] * n.
- Clipping (Sutherland-Hodgman): keep the part of a ring on the left of c0 -> c1 (cross >= 0);
  a ring of m entries becomes m + 1 (convex: at most two crossings), padded with its first
  kept point, or zeros when nothing is kept.
- Areas: the shoelace of a ring around its first point.
"""

from __future__ import annotations

import torch


def cross(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
    return ax * by - ay * bx


def hull_edges(points: torch.Tensor) -> torch.Tensor:
    """(M, n, 2) -> (M, n, n) bool: whether i -> j is a (counter-clockwise) hull edge."""
    n = points.shape[-2]
    d = points[:, None, :, :] - points[:, :, None, :]  # d[:, i, j] = p_j - p_i
    same = (d[..., 0] == 0) & (d[..., 1] == 0)
    # float masks compared to 0 (not bool ones): ONNX Runtime has no bool EyeLike / Trilu (export)
    lower = torch.ones(n, n, device=points.device).tril(-1) > 0  # j < i
    canonical = ~(same & lower).any(-1)  # (M, n): no equal point with a lower index
    ex, ey = d[:, :, :, None, 0], d[:, :, :, None, 1]  # edge i -> j
    rx, ry = d[:, :, None, :, 0], d[:, :, None, :, 1]  # p_k - p_i
    c = cross(ex, ey, rx, ry)  # (M, i, j, k)
    dot = ex * rx + ey * ry
    on_segment = (c == 0) & (dot >= 0) & (dot <= ex * ex + ey * ey)
    eye = torch.eye(n, device=points.device) > 0
    endpoint = eye[:, None, :] | eye[None, :, :]  # k == i or k == j: skipped, as the C++ loop
    ok = ((c > 0) | on_segment | endpoint).all(-1)
    return ok & ~same & canonical[:, :, None] & canonical[:, None, :]


def hull_ring(points: torch.Tensor) -> torch.Tensor:
    """(M, n, 2) -> (M, n) long: indices of the hull ring, padded with its start (module doc)."""
    valid = hull_edges(points)
    has = valid.any(-1)  # (M, n)
    nxt = valid.to(torch.int8).argmax(-1)  # the first j of each i's edges
    start = has.to(torch.int8).argmax(-1)  # the lowest-index hull vertex (0 if none)
    done = ~has.any(-1)
    cur = start
    ring = [start]
    for _ in range(points.shape[-2] - 1):
        step = nxt.gather(1, cur[:, None])[:, 0]
        done = done | (step == start)
        cur = torch.where(done, start, step)
        ring.append(cur)
    return torch.stack(ring, 1)


def gather_points(points: torch.Tensor, ring: torch.Tensor) -> torch.Tensor:
    """(M, n, 2) points, (M, r) indices -> (M, r, 2); differentiable w.r.t. points."""
    return points.gather(1, ring[..., None].expand(*ring.shape, 2))


def ring_area(ring: torch.Tensor) -> torch.Tensor:
    """(M, r, 2) -> (M,) signed shoelace area around the first point (positive counter-clockwise
    in (x, y) axes)."""
    rel = ring - ring[:, :1]
    nxt = rel.roll(-1, 1)
    return 0.5 * cross(rel[..., 0], rel[..., 1], nxt[..., 0], nxt[..., 1]).sum(-1)


def clip_ring(ring: torch.Tensor, c0: torch.Tensor, c1: torch.Tensor) -> torch.Tensor:
    """(M, m, 2) ring, (M, 2) line c0 -> c1 -> (M, m + 1, 2): the part with cross(c1 - c0, p - c0) >= 0."""
    m = ring.shape[1]
    ex, ey = (c1 - c0)[:, None, 0], (c1 - c0)[:, None, 1]
    s = cross(ex, ey, ring[..., 0] - c0[:, None, 0], ring[..., 1] - c0[:, None, 1])  # (M, m)
    inside = s >= 0
    nxt, s_next = ring.roll(-1, 1), s.roll(-1, 1)
    crossing = inside != inside.roll(-1, 1)
    t = s / torch.where(crossing, s - s_next, torch.ones_like(s))
    x = ring + t[..., None] * (nxt - ring)
    cand = torch.stack((ring, x), 2).reshape(-1, 2 * m, 2)
    keep = torch.stack((inside, crossing), 2).reshape(-1, 2 * m)
    cum = keep.cumsum(1)
    count = cum[:, -1:]
    target = torch.arange(1, m + 2, device=ring.device).expand(ring.shape[0], m + 1).contiguous()
    idx = torch.searchsorted(cum, target)  # the position of the target-th kept candidate
    idx = torch.where(target <= count, idx, idx[:, :1]).clamp(max=2 * m - 1)
    out = gather_points(cand, idx)
    return torch.where((count > 0)[..., None], out, torch.zeros_like(out))


def intersection_area(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Area of (M, m, 2) convex ring ``a`` clipped by the 4-entry ring ``b`` (M, 4, 2), both
    counter-clockwise; the caller zeroes pairs where either area is 0."""
    out = a
    for i in range(b.shape[1]):
        out = clip_ring(out, b[:, i], b[:, (i + 1) % b.shape[1]])
    return ring_area(out)


def finite_rows(x: torch.Tensor) -> torch.Tensor:
    """(M, k) -> (M,) bool: every value finite."""
    return torch.isfinite(x).all(-1)
