"""active_rotated_filter: compiled kernels against the pure-torch gather, S2A-Net's ODM sizes.

Run: .venv/bin/python -m pytest packages/rbox-ops-cuda/benchmarks/test_bench_active_rotated_filter.py
     --benchmark-enable --benchmark-columns=min,mean,rounds
"""

from __future__ import annotations

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


def _odm_indices() -> torch.Tensor:
    """ORConv2d(256, 32, 3, arf_config=(1, 8))'s indices: 3 x 3 border turned k steps of 45 degrees."""
    ring = (0, 1, 2, 5, 8, 7, 6, 3)
    idx = torch.empty(9, 8, dtype=torch.int32)
    for k in range(8):
        place = list(range(9))
        for pos, p in enumerate(ring):
            place[p] = ring[(pos + k) % 8]
        idx[:, k] = torch.tensor(place, dtype=torch.int32) + 1
    return idx.view(1, 3, 3, 8)


def test_active_rotated_filter_odm(benchmark, backend):
    """Forward + backward of ORConv2d(256, 32, 3, arf_config=(1, 8))'s weight: (32, 256, 1, 3, 3) -> (256, 256, 3, 3)."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(32, 256, 1, 3, 3, generator=g).to(backend).requires_grad_()
    indices = _odm_indices().to(backend)
    grad = torch.randn(256, 256, 3, 3, generator=g).to(backend)

    def run():
        weight.grad = None
        rbox_ops.active_rotated_filter(weight, indices, check_indices=False).backward(grad)
        _sync(backend)

    benchmark.pedantic(run, rounds=50, warmup_rounds=5)
