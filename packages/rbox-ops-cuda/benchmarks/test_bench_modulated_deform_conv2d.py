"""modulated_deform_conv2d (DCNv2): compiled kernels against the pure-torch code, at a DCN ResNet's load.

A ResNet-50 stage-3 3 x 3 conv with DCNv2 (MMDetection's ``dcn=dict(type='DCNv2')``) on a stride-16
map of a 1024 x 1024 image: 2 images, 256 -> 256 channels, 64 x 64, offsets of a few pixels, mask
in (0, 1), with bias.

Run: .venv/bin/python -m pytest packages/rbox-ops-cuda/benchmarks/test_bench_modulated_deform_conv2d.py
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


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "forward+backward"])
def test_modulated_deform_conv2d_resnet_stage(benchmark, backend, grad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 256, 64, 64, generator=g).to(backend).requires_grad_(grad)
    offset = (torch.randn(2, 18, 64, 64, generator=g) * 2).to(backend).requires_grad_(grad)
    mask = torch.rand(2, 9, 64, 64, generator=g).to(backend).requires_grad_(grad)
    conv = rbox_ops.ModulatedDeformConv2d(256, 256, 3, padding=1).to(backend).requires_grad_(grad)
    out_grad = torch.randn(2, 256, 64, 64, generator=g).to(backend)

    def run():
        if grad:
            x.grad = offset.grad = mask.grad = conv.weight.grad = conv.bias.grad = None
            conv(x, offset, mask).backward(out_grad)
        else:
            with torch.no_grad():
                conv(x, offset, mask)
        _sync(backend)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
