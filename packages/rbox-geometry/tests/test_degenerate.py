"""Degenerate input: NaN corners, negative sizes, inverted horizontal boxes.

Rules: NaN in gives NaN out (never a finite made-up box); a negative w or h describes the same
rectangle as its absolute value (obb2poly draws the same corners). Where this differs from
MMRotate 0.3.4 the test says so (the golden files hold no such input).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import rbox_geometry as rg

VERSIONS = ("oc", "le135", "le90")
RECT = [0.0, 0.0, 10.0, 0.0, 10.0, 5.0, 0.0, 5.0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("func", [rg.poly2obb, rg.poly2obb_np])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_corner_gives_a_nan_row(func, version, bad):
    # Differs from MMRotate: its 'le135' poly2obb_np and its torch poly2obb 'le135' / 'le90'
    # read the box from p1, p2, p3 (and p4 only for the angle of some boxes) and returned a
    # finite box when the 4th corner was NaN; its torch 'oc' gave NaN only in cx.
    polys = np.array([RECT, RECT])
    polys[1, 6] = bad
    out = func(polys, version)
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1]).all(), out[1]


@pytest.mark.parametrize("version", VERSIONS)
def test_nonfinite_corner_torch(version):
    torch = pytest.importorskip("torch")
    polys = torch.tensor([RECT, RECT], dtype=torch.float64)
    polys[1, 7] = math.nan
    for func in (rg.poly2obb, rg.poly2obb_np):
        out = func(polys, version)
        assert isinstance(out, torch.Tensor) and torch.isfinite(out[0]).all()
        assert torch.isnan(out[1]).all(), (func.__name__, out[1])


@pytest.mark.parametrize("version", VERSIONS)
def test_obb2xyxy_negative_size_is_the_same_rectangle(version):
    # Differs from MMRotate's 'oc' (cos*w + sin*h, which gave x1 > x2 for w < 0); the same as
    # its 'le135' / 'le90' (min / max of obb2poly's corners) for every sign.
    box = np.array([[50.0, 40.0, 20.0, 8.0, 0.3]])
    for sign_w, sign_h in ((-1, 1), (1, -1), (-1, -1)):
        neg = box * [1, 1, sign_w, sign_h, 1]
        xyxy = rg.obb2xyxy(neg, version)
        assert (xyxy[:, 0] <= xyxy[:, 2]).all() and (xyxy[:, 1] <= xyxy[:, 3]).all()
        np.testing.assert_allclose(xyxy, rg.obb2xyxy(box, version))
        poly = rg.obb2poly(neg, version).reshape(-1, 4, 2)
        np.testing.assert_allclose(xyxy[:, :2], poly.min(1))
        np.testing.assert_allclose(xyxy[:, 2:], poly.max(1))
        assert (rg.obb2hbb(neg, version)[:, 2:4] > 0).all()


@pytest.mark.parametrize("version", (*VERSIONS, "oc_old"))
def test_regularize_makes_sizes_positive(version):
    # regularize has no MMRotate 0.3.4 counterpart (MMRotate 1.x's regularize_boxes keeps a
    # negative h); ours gives the same rectangle with w, h >= 0.
    boxes = np.array([[5.0, 5.0, 10.0, -4.0, 0.3], [5.0, 5.0, -10.0, 4.0, 0.3], [5.0, 5.0, -3.0, -6.0, 1.0]])
    r = rg.regularize(boxes, version)
    assert (r[:, 2:4] >= 0).all(), r
    assert rg.in_range(r, version).all()
    np.testing.assert_allclose(
        np.sort(rg.obb2poly(r).reshape(-1, 4, 2).round(9), 1),
        np.sort(rg.obb2poly(boxes).reshape(-1, 4, 2).round(9), 1),
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_regularize_and_obb2xyxy_nan_in_nan_out(version):
    boxes = np.array([[5.0, 5.0, math.nan, 4.0, 0.3], [5.0, 5.0, 10.0, 4.0, math.nan]])
    assert np.isnan(rg.obb2xyxy(boxes, version)).any(-1).all()
    assert np.isnan(rg.regularize(boxes, version)).any(-1).all()


@pytest.mark.parametrize("version", VERSIONS)
def test_hbb2obb_inverted_box_keeps_mmrotates_output(version):
    # Same as MMRotate (documented in hbb2obb): no check on the values (no device sync,
    # traceable), so x2 < x1 and y2 < y1 give negative sizes; regularize makes them positive.
    out = rg.hbb2obb(np.array([[10.0, 10.0, 0.0, 4.0]]), version)
    np.testing.assert_allclose(out[0, :2], [5.0, 7.0])
    assert sorted(out[0, 2:4].tolist()) == [-10.0, -6.0]
    fixed = rg.regularize(out, version)
    assert (fixed[:, 2:4] > 0).all()
    assert sorted(fixed[0, 2:4].tolist()) == [6.0, 10.0]
    assert np.isnan(rg.hbb2obb(np.array([[0.0, 0.0, math.nan, 4.0]]), version)).any()
