"""convex_iou / convex_giou: shapely on the hulls, compiled == torch, the gradient (autograd,
finite differences, gradcheck), degenerate input, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from rbox_ops import convex_giou, convex_iou
from rbox_ops.convex_iou import giou_value

shapely_geometry = pytest.importorskip("shapely.geometry")
MultiPoint, Polygon = shapely_geometry.MultiPoint, shapely_geometry.Polygon

SQUARE = [0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]


def _pointsets(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 1, 2, generator=g, dtype=torch.float64) * 60
    return (ctr + torch.randn(n, 9, 2, generator=g, dtype=torch.float64) * 8).view(n, 18)


def _rects(k: int, seed: int) -> torch.Tensor:
    """Rotated rectangles' corners (obb2poly's output), clockwise or counter-clockwise."""
    g = torch.Generator().manual_seed(seed + 100)
    c = torch.rand(k, 2, generator=g, dtype=torch.float64) * 60
    wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * 20 + 2
    a = torch.rand(k, generator=g, dtype=torch.float64) * math.pi
    u = torch.stack((a.cos(), a.sin()), 1) * wh[:, :1] / 2
    v = torch.stack((-a.sin(), a.cos()), 1) * wh[:, 1:] / 2
    corners = torch.stack((c + u + v, c - u + v, c - u - v, c + u - v), 1)
    corners[::2] = corners[::2].flip(1)
    return corners.reshape(k, 8)


def _shapely_iou_giou(p: torch.Tensor, q: torch.Tensor) -> tuple[float, float]:
    hull = MultiPoint(p.view(9, 2).tolist()).convex_hull
    poly = Polygon(q.view(4, 2).tolist())
    inter = hull.intersection(poly).area
    union = hull.area + poly.area - inter
    enclose = MultiPoint(p.view(9, 2).tolist() + q.view(4, 2).tolist()).convex_hull.area
    return inter / union, inter / union - (enclose - union) / enclose


def test_iou_matches_shapely(backend, device):
    pts, polys = _pointsets(40, 0), _rects(15, 0)
    out = convex_iou(pts.to(device), polys.to(device)).cpu()
    assert out.shape == (40, 15) and out.dtype == torch.float64
    ref = torch.tensor([[_shapely_iou_giou(p, q)[0] for q in polys] for p in pts], dtype=torch.float64)
    assert (ref > 0).sum() > 50  # the case has overlaps
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    # float32 in, float32 out
    assert convex_iou(pts.float().to(device), polys.float().to(device)).dtype == torch.float32


def test_giou_matches_shapely(backend, device):
    pts, polys = _pointsets(30, 1), _rects(30, 1)
    giou, grad = convex_giou(pts.to(device), polys.to(device))
    assert giou.shape == (30,) and grad.shape == (30, 18)
    ref = torch.tensor([_shapely_iou_giou(p, q)[1] for p, q in zip(pts, polys)], dtype=torch.float64)
    torch.testing.assert_close(giou.cpu(), ref, atol=1e-12, rtol=0)


def test_compiled_matches_torch(built, monkeypatch):
    pts, polys = _pointsets(200, 2), _rects(30, 2)
    aligned = polys[torch.arange(200) % 30]
    out = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        out[name] = (convex_iou(pts, polys), *convex_giou(pts, aligned))
    for a, b in zip(out["torch"], out["cpu"]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    if torch.cuda.is_available():
        monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
        cuda = (convex_iou(pts.cuda(), polys.cuda()), *convex_giou(pts.cuda(), aligned.cuda()))
        for a, b in zip(cuda, out["cpu"]):
            torch.testing.assert_close(a.cpu(), b, atol=1e-10, rtol=0)


def test_gradient_is_autograd_and_finite_differences(backend, device):
    """The returned gradient (compiled: dual numbers) equals autograd of the torch code and central
    differences: the pairs are random, so each hull is stable under a 1e-6 step."""
    pts, polys = _pointsets(10, 3), _rects(10, 3)
    polys[:4] = pts[:4, :8] + 1.0  # some polygons near the points, some far
    _, grad = convex_giou(pts.to(device), polys.to(device))
    p = pts.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(giou_value(p, polys).sum(), p)
    torch.testing.assert_close(grad.cpu(), auto, atol=1e-10, rtol=1e-8)
    eps = 1e-6
    fd = torch.zeros_like(pts)
    for k in range(18):
        step = torch.zeros_like(pts)
        step[:, k] = eps
        fd[:, k] = (giou_value(pts + step, polys) - giou_value(pts - step, polys)) / (2 * eps)
    torch.testing.assert_close(grad.cpu(), fd, atol=1e-7, rtol=1e-5)
    # mmcv's semantics: only hull points have a gradient
    inner = torch.tensor([[30.0, 30.0]] * 8 + [[30.5, 30.2]], dtype=torch.float64)
    inner[:8] += torch.tensor([[-5, -5], [5, -5], [5, 5], [-5, 5], [0, -5], [5, 0], [0, 5], [-5, 0]])
    _, g = convex_giou(
        inner.view(1, 18).to(device), torch.tensor([SQUARE], dtype=torch.float64, device=device) + 28
    )
    g = g.cpu().view(9, 2)
    assert (g[4:] == 0).all() and (g[:4].abs().sum(1) > 0).all()  # edge middles and the inner point: 0


def test_gradcheck_torch_code():
    pts, polys = _pointsets(4, 4), _rects(4, 4)
    polys[:2] = pts[:2, :8] + 0.5
    p = pts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: giou_value(x, polys), (p,), eps=1e-6, atol=1e-6, fast_mode=True)


def test_degenerate_inputs_have_defined_results(backend, device):
    """All points equal, collinear, NaN, a zero-area polygon: IoU 0 (0 / 0 is 0), GIoU defined, NaN for NaN."""
    sq = torch.tensor([SQUARE], dtype=torch.float64, device=device)
    same = torch.full((1, 18), 1.0, dtype=torch.float64, device=device)
    line = torch.arange(18.0, dtype=torch.float64, device=device).view(1, 9, 2).mul(0.5).view(1, 18)
    line[0, 1::2] = line[0, ::2]  # (0, 0), (1, 1), ... on y = x
    nan = torch.full((1, 18), 1.0, dtype=torch.float64, device=device)
    nan[0, 3] = float("nan")
    dot = torch.full((1, 8), 2.0, dtype=torch.float64, device=device)
    ious = convex_iou(torch.cat((same, line, nan, _pointsets(1, 5).to(device))), torch.cat((sq, dot)))
    assert ious[:2].eq(0).all() and ious[3, 1] == 0 and ious[2].isnan().all()
    giou, grad = convex_giou(torch.cat((same, line, nan, same)), torch.cat((sq, sq, sq, dot)))
    assert giou[0] == 0 and grad[0].eq(0).all()  # a point inside the square: U = C = 16
    assert -1 < giou[1] < 0 and grad[1].isfinite().all()
    assert giou[2].isnan() and grad[2].isnan().all()
    assert giou[3] == 0 and grad[3].eq(0).all()  # everything one point: 0 / 0 is 0
    # identical hull and polygon, any vertex order: IoU 1, GIoU 1
    box = torch.tensor(
        [[0.0, 0, 4, 0, 4, 4, 0, 4, 2, 0, 4, 2, 2, 4, 0, 2, 2, 2]], dtype=torch.float64, device=device
    )
    for poly in (sq, sq.view(1, 4, 2).flip(1).reshape(1, 8)):
        assert convex_iou(box, poly).item() == pytest.approx(1.0, abs=1e-12)
        assert convex_giou(box, poly)[0].item() == pytest.approx(1.0, abs=1e-12)


def test_concave_polygon_is_taken_as_its_hull(backend, device):
    """Difference from mmcv (signed triangles, exact for a concave quad): we use the quad's hull."""
    dart = torch.tensor([[0.0, 0, 4, 2, 0, 4, 1, 2]], dtype=torch.float64, device=device)  # (1, 2) is a dent
    pts = torch.tensor([[0.0, 0, 4, 2, 0, 4] + [0.0, 0] * 6], dtype=torch.float64, device=device)  # the hull
    assert convex_iou(pts, dart).item() == pytest.approx(1.0)


