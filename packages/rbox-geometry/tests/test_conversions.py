"""Conversions and angle versions on synthetic data (no reference files needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rbox_geometry as rg

from .conftest import random_boxes

VERSIONS = ("oc", "le135", "le90")


def same_rect(a: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> bool:
    """Two box arrays describe the same rectangles (IoU of each pair is 1)."""
    return bool((rg.rbbox_overlaps(a, b, is_aligned=True) > 1 - tol).all())


@pytest.mark.parametrize("version", VERSIONS)
def test_regularize_range_and_same_rectangle(version):
    b = random_boxes(np.random.default_rng(0), 500)
    r = rg.regularize(b, version)
    assert rg.in_range(r, version).all()
    assert same_rect(b, r)


@pytest.mark.parametrize("src", (*VERSIONS, "oc_old"))
@pytest.mark.parametrize("dst", (*VERSIONS, "oc_old"))
def test_version_round_trip(src, dst):
    b = rg.regularize(random_boxes(np.random.default_rng(1), 300), src)
    there = rg.convert_version(b, src, dst)
    assert rg.in_range(there, dst).all()
    back = rg.convert_version(there, dst, src)
    np.testing.assert_allclose(back, b, atol=1e-9)


def test_old_oc_definition():
    # D_oc'(w, h, t) = D_oc(h, w, t_old + pi/2), and (w, h, t_old + pi) when t_old = -pi/2
    old = np.array([[5, 5, 10, 4, -0.3], [5, 5, 10, 4, -math.pi / 2]])
    new = rg.from_old_oc(old)
    np.testing.assert_allclose(new[0], [5, 5, 4, 10, -0.3 + math.pi / 2])
    np.testing.assert_allclose(new[1], [5, 5, 10, 4, math.pi / 2])
    np.testing.assert_allclose(rg.to_old_oc(new), old)


def test_norm_angle():
    a = np.linspace(-10, 10, 1001)
    assert rg.norm_angle(a, "oc") is a
    for v, (lo, hi) in (("le135", (-math.pi / 4, 3 * math.pi / 4)), ("le90", (-math.pi / 2, math.pi / 2))):
        n = rg.norm_angle(a, v)
        assert ((n >= lo) & (n < hi)).all()
        np.testing.assert_allclose(np.cos(2 * n), np.cos(2 * a), atol=1e-9)
    assert rg.norm_angle(4.0, "le90") == pytest.approx(4.0 - math.pi)
    with pytest.raises(ValueError):
        rg.norm_angle(a, "le45")


@pytest.mark.parametrize("version", VERSIONS)
def test_poly_round_trip(version):
    b = rg.regularize(random_boxes(np.random.default_rng(2), 400), version)
    p = rg.obb2poly(b, version)
    assert same_rect(rg.poly2obb(p, version), b)
    assert same_rect(rg.min_area_rect(p, version), b)
    np_ = rg.poly2obb_np(p, version)
    small = b[:, 2:4].min(1) < 2
    assert (np.isnan(np_[:, 0]) == small).all()
    assert same_rect(np_[~small], b[~small], tol=1e-4)  # float32, as OpenCV
    if version != "oc":  # le: unique form except squares
        np.testing.assert_allclose(rg.poly2obb(p, version), b, atol=1e-6)


@pytest.mark.parametrize("version", VERSIONS)
def test_poly2obb_np_nan_for_small_sides(version):
    b = np.array([[10, 10, 8, 1.5, 0.2], [10, 10, 8, 3, 0.2], [20, 20, 1.0, 1.0, 0.1]])
    out = rg.poly2obb_np(rg.obb2poly(rg.regularize(b, version)), version)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all() and np.isnan(out[2]).all()
    single = rg.poly2obb_np(rg.obb2poly(b[1]), version)
    assert single.shape == (5,)


def test_poly2obb_np_matches_opencv_min_area_rect():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    b = random_boxes(rng, 2000, 0, 500, 50)
    polys = (rg.obb2poly(b) + rng.normal(0, 0.5, (2000, 8))).astype(np.float32)
    for version in ("oc", "le90"):
        ours = rg.poly2obb_np(polys, version)
        for i, p in enumerate(polys):
            (x, y), (w, h), a = cv2.minAreaRect(p.reshape(4, 2))
            ref = rg.regularize(np.array([x, y, w, h, math.radians(a)]), version)
            if w < 2 or h < 2:
                assert np.isnan(ours[i]).all()
            else:
                np.testing.assert_allclose(ours[i], ref, rtol=1e-5, atol=1e-4)


def _mmrotate_poly2obb_np(poly: np.ndarray, version: str, cv2) -> tuple[float, ...] | None:
    """MMRotate 0.3.4's ``poly2obb_np_oc`` / ``poly2obb_np_le90``, step for step."""
    (x, y), (w, h), a = cv2.minAreaRect(np.array(poly).reshape(4, 2))
    if w < 2 or h < 2:
        return None
    if version == "oc":
        while not 0 < a <= 90:
            if a == -90:
                a += 180
            else:
                a += 90
                w, h = h, w
        return x, y, w, h, a / 180 * np.pi
    a = a / 180 * np.pi
    if w < h:
        w, h, a = h, w, a + np.pi / 2
    while not np.pi / 2 > a >= -np.pi / 2:
        a = a - np.pi if a >= np.pi / 2 else a + np.pi
    return x, y, w, h, a


