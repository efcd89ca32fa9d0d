"""min_area_polygons: OpenCV's minAreaRect (area, coverage), mmcv's corner order, compiled == torch,
degenerate and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rbox_ops import min_area_polygons

cv2 = pytest.importorskip("cv2")


def _pointsets(n: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 1, 2, generator=g, dtype=torch.float64) * 500
    scale = torch.rand(n, 1, 2, generator=g, dtype=torch.float64) * 30 + 1
    return (ctr + torch.randn(n, k, 2, generator=g, dtype=torch.float64) * scale).view(n, 2 * k)


def _area(poly: np.ndarray) -> float:
    x, y = poly[0::2], poly[1::2]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.mark.parametrize("k", [9, 4, 16])
def test_matches_opencv_and_covers_every_point(backend, device, k):
    pts = _pointsets(150, k, k)
    rects = min_area_polygons(pts.to(device)).cpu().numpy()
    assert rects.shape == (150, 8)
    for p, r in zip(pts.numpy(), rects):
        (_, _), (w, h), _ = cv2.minAreaRect(p.reshape(-1, 2).astype(np.float32))
        area = -_area(r)  # clockwise in (x, y) axes
        assert area == pytest.approx(w * h, rel=1e-4)
        # mmcv's corner order: (u max, v min), (u min, v min), (u min, v max), (u max, v max):
        # clockwise in (x, y) axes (counter-clockwise on screen), the first side along u = (cos t, sin t), t in [0, pi/2)
        assert area > 0
        u = r[0:2] - r[2:4]
        assert 0 <= math.atan2(u[1], u[0]) < math.pi / 2
        # every point inside (or on) the rectangle: its distance outside each side is ~0
        corners = r.reshape(4, 2)
        for i in range(4):
            a, b = corners[i], corners[(i + 1) % 4]
            e = b - a
            side = e[0] * (p.reshape(-1, 2)[:, 1] - a[1]) - e[1] * (p.reshape(-1, 2)[:, 0] - a[0])
            assert (side / np.hypot(*e) < 1e-9 * (1 + np.abs(p).max())).all()  # on the right: inside


def test_compiled_matches_torch(built, monkeypatch):
    pts = _pointsets(500, 9, 7)
    out = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        out[name] = min_area_polygons(pts)
    if torch.cuda.is_available():
        monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
        out["cuda"] = min_area_polygons(pts.cuda()).cpu()
    for name in out:
        # the same rectangle, but where two hull edges give the same area to rounding (a triangle's
        # edges often do: base x height each) the backends may pick different ones: same area then
        same = ((out[name] - out["cpu"]).abs() < 1e-9).all(1)
        assert same.sum() >= 490, name
        areas = [-torch.tensor([_area(r.numpy()) for r in out[x][~same]]) for x in (name, "cpu")]
        torch.testing.assert_close(areas[0], areas[1], rtol=1e-12, atol=0)


def test_axis_aligned_square_and_dtype(backend, device):
    sq = torch.tensor([[0.0, 0, 2, 0, 2, 2, 0, 2, 1, 1, 1, 0, 2, 1, 1, 2, 0, 1]], device=device)
    out = min_area_polygons(sq)
    assert out.dtype == torch.float32
    assert out.cpu().tolist() == [[2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0]]


def test_degenerate_inputs(backend, device):
    same = torch.full((1, 18), 3.0, dtype=torch.float64)
    line = torch.arange(9.0, dtype=torch.float64).repeat_interleave(2).view(1, 18)  # on y = x
    nan = same.clone()
    nan[0, 5] = float("nan")
    out = min_area_polygons(torch.cat((same, line, nan)).to(device)).cpu()
    assert out[0].eq(3.0).all()  # four copies of the point
    seg = out[1].view(4, 2)  # the segment (0, 0) - (8, 8): two pairs of equal corners
    torch.testing.assert_close(seg, torch.tensor([[8.0, 8], [0, 0], [0, 0], [8, 8]], dtype=torch.float64))
    assert out[2].isnan().all()
    one = min_area_polygons(torch.tensor([[5.0, 6.0]], device=device)).cpu()
    assert one.tolist() == [[5.0, 6.0] * 4]


def test_bad_input():
    assert min_area_polygons(torch.zeros(0, 18)).shape == (0, 8)
    for shape in [(3, 17), (3, 0), (3, 34), (18,)]:
        with pytest.raises(ValueError, match="pointsets"):
            min_area_polygons(torch.zeros(shape))
    with pytest.raises(TypeError, match="pointsets"):
        min_area_polygons(torch.zeros(3, 18, dtype=torch.int32))
