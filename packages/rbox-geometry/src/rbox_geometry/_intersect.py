"""Exact area of the intersection of two convex polygons, vectorised over pairs.

Green's theorem: the area of a region is the sum over its boundary segments ``a -> b`` of
``cross(a, b) / 2``. The boundary of ``P ∩ Q`` is made of the parts of P's edges inside Q
and the parts of Q's edges inside P. Each edge is clipped against the other polygon's
half-planes (Cyrus–Beck: one parameter interval per edge, no vertex lists), and a clipped
edge ``a + t (b - a)``, ``t in [t0, t1]``, contributes ``(t1 - t0) cross(a, b) / 2``.

Every pair has the same fixed-size work (``n x m`` edge/half-plane tests), so the whole
batch is a handful of broadcast array operations, on numpy or torch, and differentiable.

Edges that lie on the same line (identical, nested-flush or touching boxes) would be counted
twice or not at all by floating-point chance; a pair of edges within ``eps`` of each other's
line is decided by rule instead: the edge of P counts when both run the same way (the shared
boundary is then part of both boundaries), the edge of Q never does. So identical boxes give
exactly their area, and boxes that only touch give 0.
"""

from __future__ import annotations

from ._backend import Array


def _cross(ax, ay, bx, by):
    return ax * by - ay * bx


def convex_intersection_area(xp, P: Array, Q: Array, eps_rel: float = 1e-9) -> Array:
    """Areas of ``P[k] ∩ Q[k]``.

    Args:
        xp: array namespace (see ``_backend.namespace``).
        P: ``(K, n, 2)`` convex polygons, counter-clockwise in the (x, y) frame (positive
            shoelace area), no zero-length edges.
        Q: ``(K, m, 2)`` likewise.
        eps_rel: collinearity tolerance relative to the pair's coordinate magnitude.

    Returns:
        ``(K,)`` areas, >= 0.
    """
    px, py = P[..., 0], P[..., 1]
    qx, qy = Q[..., 0], Q[..., 1]
    scale = xp.maximum(
        xp.amax(xp.abs(P).reshape(P.shape[0], -1), -1), xp.amax(xp.abs(Q).reshape(Q.shape[0], -1), -1)
    )
    eps = (eps_rel * (scale + 1e-300))[:, None, None]

    def edges(x, y):
        ex = xp.roll(x, -1, 1) - x
        ey = xp.roll(y, -1, 1) - y
        ln = xp.sqrt(ex * ex + ey * ey)
        ln = xp.where(ln > 0, ln, 1.0)
        return ex, ey, ln

    pex, pey, pln = edges(px, py)
    qex, qey, qln = edges(qx, qy)

    # D_P[k, i, j]: signed distance of P vertex i to Q edge line j (>0 inside)
    DP = _cross(
        qex[:, None, :], qey[:, None, :], px[:, :, None] - qx[:, None, :], py[:, :, None] - qy[:, None, :]
    )
    DP = DP / qln[:, None, :]
    DQ = _cross(
        pex[:, None, :], pey[:, None, :], qx[:, :, None] - px[:, None, :], qy[:, :, None] - py[:, None, :]
    )
    DQ = DQ / pln[:, None, :]

    collP = (xp.abs(DP) <= eps) & (xp.abs(xp.roll(DP, -1, 1)) <= eps)  # (K, n edges, m lines)
    collQ = (xp.abs(DQ) <= eps) & (xp.abs(xp.roll(DQ, -1, 1)) <= eps)  # (K, m edges, n lines)
    coll = collP | collQ.swapaxes(-1, -2)
    same = (pex[:, :, None] * qex[:, None, :] + pey[:, :, None] * qey[:, None, :]) > 0  # (K, n, m)

    def clipped_fraction(D, coll_e, keep_coll):
        # D: (K, e, l) distances of the edge start vertices; edge end = roll(-1) along e
        d0 = D
        d1 = xp.roll(D, -1, 1)
        denom = d0 - d1
        safe = xp.where(denom != 0, denom, 1.0)
        t = d0 / safe
        entering = (d0 < 0) & (d1 >= 0)
        leaving = (d0 >= 0) & (d1 < 0)
        outside = (d0 < 0) & (d1 < 0)
        one = xp.full_like(D, 1.0)
        zero = xp.full_like(D, 0.0)
        lo = xp.where(entering, t, zero)
        hi = xp.where(leaving, t, one)
        empty = outside
        # collinear pairs: decided by rule
        lo = xp.where(coll_e, zero, lo)
        hi = xp.where(coll_e, one, hi)
        empty = xp.where(coll_e, ~keep_coll, empty) if keep_coll is not None else empty | coll_e
        t0 = xp.amax(lo, -1)
        t1 = xp.amin(hi, -1)
        frac = xp.clip(t1 - t0, 0.0)
        return xp.where(empty.any(-1), zero[..., 0], frac)

    fP = clipped_fraction(DP, coll, same)
    fQ = clipped_fraction(DQ, coll.swapaxes(-1, -2), None)
    cP = _cross(px, py, xp.roll(px, -1, 1), xp.roll(py, -1, 1))
    cQ = _cross(qx, qy, xp.roll(qx, -1, 1), xp.roll(qy, -1, 1))
    area = ((fP * cP).sum(-1) + (fQ * cQ).sum(-1)) / 2
    return xp.clip(area, 0.0)


def signed_area(xp, poly: Array) -> Array:
    """Shoelace area of ``(..., n, 2)`` polygons (positive for counter-clockwise in x, y)."""
    x, y = poly[..., 0], poly[..., 1]
    return (x * xp.roll(y, -1, -1) - xp.roll(x, -1, -1) * y).sum(-1) / 2