def test_empty_and_bad_input():
    assert convex_iou(torch.zeros(0, 18), torch.zeros(3, 8)).shape == (0, 3)
    assert convex_iou(torch.zeros(2, 18), torch.zeros(0, 8)).shape == (2, 0)
    g, d = convex_giou(torch.zeros(0, 18), torch.zeros(0, 8))
    assert g.shape == (0,) and d.shape == (0, 18)
    with pytest.raises(ValueError, match="pointsets"):
        convex_iou(torch.zeros(2, 16), torch.zeros(3, 8))
    with pytest.raises(ValueError, match="polygons"):
        convex_iou(torch.zeros(2, 18), torch.zeros(3, 10))
    with pytest.raises(ValueError, match="polygons must have 2 rows"):
        convex_giou(torch.zeros(2, 18), torch.zeros(3, 8))
    with pytest.raises(TypeError, match="pointsets"):
        convex_iou(torch.zeros(2, 18, dtype=torch.int64), torch.zeros(3, 8))
    with pytest.raises(TypeError, match="polygons"):
        convex_giou(torch.zeros(2, 18), [[0.0] * 8] * 2)


def test_fake_kernels(built):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        p, q = torch.empty(7, 18, dtype=torch.float64), torch.empty(3, 8, dtype=torch.float64)
        assert torch.ops.rbox_ops.convex_iou(p, q).shape == (7, 3)
        assert torch.ops.rbox_ops.convex_giou(p, torch.empty(7, 8, dtype=torch.float64)).shape == (7, 19)
