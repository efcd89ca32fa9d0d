from __future__ import annotations

import numpy as np

import rbox_geometry as rg

from .conftest import random_boxes


def test_gaussian_round_trip():
    b = rg.regularize(random_boxes(np.random.default_rng(0), 200), "le90")
    mu, sigma = rg.xywhr2gaussian(b)
    assert mu.shape == (200, 2) and sigma.shape == (200, 2, 2)
    np.testing.assert_allclose(sigma, sigma.swapaxes(-1, -2))
    np.testing.assert_allclose(np.linalg.det(sigma), (b[:, 2] * b[:, 3] / 4) ** 2, rtol=1e-9)
    back = rg.gaussian2xywhr(mu, sigma, "le90")
    np.testing.assert_allclose(back, b, atol=1e-6)
    assert rg.xy_wh_r_2_xy_sigma is rg.xywhr2gaussian


def test_gt2gaussian_and_back():
    b = rg.regularize(random_boxes(np.random.default_rng(1), 50), "le90")
    polys = rg.obb2poly(b)
    mu, sigma = rg.gt2gaussian(polys)
    mu2, sigma2 = rg.xywhr2gaussian(b)
    np.testing.assert_allclose(mu, mu2, atol=1e-9)
    np.testing.assert_allclose(sigma, sigma2 / 9, rtol=1e-9, atol=1e-9)  # L = 3
    _, sigma3 = rg.gt2gaussian(polys.reshape(-1, 4, 2))
    np.testing.assert_allclose(sigma3, sigma)
    # gaussian2bbox: corners at 3 std devs = the box itself
    p = rg.gaussian2bbox(mu, sigma)
    assert rg.polygon_overlaps(p, polys, is_aligned=True).min() > 1 - 1e-6
