"""polygon_overlaps against shapely on random quadrilaterals, convex and not."""

from __future__ import annotations

import numpy as np
import pytest

import rbox_geometry as rg

shapely = pytest.importorskip("shapely")
from shapely.geometry import Polygon  # noqa: E402


def rand_quads(rng, n, spread=8.0):
    c = rng.uniform(0, 20, (n, 1, 2))
    return (c + rng.uniform(-spread, spread, (n, 4, 2))).reshape(n, 8)


def polyiou_reference(p, q):
    """A direct, scalar port of the DOTA devkit's polyiou semantics (written from its
    description: signed triangle fans from the origin, Sutherland-Hodgman clipping)."""

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (b[0] - o[0]) * (a[1] - o[1])

    def area(ps):
        return (
            sum(
                ps[i][0] * ps[(i + 1) % len(ps)][1] - ps[i][1] * ps[(i + 1) % len(ps)][0]
                for i in range(len(ps))
            )
            / 2
        )

    def sig(d):
        return int(d > 1e-8) - int(d < -1e-8)

    def cut(poly, a, b):  # keep the part left of a->b, as the devkit's polygon_cut
        out = []
        for i in range(len(poly)):
            u, v = poly[i], poly[(i + 1) % len(poly)]
            cu, cv = cross(a, b, u), cross(a, b, v)
            if sig(cu) > 0:
                out.append(u)
            if sig(cu) != sig(cv) and sig(cv - cu) != 0:
                out.append(((u[0] * cv - v[0] * cu) / (cv - cu), (u[1] * cv - v[1] * cu) / (cv - cu)))
        return out

    def tri_inter(a, b, c, d):
        o = (0.0, 0.0)
        s1, s2 = np.sign(cross(o, a, b)), np.sign(cross(o, c, d))
        if s1 == 0 or s2 == 0:
            return 0.0
        if s1 < 0:
            a, b = b, a
        if s2 < 0:
            c, d = d, c
        poly = [o, a, b]
        for u, v in ((o, c), (c, d), (d, o)):
            poly = cut(poly, u, v)
            if not poly:
                return 0.0
        return abs(area(poly)) * s1 * s2

    P = [tuple(map(float, p[i : i + 2])) for i in range(0, 8, 2)]
    Q = [tuple(map(float, q[i : i + 2])) for i in range(0, 8, 2)]
    if area(P) < 0:
        P = P[::-1]
    if area(Q) < 0:
        Q = Q[::-1]
    inter = sum(tri_inter(P[i], P[(i + 1) % 4], Q[j], Q[(j + 1) % 4]) for i in range(4) for j in range(4))
    union = abs(area(P)) + abs(area(Q)) - inter
    return max(inter / union, 0.0) if union > 1e-14 else 0.0


def shapely_iou(A, B, mode):
    out = np.zeros((len(A), len(B)))
    for i, p in enumerate(A):
        a = Polygon(p.reshape(4, 2))
        for j, q in enumerate(B):
            b = Polygon(q.reshape(4, 2))
            inter = a.intersection(b).area
            base = a.area + b.area - inter if mode == "iou" else a.area
            out[i, j] = inter / base if base > 0 else 0
    return out


@pytest.mark.parametrize("mode", ["iou", "iof"])
def test_simple_quads_convex_and_not_match_shapely(mode):
    rng = np.random.default_rng(0)
    A, B = rand_quads(rng, 120), rand_quads(rng, 100)
    A = A[[Polygon(p.reshape(4, 2)).is_valid for p in A]][:50]
    B = B[[Polygon(p.reshape(4, 2)).is_valid for p in B]][:50]
    kinds = [Polygon(p.reshape(4, 2)) for p in A]
    assert any(k.convex_hull.area > k.area + 1e-6 for k in kinds)  # non-convex ones are in
    np.testing.assert_allclose(rg.polygon_overlaps(A, B, mode), shapely_iou(A, B, mode), atol=1e-9)


def test_every_quad_matches_the_dota_servers_polyiou():
    """Self-intersecting quads included: the server's signed-fan rule, not shapely's make_valid."""
    rng = np.random.default_rng(3)
    A, B = rand_quads(rng, 40), rand_quads(rng, 40)
    assert sum(not Polygon(p.reshape(4, 2)).is_valid for p in A) > 5
    ref = np.array([[polyiou_reference(p, q) for q in B] for p in A])
    np.testing.assert_allclose(rg.polygon_overlaps(A, B), ref, atol=1e-9)


def test_bow_tie_semantics():
    bow_tie = np.array([[0, 0, 10, 10, 10, 0, 0, 10.0]])  # edges 1-2 and 3-4 cross: two lobes cancel
    square = np.array([[0, 0, 10, 0, 10, 10, 0, 10.0]])
    assert rg.polygon_area(bow_tie)[0] == 0
    # the server's union is |0| + 100 - inter; its intersection weighs lobes by winding numbers
    np.testing.assert_allclose(
        rg.polygon_overlaps(bow_tie, square)[0, 0], polyiou_reference(bow_tie[0], square[0]), atol=1e-12
    )


def test_convex_quads_and_orientation():
    rng = np.random.default_rng(1)
    boxes = np.concatenate(
        [rng.uniform(0, 30, (40, 2)), rng.uniform(2, 20, (40, 2)), rng.uniform(-3, 3, (40, 1))], 1
    )
    P = rg.obb2poly(boxes)
    reversed_ = P.reshape(-1, 4, 2)[:, ::-1].reshape(-1, 8)  # clockwise <-> counter-clockwise
    np.testing.assert_allclose(rg.polygon_overlaps(P, P), rg.rbbox_overlaps(boxes, boxes), atol=1e-9)
    np.testing.assert_allclose(rg.polygon_overlaps(reversed_, P), rg.rbbox_overlaps(boxes, boxes), atol=1e-9)
    np.testing.assert_allclose(rg.polygon_area(reversed_), boxes[:, 2] * boxes[:, 3], rtol=1e-12)


def test_aligned_and_degenerate():
    rng = np.random.default_rng(2)
    A, B = rand_quads(rng, 30), rand_quads(rng, 30)
    np.testing.assert_allclose(rg.polygon_overlaps(A, B, is_aligned=True), np.diag(rg.polygon_overlaps(A, B)))
    line = np.array([[0, 0, 5, 5, 10, 10, 2, 2.0]])
    point = np.zeros((1, 8))
    for d in (line, point):
        r = rg.polygon_overlaps(d, A[:5])
        assert np.isfinite(r).all() and (r == 0).all()
        assert (rg.polygon_overlaps(A[:5], d, "iof") == 0).all()