def _axis_aligned_polys(n: int, seed: int) -> np.ndarray:
    """Integer axis-aligned rectangles (DOTA's many horizontal storage tanks, vehicles): each
    starting at any corner, in either orientation, some under 2 px."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        (x0, y0), (w, h) = rng.integers(0, 500, 2), rng.integers(1, 60, 2)
        pts = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float32)
        pts = np.roll(pts, rng.integers(0, 4), 0)
        out.append((pts[::-1] if rng.random() < 0.5 else pts).reshape(8))
    return np.array(out)


@pytest.mark.parametrize("version", ["oc", "le90"])
def test_poly2obb_np_axis_aligned_exactly_as_mmrotate(version):
    """OpenCV's float32 pi/2 reaches MMRotate as 90 degrees, so 'oc' gives theta = pi/2 and keeps
    w, h; before, the float32 pi/2 (4.4e-8 above pi/2) wrapped to 4.4e-8 with w, h swapped
    (15 of 733 objects of the real DOTA sample)."""
    cv2 = pytest.importorskip("cv2")
    polys = _axis_aligned_polys(2000, seed=11)
    ours = rg.poly2obb_np(polys.astype(np.float64), version)
    for poly, got in zip(polys, ours):
        ref = _mmrotate_poly2obb_np(poly, version, cv2)
        if ref is None:
            assert np.isnan(got).all()
        else:
            np.testing.assert_array_equal(got, ref)


def test_poly2obb_np_oc_keeps_axis_aligned_at_half_pi():
    """The same without OpenCV: MMRotate's answer for a 10 x 5 rectangle from any corner."""
    rect = np.array([[0, 0], [10, 0], [10, 5], [0, 5]], np.float64)
    for k in range(4):
        for pts in (np.roll(rect, k, 0), np.roll(rect, k, 0)[::-1]):
            np.testing.assert_array_equal(rg.poly2obb_np(pts.reshape(8), "oc"), [5, 2.5, 5, 10, math.pi / 2])
            np.testing.assert_array_equal(rg.poly2obb_np(pts.reshape(8), "le90"), [5, 2.5, 10, 5, 0])


