"""rbbox_overlaps / polygon_overlaps vs. the obvious alternative (a shapely loop).

Run:  cd /work/main && .venv/bin/python -m pytest packages/rbox-geometry/benchmarks/bench_overlaps.py \
          --benchmark-enable -q -s
The shapely loop is timed on a 100 x 100 subset and scaled to 1000 x 1000 (pairs are
independent, so the cost is linear in the number of pairs); the ratio is printed.
"""

from __future__ import annotations

import numpy as np
import pytest

import rbox_geometry as rg

shapely = pytest.importorskip("shapely")


def dota_like_boxes(n: int, seed: int) -> np.ndarray:
    """Boxes scattered over a 1024 x 1024 image, 4-120 px sides (DOTA-like density)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1024, (n, 2))
    wh = rng.uniform(4, 120, (n, 2))
    t = rng.uniform(-np.pi / 2, np.pi / 2, (n, 1))
    return np.concatenate([c, wh, t], 1)


def dense_boxes(n: int, seed: int) -> np.ndarray:
    """Worst case for the circle pre-filter: every pair overlaps."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 20, (n, 2))
    wh = rng.uniform(40, 80, (n, 2))
    t = rng.uniform(-np.pi / 2, np.pi / 2, (n, 1))
    return np.concatenate([c, wh, t], 1)


def shapely_loop(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    P = [shapely.Polygon(p.reshape(4, 2)) for p in rg.obb2poly(b1)]
    Q = [shapely.Polygon(p.reshape(4, 2)) for p in rg.obb2poly(b2)]
    out = np.zeros((len(P), len(Q)))
    for i, p in enumerate(P):
        for j, q in enumerate(Q):
            inter = p.intersection(q).area
            out[i, j] = inter / (p.area + q.area - inter)
    return out


RESULTS: dict[str, float] = {}


@pytest.mark.parametrize("kind", ["dota_like", "dense"])
def test_rbbox_overlaps_1000x1000(benchmark, kind):
    make = dota_like_boxes if kind == "dota_like" else dense_boxes
    b1, b2 = make(1000, 0), make(1000, 1)
    out = benchmark.pedantic(rg.rbbox_overlaps, args=(b1, b2), rounds=3, iterations=1)
    assert out.shape == (1000, 1000)
    RESULTS[f"ours_{kind}"] = benchmark.stats.stats.mean
    np.testing.assert_allclose(out[:50, :50], shapely_loop(b1[:50], b2[:50]), atol=1e-9)


@pytest.mark.parametrize("kind", ["dota_like", "dense"])
def test_shapely_loop_scaled(benchmark, kind):
    make = dota_like_boxes if kind == "dota_like" else dense_boxes
    b1, b2 = make(100, 0), make(100, 1)
    benchmark.pedantic(shapely_loop, args=(b1, b2), rounds=1, iterations=1)
    scaled = benchmark.stats.stats.mean * 100  # 100x more pairs in 1000 x 1000
    benchmark.extra_info["scaled_to_1000x1000_s"] = scaled
    ours = RESULTS.get(f"ours_{kind}")
    if ours:
        benchmark.extra_info["speedup"] = scaled / ours
        print(f"\n[{kind}] ours {ours:.3f} s, shapely (scaled) {scaled:.1f} s, ratio {scaled / ours:.0f}x")


def test_polygon_overlaps_300x300(benchmark):
    rng = np.random.default_rng(2)
    c = rng.uniform(0, 200, (300, 1, 2))
    A = (c + rng.uniform(-30, 30, (300, 4, 2))).reshape(300, 8)
    out = benchmark.pedantic(rg.polygon_overlaps, args=(A, A), rounds=3, iterations=1)
    assert out.shape == (300, 300)
