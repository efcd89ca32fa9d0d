"""riroi_align_rotated: compiled kernels against the pure-torch pooling + gather, at ReDet's load.

ReDet's second stage pools 512 sampled RoIs (rcnn sampler num=512) of a 256-channel ReFPN level
(32 regular fields x 8 orientations) into 7 x 7 bins with 2 x 2 samples each.

Run: .venv/bin/python -m pytest packages/rbox-ops-cuda/benchmarks/test_bench_riroi_align_rotated.py
     --benchmark-enable --benchmark-columns=min,mean,rounds
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _redet_load(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A (2, 256, 64, 64) stride-8 level and 512 RoIs of 16..128 px, le90 angles."""
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 256, 64, 64, generator=g)
    n = 512
    idx = torch.randint(2, (n, 1), generator=g).float()
    ctr = torch.rand(n, 2, generator=g) * 512
    wh = torch.rand(n, 2, generator=g) * 112 + 16
    theta = (torch.rand(n, 1, generator=g) - 0.5) * math.pi
    return features.to(device), torch.cat((idx, ctr, wh, theta), 1).to(device)


@pytest.mark.parametrize("with_backward", [False, True], ids=["forward", "forward+backward"])
def test_riroi_align_rotated_redet(benchmark, backend, with_backward):
    features, rois = _redet_load(backend)
    features.requires_grad_(with_backward)
    grad = torch.randn(len(rois), 256, 7, 7, device=backend)

    def run():
        features.grad = None
        out = rbox_ops.riroi_align_rotated(features, rois, 7, 1 / 8, 2, 8, True)
        if with_backward:
            out.backward(grad)
        _sync(backend)

    benchmark.pedantic(run, rounds=10, warmup_rounds=2)
