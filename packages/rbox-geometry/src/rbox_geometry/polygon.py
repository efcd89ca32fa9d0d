"""IoU / IoF of arbitrary quadrilaterals, as the DOTA evaluation server computes them.

The server (DOTA_devkit's ``polyiou``) writes each polygon as a fan of signed triangles and
sums the signed triangle-triangle intersections; a polygon's area is the absolute value of
its shoelace sum. rbox-geometry does the same, vectorised: a quadrilateral
``(x1, y1, ..., x4, y4)`` is the fan ``(p1, p2, p3)``, ``(p1, p3, p4)`` with the signs of
their areas (orientation-normalised so the total is positive), and the intersection of two
quadrilaterals is the signed sum of the 4 convex triangle-triangle intersections (each
exact, see ``_intersect``). So:

* simple quadrilaterals, convex or not, clockwise or counter-clockwise: the exact region
  they bound (what shapely's ``Polygon`` gives);
* self-intersecting ("bow-tie") quadrilaterals: the server's numbers. The area is the
  shoelace value, where the two lobes cancel; the intersection weighs each region by the
  product of the two winding numbers. (``shapely.make_valid`` would instead take the union
  of the lobes; a detector that outputs bow-ties is scored by the server's rule, so is ours.)
* where the server's union is zero or negative (degenerate or cancelling polygons) and it
  would give NaN or a negative value, the result is 0; it is also 0 for zero-area input.
"""

from __future__ import annotations

from ._backend import Array, float_array, namespace
from ._intersect import convex_intersection_area, signed_area

__all__ = ["polygon_area", "polygon_overlaps"]

_TINY = 1e-14


def _signed_fan(xp, v: Array) -> tuple[Array, Array, Array]:
    """``(K, 4, 2)`` quads -> counter-clockwise triangles ``(K, 2, 3, 2)``, signs ``(K, 2)``,
    absolute triangle areas ``(K, 2)``; signs are flipped for quads of negative total area."""
    p0, p1, p2, p3 = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
    T = xp.stack([xp.stack([p0, p1, p2], -2), xp.stack([p0, p2, p3], -2)], 1)
    sa = signed_area(xp, T)  # (K, 2)
    reversed_ = xp.stack([T[..., 0, :], T[..., 2, :], T[..., 1, :]], -2)
    T = xp.where((sa < 0)[..., None, None], reversed_, T)
    total = sa.sum(-1)
    orient = xp.where(total < 0, -1.0, 1.0)
    sign = xp.where(sa > 0, 1.0, xp.where(sa < 0, -1.0, 0.0)) * orient[:, None]
    return T, sign, xp.abs(sa)


def polygon_area(polys: Array) -> Array:
    """Areas ``(...,)`` of ``(..., 8)`` quadrilaterals: the absolute shoelace value, pixels²."""
    p = float_array(polys, "polys", 8, exact=True)
    xp = namespace(p)
    v = p.reshape(-1, 4, 2)
    return xp.abs(signed_area(xp, v)).reshape(p.shape[:-1])


def _bounds(xp, p: Array) -> Array:
    """``(K, 8)`` quads -> ``(K, 4)`` bounding boxes (elementwise: faster than a reduction over 4)."""
    x0, y0, x1, y1, x2, y2, x3, y3 = (p[:, i] for i in range(8))
    lo_x = xp.minimum(xp.minimum(x0, x1), xp.minimum(x2, x3))
    lo_y = xp.minimum(xp.minimum(y0, y1), xp.minimum(y2, y3))
    hi_x = xp.maximum(xp.maximum(x0, x1), xp.maximum(x2, x3))
    hi_y = xp.maximum(xp.maximum(y0, y1), xp.maximum(y2, y3))
    return xp.stack([lo_x, lo_y, hi_x, hi_y], -1)