def test_min_area_rect_is_minimal():
    rng = np.random.default_rng(4)
    pts = rng.uniform(0, 10, (300, 9, 2))
    r = rg.min_area_rect(pts, "le90")
    # every point inside, and area no larger than any hull-edge-aligned rectangle (brute force)
    inside = np.array(
        [
            rg.points_in_rboxes(pts[i], r[i : i + 1] + np.array([0, 0, 1e-6, 1e-6, 0])).all()
            for i in range(300)
        ]
    )
    assert inside.all()
    for i in range(20):
        best = min(
            np.ptp(pts[i] @ [math.cos(t), math.sin(t)]) * np.ptp(pts[i] @ [-math.sin(t), math.cos(t)])
            for t in np.linspace(0, math.pi / 2, 2000)
        )
        assert r[i, 2] * r[i, 3] <= best + 1e-9


@pytest.mark.parametrize("version", VERSIONS)
def test_hbb_conversions(version):
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 50, (100, 2))
    hbb = np.concatenate([xy, xy + rng.uniform(1, 30, (100, 2))], 1)
    ob = rg.hbb2obb(hbb, version)
    assert rg.in_range(ob, version).all()
    np.testing.assert_allclose(rg.obb2xyxy(ob, version), hbb, atol=1e-9)
    b = rg.regularize(random_boxes(rng, 100), version)
    hb = rg.obb2hbb(b, version)
    assert rg.in_range(hb, version).all()
    np.testing.assert_allclose(rg.obb2xyxy(hb, version), rg.obb2xyxy(b, version), atol=1e-9)
    p = rg.obb2poly(b).reshape(-1, 4, 2)
    xyxy = np.concatenate([p.min(1), p.max(1)], 1)
    np.testing.assert_allclose(rg.obb2xyxy(b, version), xyxy, atol=1e-9)


def test_obb2poly_np_score_and_begin_point():
    b = np.array([[50, 50, 20, 10, 0.3, 0.9], [10, 10, 4, 8, -1.2, 0.1]])
    out = rg.obb2poly_np(b, "le90")
    assert out.shape == (2, 9)
    np.testing.assert_allclose(out[:, 8], b[:, 5])
    # same corner set, cyclic order kept, first vertex the one nearest the top-left corner
    p = rg.obb2poly(b[:, :5]).reshape(-1, 4, 2)
    q = out[:, :8].reshape(-1, 4, 2)
    for i in range(2):
        k = next(j for j in range(4) if np.allclose(p[i, j], q[i, 0]))
        np.testing.assert_allclose(np.roll(p[i], -k, 0), q[i])
    assert rg.obb2poly_np(b[:, :5]).shape == (2, 8)


def test_unknown_version_raises():
    with pytest.raises(ValueError):
        rg.obb2poly(np.zeros((1, 5)), "v1")


def test_leading_dimensions():
    b = random_boxes(np.random.default_rng(6), 24).reshape(2, 3, 4, 5)
    assert rg.obb2poly(b).shape == (2, 3, 4, 8)
    assert rg.poly2obb(rg.obb2poly(b), "le90").shape == (2, 3, 4, 5)
    assert rg.poly2obb_np(rg.obb2poly(b), "le90").shape == (2, 3, 4, 5)
    assert rg.regularize(b, "oc").shape == b.shape


