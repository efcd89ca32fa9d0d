"""points_in_polygons: mmcv's rule by hand, compiled == torch exactly, shapely away from the boundary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbox_ops import points_in_polygons

SQUARE = [0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]


def test_mmcv_rule_by_hand(backend, device):
    """Inside/outside as mmcv's kernel decides, boundary points included (its edge order decides them)."""
    pts = torch.tensor(
        [
            [1.0, 1.0],  # inside
            [3.0, 1.0],  # outside
            [0.0, 1.0],  # left edge: out
            [2.0, 1.0],  # right edge: out
            [1.0, 0.0],  # bottom edge: out
            [1.0, 2.0],  # top edge: in (its crossing was counted before the stop)
            [0.0, 0.0],  # vertices: out
            [2.0, 2.0],
            [0.0, 2.0],
            [2.0, 0.0],
        ],
        device=device,
    )
    out = points_in_polygons(pts, torch.tensor([SQUARE], device=device))
    assert out.dtype == torch.float32 and out.shape == (10, 1)
    assert out[:, 0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]


def _cases(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random quads (convex, concave, self-crossing, degenerate) on an integer grid, and points on
    their vertices, on their edges, on the grid and anywhere."""
    g = torch.Generator().manual_seed(seed)
    quads = torch.randint(0, 9, (60, 8), generator=g).float()
    quads[:5] = quads[:5, :2].repeat(1, 4)  # a single point
    quads[5:10, 1::2] = 3.0  # flat: every vertex on y = 3
    quads[10:15, 4:] = quads[10:15, :4]  # two repeated vertices
    quads[15:20] = torch.tensor([0.0, 0, 4, 0, 4, 4, 0, 4]) + torch.randint(0, 4, (5, 1), generator=g)
    vertices = quads.view(-1, 2)
    v, w = quads.view(-1, 4, 2), quads.view(-1, 4, 2).roll(1, 1)
    t = torch.tensor([0.25, 0.5, 0.75]).view(1, 1, 3, 1)
    on_edges = (v[:, :, None] + (w - v)[:, :, None] * t).reshape(-1, 2)
    grid = torch.stack(
        torch.meshgrid(torch.arange(-1.0, 10), torch.arange(-1.0, 10), indexing="ij"), -1
    ).view(-1, 2)
    anywhere = torch.rand(500, 2, generator=g) * 11 - 1
    special = torch.tensor([[float("nan"), 1.0], [1.0, float("inf")], [-float("inf"), 2.0]])
    return torch.cat((vertices, on_edges, grid, anywhere, special)), quads


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_matches_torch_exactly(built, monkeypatch, seed):
    pts, quads = _cases(seed)
    quads = torch.cat((quads, torch.tensor([[float("nan"), 0, 4, 0, 4, 4, 0, 4]])))
    results = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        results[name] = points_in_polygons(pts, quads)
        # and on rotated boxes' corners (non-integer coordinates)
        corners = torch.rand(40, 8, generator=torch.Generator().manual_seed(seed)) * 100
        results[name + "_float"] = points_in_polygons(corners.view(-1, 2), corners)
    assert torch.equal(results["torch"], results["cpu"])
    assert torch.equal(results["torch_float"], results["cpu_float"])
    assert set(results["cpu"].unique().tolist()) <= {0.0, 1.0}
    if torch.cuda.is_available():
        monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
        assert torch.equal(points_in_polygons(pts.cuda(), quads.cuda()).cpu(), results["cpu"])


def test_matches_shapely_away_from_the_boundary(backend, device):
    shapely = pytest.importorskip("shapely")
    rng = np.random.default_rng(0)
    # rotated rectangles and random (possibly concave) simple quads: a star-shaped vertex order
    ctr = rng.uniform(20, 80, (80, 1, 2))
    ang = np.sort(rng.uniform(0, 2 * np.pi, (80, 4)), 1)
    rad = rng.uniform(3, 30, (80, 4))
    quads = ctr + np.stack((np.cos(ang), np.sin(ang)), -1) * rad[..., None]
    pts = rng.uniform(0, 100, (3000, 2))
    polys = [shapely.Polygon(q) for q in quads]
    inside = np.array([[poly.contains(shapely.Point(p)) for poly in polys] for p in pts])
    dist = np.array([[poly.exterior.distance(shapely.Point(p)) for poly in polys] for p in pts])
    out = (
        points_in_polygons(
            torch.tensor(pts, dtype=torch.float32, device=device),
            torch.tensor(quads.reshape(-1, 8), dtype=torch.float32, device=device),
        )
        .cpu()
        .numpy()
    )
    away = dist > 1e-3
    assert away.mean() > 0.99 and inside.any()
    np.testing.assert_array_equal(out[away], inside[away].astype(np.float32))


def test_empty_dtypes_and_bad_input(backend, device):
    q = torch.tensor([SQUARE], device=device)
    assert points_in_polygons(torch.zeros(0, 2, device=device), q).shape == (0, 1)
    assert points_in_polygons(torch.zeros(3, 2, device=device), q[:0]).shape == (3, 0)
    p = torch.tensor([[1.0, 1.0]], device=device)
    assert points_in_polygons(p.double(), q.double()).dtype == torch.float32
    assert points_in_polygons(p.half(), q).item() == 1.0
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\), got \(1, 3\)"):
        points_in_polygons(torch.zeros(1, 3, device=device), q)
    with pytest.raises(ValueError, match=r"polygons must have shape \(N, 8\), got \(1, 4\)"):
        points_in_polygons(p, q[:, :4])
    with pytest.raises(ValueError, match="polygons must have 2 dimensions"):
        points_in_polygons(p, q[0])
    with pytest.raises(TypeError, match="points must be a floating-point tensor"):
        points_in_polygons(p.long(), q)


def test_compiled_op_checks_shapes(built):
    with pytest.raises(RuntimeError, match=r"polygons must have shape \(M, 8\)"):
        torch.ops.rbox_ops.points_in_polygons(torch.zeros(2, 2), torch.zeros(3, 6))
    with pytest.raises(RuntimeError, match=r"points must have shape \(N, 2\)"):
        torch.ops.rbox_ops.points_in_polygons(torch.zeros(2), torch.zeros(3, 8))