def _pair_values(xp, a: Array, b: Array, box_a: Array, box_b: Array, mode: str) -> Array:
    """IoU/IoF of aligned ``(K, 8)`` float64 pairs whose bounding boxes ``(K, 4)`` overlap."""
    k = a.shape[0]
    # centre each pair for precision (DOTA coordinates run to thousands of pixels)
    c = ((box_a + box_b) / 4).reshape(k, 2, 2).sum(1)[:, None, :]
    Ta, sa, aa = _signed_fan(xp, a.reshape(k, 4, 2) - c)
    Tb, sb, ab = _signed_fan(xp, b.reshape(k, 4, 2) - c)
    A1 = xp.abs(signed_area(xp, a.reshape(k, 4, 2) - c))
    A2 = xp.abs(signed_area(xp, b.reshape(k, 4, 2) - c))
    P = xp.stack([Ta[:, 0], Ta[:, 0], Ta[:, 1], Ta[:, 1]], 1).reshape(k * 4, 3, 2)
    Q = xp.stack([Tb[:, 0], Tb[:, 1], Tb[:, 0], Tb[:, 1]], 1).reshape(k * 4, 3, 2)
    w = xp.stack(
        [sa[:, 0] * sb[:, 0], sa[:, 0] * sb[:, 1], sa[:, 1] * sb[:, 0], sa[:, 1] * sb[:, 1]], 1
    ).reshape(-1)
    ok = (
        xp.stack(
            [aa[:, 0] * ab[:, 0], aa[:, 0] * ab[:, 1], aa[:, 1] * ab[:, 0], aa[:, 1] * ab[:, 1]], 1
        ).reshape(-1)
        > _TINY
    )
    w = xp.where(ok, w, w * 0)
    inter = (convex_intersection_area(xp, P, Q) * w).reshape(k, 4).sum(-1)
    base = A1 + A2 - inter if mode == "iou" else A1
    value = inter / xp.where(base > _TINY, base, 1.0)
    return xp.where((base > _TINY) & (value > 0), value, value * 0)


def polygon_overlaps(
    polys1: Array, polys2: Array, mode: str = "iou", is_aligned: bool = False, chunk: int = 1 << 15
) -> Array:
    """IoU or IoF between quadrilaterals, exactly as the DOTA server computes it.

    Args:
        polys1: ``(N, 8)`` quadrilaterals (pixels; any vertex orientation).
        polys2: ``(M, 8)``.
        mode: ``'iou'`` or ``'iof'`` (over the area of ``polys1``).
        is_aligned: ``(N,)`` for pairs i-i instead of ``(N, M)``.
        chunk: Pairs computed at once (memory about 3 KiB per pair).

    Returns:
        ``(N, M)`` or ``(N,)``, same type, dtype and device as ``polys1``; 0 for pairs whose
        bounding boxes do not overlap and for degenerate polygons.
    """
    if mode not in ("iou", "iof"):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    a = float_array(polys1, "polys1", 8, "(N, 8)", exact=True)
    b = float_array(polys2, "polys2", 8, "(M, 8)", exact=True)
    xp = namespace(a)
    out_like = a
    a = xp.to_float64(a.reshape(-1, 8))
    b = xp.to_float64(b.reshape(-1, 8))
    N, M = a.shape[0], b.shape[0]
    if is_aligned and N != M:
        raise ValueError(f"is_aligned needs as many polygons in both sets, got {N} and {M}")
    out = xp.zeros((N,) if is_aligned else (N, M), like=a)
    if N == 0 or M == 0:
        return xp.astype(out, out_like)
    box_a, box_b = _bounds(xp, a), _bounds(xp, b)
    ax0, ay0, ax1, ay1 = box_a[:, 0], box_a[:, 1], box_a[:, 2], box_a[:, 3]
    bx0, by0, bx1, by1 = box_b[:, 0], box_b[:, 1], box_b[:, 2], box_b[:, 3]
    if is_aligned:
        cand = (ax0 < bx1) & (bx0 < ax1) & (ay0 < by1) & (by0 < ay1)
        (ii,) = xp.nonzero(cand)
        jj = ii
    else:
        cand = (ax0[:, None] < bx1[None]) & (bx0[None] < ax1[:, None])
        cand = cand & (ay0[:, None] < by1[None]) & (by0[None] < ay1[:, None])
        ii, jj = xp.nonzero(cand)
    K = ii.shape[0]
    if K == 0:
        return xp.astype(out, out_like)
    vals = []
    for s in range(0, K, chunk):
        i, j = ii[s : s + chunk], jj[s : s + chunk]
        vals.append(_pair_values(xp, a[i], b[j], box_a[i], box_b[j], mode))
    vals = xp.concat(vals, 0)
    if xp.name == "torch":
        out = out.index_put((ii,) if is_aligned else (ii, jj), vals)
    elif is_aligned:
        out[ii] = vals
    else:
        out[ii, jj] = vals
    return xp.astype(out, out_like)
