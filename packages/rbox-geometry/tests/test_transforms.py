"""Flips, rotations, rescale, translate, clip, points-in-box: geometry and versions kept."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rbox_geometry as rg

from .conftest import random_boxes

VERSIONS = ("oc", "le135", "le90")


def mirror_polys(p, img_shape, direction, off=1.0):
    p = p.reshape(-1, 4, 2).copy()
    H, W = img_shape[:2]
    if direction in ("horizontal", "diagonal"):
        p[..., 0] = W - p[..., 0] - off
    if direction in ("vertical", "diagonal"):
        p[..., 1] = H - p[..., 1] - off
    return p.reshape(-1, 8)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flip_keeps_version_and_geometry(version, direction):
    b = rg.regularize(random_boxes(np.random.default_rng(0), 300), version)
    img = (200, 300, 3)
    f = rg.flip_rboxes(b, img, direction, version)
    assert rg.in_range(f, version).all()
    want = mirror_polys(rg.obb2poly(b), img, direction)
    np.testing.assert_allclose(rg.polygon_overlaps(rg.obb2poly(f), want, is_aligned=True), 1, atol=1e-9)
    np.testing.assert_allclose(rg.flip_rboxes(f, img, direction, version), b, atol=1e-9)
    # MMRotate's (..., 5k) layout
    two = np.concatenate([b, b], 1)
    np.testing.assert_allclose(rg.bbox_flip(two, img, direction, version)[:, 5:], f)


def test_flip_oc_right_angle_kept():
    b = np.array([[10, 10, 4, 2, math.pi / 2]])
    f = rg.flip_rboxes(b, (100, 100), "horizontal", "oc")
    np.testing.assert_allclose(f, [[89, 10, 4, 2, math.pi / 2]])


@pytest.mark.parametrize("version", VERSIONS)
def test_rotate_keeps_version_and_geometry(version):
    rng = np.random.default_rng(1)
    b = rg.regularize(random_boxes(rng, 200), version)
    for ang in (0.3, -1.2, math.pi / 2, math.pi):
        r = rg.rotate_rboxes(b, ang, (50, 40), version)
        assert rg.in_range(r, version).all()
        p = rg.obb2poly(b).reshape(-1, 4, 2) - [50, 40]
        c, s = math.cos(ang), math.sin(ang)
        q = np.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], -1) + np.array([50, 40])
        np.testing.assert_allclose(
            rg.polygon_overlaps(rg.obb2poly(r), q.reshape(-1, 8), is_aligned=True), 1, atol=1e-9
        )


def test_rotate_matches_opencv_matrix():
    cv2 = pytest.importorskip("cv2")
    b = np.array([[30.0, 20, 10, 4, 0.2]])
    M = cv2.getRotationMatrix2D((50, 40), 30, 1.0)  # 30 degrees counter-clockwise on screen
    p = rg.obb2poly(b).reshape(4, 2)
    q = p @ M[:, :2].T + M[:, 2]
    r = rg.rotate_rboxes(b, -math.radians(30), (50, 40), "le90")
    assert rg.polygon_overlaps(rg.obb2poly(r), q.reshape(1, 8), is_aligned=True)[0] == pytest.approx(1)


def test_rescale_translate_clip_area():
    b = np.array([[10.0, 20, 4, 2, 0.5, 0.9]])
    np.testing.assert_allclose(rg.rescale_rboxes(b, 2.0), [[20, 40, 8, 4, 0.5, 0.9]])
    np.testing.assert_allclose(rg.rescale_rboxes(b, (2.0, 0.5)), [[20, 10, 4, 2, 0.5, 0.9]])
    np.testing.assert_allclose(rg.translate_rboxes(b, (1, -2)), [[11, 18, 4, 2, 0.5, 0.9]])
    np.testing.assert_allclose(rg.clip_rboxes(b - [20, 0, 0, 0, 0, 0], (15, 30)), [[0, 15, 4, 2, 0.5, 0.9]])
    np.testing.assert_allclose(rg.rbox_area(b), [8])


def test_points_in_rboxes():
    b = np.array([[0, 0, 4, 2, math.pi / 2], [10, 10, 2, 2, 0.3]])
    pts = np.array([[0, 1.9], [1.5, 0], [0.9, 0], [0, 2.0], [10, 10]])
    m = rg.points_in_rboxes(pts, b)
    np.testing.assert_array_equal(m[:, 0], [True, False, True, True, False])
    np.testing.assert_array_equal(m[:, 1], [False, False, False, False, True])


def test_rescale_rboxes_with_a_version_maps_the_corners():
    """Anisotropic factors with a version: the rectangle of the scaled corners (what
    RResize(keep_ratio=False) does to polygons); without one, or isotropic: as before."""
    b = np.array([[100.0, 50.0, 40.0, 20.0, 0.4, 0.9]])
    for version in ("oc", "le90", "le135"):
        box = np.concatenate([rg.poly2obb_np(rg.obb2poly(b[:, :5], version), version), b[:, 5:]], 1)
        corners = rg.obb2poly(box[:, :5], version).reshape(-1, 4, 2) * [2.0, 0.5]
        want = rg.poly2obb_np(corners.reshape(-1, 8), version, min_side=0)
        got = rg.rescale_rboxes(box, (2.0, 0.5), version=version)
        np.testing.assert_allclose(got[:, :5], want)
        assert got[0, 5] == 0.9
        np.testing.assert_allclose(rg.rescale_rboxes(box, 2.0, version=version), rg.rescale_rboxes(box, 2.0))
    assert rg.is_isotropic(1.0, 1.001) and not rg.is_isotropic(1.0, 1.01)
    with pytest.raises(ValueError, match="version"):
        rg.rescale_rboxes(b, (2.0, 0.5), version="le45")
