"""The compiled CPU RoI pooling (and deform_conv2d) read the map channels-last through
common/transpose_cpu.h: any layout and size of input and gradient gives exactly what a plain
contiguous copy gives, and what the pure-torch code gives."""

from __future__ import annotations

import math

import pytest
import torch

from rbox_ops import deform_conv2d, riroi_align_rotated, roi_align, roi_align_rotated

SCALE = 0.5


def _rois(kind: str, height: int, width: int, dtype: torch.dtype, n: int = 7, seed: int = 0) -> torch.Tensor:
    """n RoIs over a (height, width) map at SCALE, on batch items 0 and 1, some past the edges."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(2, (n, 1), generator=g).double()
    ctr = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([width, height]) / SCALE
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 12 + 1
    if kind == "aligned":
        return torch.cat((idx, ctr - wh / 2, ctr + wh / 2), 1).to(dtype)
    theta = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * 2 * math.pi
    return torch.cat((idx, ctr, wh, theta), 1).to(dtype)


def _orientations(channels: int) -> int:
    return next(k for k in (4, 3, 2, 1) if channels % k == 0)


OPS = {
    "roi_align_rotated": ("rotated", lambda x, r: roi_align_rotated(x, r, (3, 2), SCALE, 2, True, True)),
    "roi_align": ("aligned", lambda x, r: roi_align(x, r, (3, 2), SCALE, 2, "avg", True)),
    "riroi_align_rotated": (
        "rotated",
        lambda x, r: riroi_align_rotated(x, r, (3, 2), SCALE, 2, _orientations(x.shape[1]), True),
    ),
}

# (batch, channels, height, width): odd sizes, one channel, one pixel, and a map of full tiles
# (32 x 32) with partial ones at the edges
SHAPES = [(2, 3, 5, 7), (2, 33, 17, 1), (2, 1, 6, 5), (2, 40, 1, 1), (2, 70, 9, 11)]


def _layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """t's values in the given memory layout."""
    if layout == "contiguous":
        return t.contiguous()
    if layout == "channels_last":
        out = t.contiguous(memory_format=torch.channels_last)
        assert t.shape[1] == 1 or t.shape[2] * t.shape[3] == 1 or not out.is_contiguous()
        return out
    # a non-contiguous slice of a larger tensor
    b, c, h, w = t.shape
    big = torch.zeros(b, 2 * c, h + 2, w + 3, dtype=t.dtype)
    view = big[:, 1::2, 1 : h + 1, 2 : w + 2]
    view.copy_(t)
    assert not view.is_contiguous()
    return view


def _run(fn, x: torch.Tensor, rois: torch.Tensor, grad_layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_()
    out = fn(x, rois)
    g = torch.Generator().manual_seed(9)
    grad = torch.randn(out.shape, generator=g, dtype=out.dtype)
    out.backward(_layout(grad, grad_layout))
    return out.detach(), x.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["channels_last", "slice", "contiguous"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("op", list(OPS))
def test_any_layout_matches_contiguous_and_torch(built, monkeypatch, op, shape, layout, dtype):
    kind, fn = OPS[op]
    g = torch.Generator().manual_seed(1)
    base = torch.randn(shape, generator=g, dtype=dtype)
    rois = _rois(kind, shape[2], shape[3], dtype)
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cpu")
    out, grad = _run(fn, _layout(base, layout), rois, layout)
    plain_out, plain_grad = _run(fn, base.clone(), rois, "contiguous")
    assert torch.equal(out, plain_out)
    assert torch.equal(grad, plain_grad)
    monkeypatch.setenv("RBOX_OPS_BACKEND", "torch")
    ref_out, ref_grad = _run(fn, base.clone(), rois, "contiguous")
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["channels_last", "slice"])
def test_deform_conv2d_any_layout_matches_contiguous(built, monkeypatch, layout):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 9, 11, generator=g)
    offset = torch.randn(2, 18, 9, 11, generator=g)
    weight = torch.randn(4, 6, 3, 3, generator=g)
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cpu")
    results = []
    for lay in (layout, "contiguous"):
        xs = _layout(x, lay).detach().requires_grad_()
        w = weight.clone().requires_grad_()
        out = deform_conv2d(xs, offset, w, padding=1)
        out.backward(_layout(torch.ones_like(out), lay))
        results.append((out.detach(), xs.grad, w.grad))
    for a, b in zip(*results):
        assert torch.equal(a, b)