# A public function, an input of the wrong shape, and the error: the argument's name and the
# shape, worded as rbox_ops words it (the same for numpy and torch input: see test_torch.py).
BAD_SHAPES = [
    (
        lambda x: rg.box_iou_rotated(x, np.zeros((1, 5))),
        (2, 4),
        r"bboxes1 must have shape \(N, 5\), got \(2, 4\)",
    ),
    (lambda x: rg.rbbox_overlaps(np.zeros((1, 5)), x), (3,), r"bboxes2 must have shape \(N, 5\), got \(3,\)"),
    (lambda x: rg.obb2poly(x, "le90"), (2, 4), r"rbboxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.obb2poly_np(x, "le90"), (2, 4), r"rbboxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.poly2obb(x, "le90"), (2, 7), r"polys must have shape \(\.\.\., 8\), got \(2, 7\)"),
    (lambda x: rg.poly2obb_np(x, "le90"), (2, 7), r"polys must have shape \(\.\.\., 8\), got \(2, 7\)"),
    (lambda x: rg.poly2obb_np(x, "le135"), (2, 7), r"polys must have shape \(\.\.\., 8\), got \(2, 7\)"),
    (lambda x: rg.obb2xyxy(x, "le90"), (2, 4), r"rbboxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.obb2hbb(x, "le90"), (2, 4), r"rbboxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.hbb2obb(x, "le90"), (2, 3), r"hbboxes must have shape \(\.\.\., 4\), got \(2, 3\)"),
    (
        lambda x: rg.get_best_begin_point(x),
        (2, 6),
        r"coordinates must have shape \(\.\.\., 8\), got \(2, 6\)",
    ),
    (
        lambda x: rg.min_area_rect(x),
        (2, 7),
        r"points must have shape \(\.\.\., 2k\) or \(\.\.\., k, 2\), got \(2, 7\)",
    ),
    (
        lambda x: rg.min_area_rect(x),
        (2, 1, 2),
        r"points must hold at least 2 points per set, got shape \(2, 1, 2\)",
    ),
    (lambda x: rg.regularize(x, "le90"), (2, 4), r"boxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.in_range(x, "le90"), (2, 4), r"boxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.rbox_area(x), (2, 3), r"boxes must have shape \(\.\.\., 5\), got \(2, 3\)"),
    (lambda x: rg.flip_rboxes(x, (10, 10)), (2, 4), r"boxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (lambda x: rg.bbox_flip(x, (10, 10)), (2, 7), r"bboxes must have shape \(\.\.\., 5k\), got \(2, 7\)"),
    (
        lambda x: rg.points_in_rboxes(np.zeros((1, 2)), x),
        (2, 4),
        r"boxes must have shape \(B, 5\), got \(2, 4\)",
    ),
    (lambda x: rg.xywhr2gaussian(x), (2, 4), r"boxes must have shape \(\.\.\., 5\), got \(2, 4\)"),
    (
        lambda x: rg.gt2gaussian(x),
        (2, 6),
        r"target must have shape \(\.\.\., 8\) or \(\.\.\., 4, 2\), got \(2, 6\)",
    ),
    (lambda x: rg.polygon_area(x), (2, 9), r"polys must have shape \(\.\.\., 8\), got \(2, 9\)"),
    (
        lambda x: rg.polygon_overlaps(x, np.zeros((1, 8))),
        (2, 6),
        r"polys1 must have shape \(N, 8\), got \(2, 6\)",
    ),
]


@pytest.mark.parametrize(("fn", "shape", "message"), BAD_SHAPES)
def test_wrong_shapes_raise_naming_the_argument(fn, shape, message):
    """These were bare IndexErrors or numpy reshape errors (``rg.obb2poly(np.zeros((2, 4)))``)."""
    with pytest.raises(ValueError, match=message):
        fn(np.zeros(shape))


def test_extra_columns_are_still_accepted():
    """A score column (MMRotate's (k, 6) detections) is ignored or kept, as before."""
    b = np.array([[10.0, 10, 4, 2, 0.3, 0.9]])
    assert rg.box_iou_rotated(b, b)[0, 0] == pytest.approx(1.0)
    assert rg.obb2poly(b, "le90").shape == (1, 8)
    assert rg.obb2poly_np(b, "le90").shape == (1, 9)
    assert rg.obb2hbb(b, "le90").shape == (1, 6)
    poly = np.array([[0.0, 0, 10, 0, 10, 5, 0, 5, 0.9]])
    np.testing.assert_allclose(rg.poly2obb_np(poly, "le90"), rg.poly2obb_np(poly[:, :8], "le90"))
    assert rg.get_best_begin_point(poly).shape == (1, 9)
