"""The official metric's convex fast path agrees with rbox_geometry.polygon_overlaps."""

import numpy as np

from rbox_geometry import obb2poly, polygon_overlaps
from rdet_eval._polyiou import pair_iou


def test_pair_iou_is_polygon_overlaps():
    rng = np.random.default_rng(0)
    n = 4000
    boxes = np.c_[rng.uniform(0, 200, (n, 2)), rng.uniform(1, 60, (n, 2)), rng.uniform(-np.pi, np.pi, n)]
    rects = obb2poly(boxes)
    kinds = [
        rects,  # convex, both orientations below
        rects[:, [6, 7, 4, 5, 2, 3, 0, 1]],  # clockwise
        rects + rng.normal(0, 4, rects.shape),  # convex or not, some bow-ties
        rects[:, [0, 1, 4, 5, 2, 3, 6, 7]],  # bow-ties
        np.round(rects),  # integer corners: touching and collinear edges
        np.repeat(rects[:, :2], 4, axis=1),  # degenerate: a point
    ]
    a = np.vstack(kinds)
    b = np.vstack([rects + rng.normal(0, 3, rects.shape) for _ in kinds])
    b[: n // 4] = a[: n // 4]  # identical pairs
    i = np.arange(a.shape[0])
    j = rng.permutation(i)
    j[: a.shape[0] // 2] = i[: a.shape[0] // 2]  # half the pairs overlap
    expected = polygon_overlaps(a[i], b[j], is_aligned=True)
    got = pair_iou(a, b)(i, j)
    assert (got > 0).sum() > a.shape[0] // 3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # identical rectangles: exactly 1 (the triangle fan is off by an ulp for some)
    assert (got[: n // 4] == 1).all()
