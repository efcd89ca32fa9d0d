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


def test_pairs_that_cannot_reach_the_threshold_are_skipped_and_nothing_else():
    """skip_below: the clip is not run for convex pairs whose IoU is bounded below half the
    threshold (0 then); every other pair keeps its IoU bit for bit, so the matches over the
    threshold are the same."""
    rng = np.random.default_rng(1)
    n = 3000
    boxes = np.c_[rng.uniform(0, 300, (n, 2)), rng.uniform(2, 60, (n, 2)), rng.uniform(-np.pi, np.pi, n)]
    a = obb2poly(boxes)
    b = obb2poly(boxes + np.c_[rng.normal(0, 15, (n, 2)), rng.normal(0, 8, (n, 2)), rng.normal(0, 0.5, n)])
    b[:300] = a[:300, [0, 1, 4, 5, 2, 3, 6, 7]]  # bow-ties: never skipped
    b[300:400] = np.round(a[300:400])
    i = np.arange(n)
    full = pair_iou(a, b)(i, i)
    for thr in (0.5, 0.75, 1.0):
        some = pair_iou(a, b, skip_below=thr)(i, i)
        skipped = some != full
        assert (some[skipped] == 0).all() and (full[skipped] < thr / 2).all()
        assert skipped.sum() > n // 20 and not skipped[:300].any()
        assert (some[full > thr / 2] == full[full > thr / 2]).all()
