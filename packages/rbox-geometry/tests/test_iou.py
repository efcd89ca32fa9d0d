"""rbbox_overlaps: special configurations, shapely agreement, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rbox_geometry as rg

from .conftest import random_boxes


def iou1(a, b, mode="iou"):
    return float(rg.rbbox_overlaps(np.array([a], float), np.array([b], float), mode)[0, 0])


@pytest.mark.parametrize("t", [0.0, 0.3, math.pi / 4, math.pi / 2, -1.0, 2.5])
def test_identical(t):
    b = [123.4, 56.7, 30, 12, t]
    assert iou1(b, b) == pytest.approx(1.0, abs=1e-12)
    assert iou1(b, b, "iof") == pytest.approx(1.0, abs=1e-12)
    # the same rectangle written in another version
    b2 = rg.regularize(np.array([b]), "oc")[0]
    assert iou1(b, b2) == pytest.approx(1.0, abs=1e-9)


def test_nested():
    outer = [50, 50, 40, 20, 0.4]
    inner = [50, 50, 20, 10, 0.4]
    assert iou1(outer, inner) == pytest.approx(0.25, abs=1e-12)
    assert iou1(inner, outer, "iof") == pytest.approx(1.0, abs=1e-12)
    assert iou1(outer, inner, "iof") == pytest.approx(0.25, abs=1e-12)
    # inner box flush with one side of the outer box
    flush = [40, 50, 20, 20, 0.0]
    assert iou1([50, 50, 40, 20, 0.0], flush) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.7, -0.2])
def test_touching_and_far(t):
    a = np.array([50, 50, 20, 10, t])
    # neighbour sharing the right edge, and one sharing a corner only
    d = np.array([math.cos(t), math.sin(t)]) * 20
    e = np.array([-math.sin(t), math.cos(t)]) * 10
    side = a.copy()
    side[:2] += d
    corner = a.copy()
    corner[:2] += d + e
    far = a + np.array([1000, -500, 0, 0, 0])
    assert iou1(a, side) == pytest.approx(0.0, abs=1e-9)
    assert iou1(a, corner) == pytest.approx(0.0, abs=1e-9)
    assert iou1(a, far) == 0.0


def test_45_degrees():
    a = [0, 0, 2, 2, 0]
    b = [0, 0, 2, 2, math.pi / 4]
    inter = 8 * (math.sqrt(2) - 1)  # regular octagon of the two squares
    assert iou1(a, b) == pytest.approx(inter / (8 - inter), rel=1e-12)


def test_degenerate_boxes():
    boxes = np.array([[10, 10, 0, 5, 0.3], [10, 10, 5, 0, 0.3], [10, 10, 0, 0, 0], [10, 10, 5, 5, 0.3]])
    for mode in ("iou", "iof"):
        r = rg.rbbox_overlaps(boxes, boxes, mode)
        assert np.isfinite(r).all()
        np.testing.assert_array_equal(r[:3], 0)
        np.testing.assert_array_equal(r[:, :3], 0)
        assert r[3, 3] == pytest.approx(1)


def test_agrees_with_shapely():
    geom = pytest.importorskip("shapely.geometry")
    rng = np.random.default_rng(0)
    b1 = random_boxes(rng, 80, 0, 60)
    b2 = random_boxes(rng, 70, 0, 60)
    P = [geom.Polygon(p.reshape(4, 2)) for p in rg.obb2poly(b1)]
    Q = [geom.Polygon(p.reshape(4, 2)) for p in rg.obb2poly(b2)]
    inter = np.array([[p.intersection(q).area for q in Q] for p in P])
    a1 = np.array([p.area for p in P])[:, None]
    a2 = np.array([q.area for q in Q])[None]
    np.testing.assert_allclose(rg.rbbox_overlaps(b1, b2), inter / (a1 + a2 - inter), atol=1e-9)
    np.testing.assert_allclose(rg.rbbox_overlaps(b1, b2, "iof"), inter / a1, atol=1e-9)
    aligned = rg.rbbox_overlaps(b1[:70], b2, is_aligned=True)
    np.testing.assert_allclose(aligned, np.diag((inter / (a1 + a2 - inter))[:70]), atol=1e-9)


def test_chunking_and_shapes():
    rng = np.random.default_rng(1)
    b1, b2 = random_boxes(rng, 50, 0, 40), random_boxes(rng, 40, 0, 40)
    full = rg.rbbox_overlaps(b1, b2)
    np.testing.assert_allclose(rg.rbbox_overlaps(b1, b2, chunk=7), full)
    assert rg.rbbox_overlaps(b1[:0], b2).shape == (0, 40)
    assert rg.rbbox_overlaps(b1[:0], b2[:0], is_aligned=True).shape == (0,)
    assert rg.rbbox_overlaps(b1.astype(np.float32), b2.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(rg.box_iou_rotated(b1, b2), full)
    with pytest.raises(ValueError):
        rg.rbbox_overlaps(b1, b2, "giou")
    with pytest.raises(ValueError):
        rg.rbbox_overlaps(b1, b2, is_aligned=True)


def test_counterclockwise_flag():
    rng = np.random.default_rng(2)
    b1, b2 = random_boxes(rng, 30, 0, 40), random_boxes(rng, 30, 0, 40)
    neg = np.array([1, 1, 1, 1, -1.0])
    np.testing.assert_allclose(
        rg.rbbox_overlaps(b1, b2, clockwise=False), rg.rbbox_overlaps(b1 * neg, b2 * neg)
    )
