"""The optimizer's step on the CPU: torch's default SGD step against its fused step, which
``Runner`` switches plain SGD on CPU parameters to (``engine.optim.fuse_sgd_step``).

    cd /work/main && .venv/bin/python -m pytest packages/rdet-apps/benchmarks/bench_optimizer_step.py --benchmark-enable -q

SGD as MMRotate's configs set it (lr 0.0025, momentum 0.9, weight decay 1e-4) over the
parameters of a ResNet-50 (23.5M, every one with a gradient; Oriented R-CNN R50 has 41M), one
step per round after a warm-up step that creates the momentum buffers.
"""

from __future__ import annotations

import pytest
import torch

from rdet_apps.engine.optim import fuse_sgd_step
from rdet_models.backbones.resnet import ResNet


@pytest.mark.parametrize("fused", [False, True], ids=["default step", "fused step"])
def test_sgd_step_resnet50(benchmark, fused):
    torch.manual_seed(0)
    params = list(ResNet(depth=50).parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.SGD(params, lr=0.0025, momentum=0.9, weight_decay=1e-4)
    assert fuse_sgd_step(opt, loss_scaled=not fused) is fused
    opt.step()  # momentum buffers
    benchmark.pedantic(opt.step, rounds=10, iterations=1, warmup_rounds=1)
    benchmark.extra_info["parameters"] = sum(p.numel() for p in params)
