"""Boxes back to the original image: rdet-models' rule (isotropic divides; anisotropic maps corners)."""

from __future__ import annotations

import numpy as np
import pytest
from rdet_deploy.model import unscale_boxes

from rbox_geometry import obb2poly, poly2obb_np


def test_isotropic_divides_and_keeps_the_angle() -> None:
    boxes = np.array([[100, 50, 40, 20, 0.3, 0.9]], np.float32)
    out = unscale_boxes(boxes, np.array([2, 2, 2, 2], np.float32), None)
    np.testing.assert_allclose(out[0], [50, 25, 20, 10, 0.3, 0.9], rtol=1e-6)


@pytest.mark.parametrize("version", ["oc", "le90", "le135"])
def test_anisotropic_maps_the_corners(version: str) -> None:
    """A 320x120 image resized to 256x256 (keep_ratio=False): sx = 0.8, sy = 2.13. Dividing
    (cx, cy, w, h) would give a box of another shape; the corners give the true rectangle."""
    sx, sy = 256 / 320, 256 / 120
    boxes = np.array([[128, 128, 80, 30, 0.5, 0.7], [60, 200, 40, 40, -0.2, 0.4]], np.float32)
    boxes[:, :5] = poly2obb_np(obb2poly(boxes[:, :5].astype(np.float64), version), version)
    out = unscale_boxes(boxes, np.array([sx, sy, sx, sy], np.float32), version)
    corners = obb2poly(boxes[:, :5].astype(np.float64), version).reshape(-1, 4, 2) / [sx, sy]
    want = poly2obb_np(corners.reshape(-1, 8), version, min_side=0)
    np.testing.assert_allclose(out[:, :5], want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(out[:, 5], boxes[:, 5])  # the scores ride along
    naive = boxes[:, :4] / [sx, sy, sx, sy]
    assert np.abs(naive - out[:, :4]).max() > 5  # the old division was pixels off


def test_anisotropic_without_a_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="export it again"):
        unscale_boxes(
            np.zeros((1, 5), np.float32), np.array([0.5, 2, 0.5, 2], np.float32), None, keep_ratio=False
        )


def test_old_metadata_with_keep_ratio_divides() -> None:
    """Before the metadata named the angle version: a keep_ratio resize is isotropic up to rounding."""
    boxes = np.array([[30, 20, 10, 6, 0.2]], np.float32)
    out = unscale_boxes(boxes, np.array([0.5, 0.52, 0.5, 0.52], np.float32), None, keep_ratio=True)
    np.testing.assert_allclose(out[0], [60, 20 / 0.52, 20, 6 / 0.52, 0.2], rtol=1e-6)
