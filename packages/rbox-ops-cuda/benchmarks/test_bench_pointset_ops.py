"""Point-set ops (the RepPoints family) at a 1024 x 1024 detector's load: compiled against torch.

Run: .venv/bin/python -m pytest packages/rbox-ops-cuda/benchmarks/test_bench_pointset_ops.py
     --benchmark-enable --benchmark-group-by=func --benchmark-columns=min,mean,rounds
The torch convex_iou at the full load (20k x 50) takes minutes on a small CPU: one round.
"""

from __future__ import annotations

import math

import pytest
import torch

import rbox_ops

BACKENDS = ["torch", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> torch.device:
    rbox_ops.build(cuda=request.param == "cuda")
    monkeypatch.setenv("RBOX_OPS_BACKEND", request.param)
    return torch.device("cuda" if request.param == "cuda" else "cpu")


def _run(benchmark, device: torch.device, fn, *args) -> None:
    def call():
        fn(*args)
        if device.type == "cuda":
            torch.cuda.synchronize()

    call()  # warm-up (loads the kernels)
    rounds = 1 if device.type == "cpu" and rbox_ops.backend(device) == "torch" else 5
    benchmark.pedantic(call, rounds=rounds, iterations=1)


def pointsets(n: int, seed: int) -> torch.Tensor:
    """n RepPoints-like 9-point sets in a 1024 x 1024 image."""
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 1, 2, generator=g) * 1024
    return (ctr + torch.randn(n, 9, 2, generator=g) * 12).view(n, 18)


def rects(k: int, seed: int) -> torch.Tensor:
    """k rotated ground-truth rectangles' corners."""
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(k, 2, generator=g) * 1024
    wh = torch.rand(k, 2, generator=g) * 60 + 8
    a = torch.rand(k, generator=g) * math.pi
    u = torch.stack((a.cos(), a.sin()), 1) * wh[:, :1] / 2
    v = torch.stack((-a.sin(), a.cos()), 1) * wh[:, 1:] / 2
    return torch.stack((c + u + v, c - u + v, c - u - v, c + u - v), 1).reshape(k, 8)


@pytest.mark.parametrize("n", [2000, 20000])
def test_convex_iou_x50(benchmark, backend, n):
    """The assigners: every point set against every ground truth."""
    _run(benchmark, backend, rbox_ops.convex_iou, pointsets(n, 0).to(backend), rects(50, 1).to(backend))


def test_convex_giou_2000(benchmark, backend):
    """ConvexGIoULoss: the positive samples against their ground truths."""
    gts = rects(50, 1)[torch.randint(50, (2000,), generator=torch.Generator().manual_seed(2))]
    _run(benchmark, backend, rbox_ops.convex_giou, pointsets(2000, 3).to(backend), gts.to(backend))


def test_min_area_polygons_2000(benchmark, backend):
    _run(benchmark, backend, rbox_ops.min_area_polygons, pointsets(2000, 4).to(backend))


def test_chamfer_distance_256x9x9(benchmark, backend):
    """Oriented RepPoints' spatial constraint: point sets against ground-truth corner samples."""
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(256, 9, 2, generator=g) * 20, torch.randn(256, 9, 2, generator=g) * 20
    _run(benchmark, backend, rbox_ops.chamfer_distance, a.to(backend), b.to(backend))
