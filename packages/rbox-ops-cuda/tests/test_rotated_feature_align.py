"""rotated_feature_align: golden forward/backward (mmcv 1.7), gradcheck, backends agree, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rbox_ops
from rbox_ops import rotated_feature_align


@pytest.mark.parametrize("points", [1, 5])
def test_golden(golden, backend, device, points):
    g = golden("ops_wave2")
    case = f"rotated_feature_align_p{points}"
    x = torch.from_numpy(g[f"{case}/input/features"]).to(device).requires_grad_()
    boxes = torch.from_numpy(g[f"{case}/input/best_rbboxes"]).to(device)
    assert int(g[f"{case}/input/points"]) == points
    out = rotated_feature_align(x, boxes, float(g[f"{case}/input/spatial_scale"]), points)
    out.backward(torch.from_numpy(g[f"{case}/input/grad_output"]).to(device))
    np.testing.assert_allclose(out.detach().cpu().numpy(), g[f"{case}/output/output"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.cpu().numpy(), g[f"{case}/output/grad_features"], rtol=1e-4, atol=1e-4)


def _boxes(n: int, h: int, w: int, stride: float, device, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """Boxes around each pixel's centre (image pixels), many reaching past the map's edges."""
    g = torch.Generator().manual_seed(seed)
    ys = (torch.arange(h, dtype=torch.float64)[:, None] + 0.5).expand(h, w)
    xs = (torch.arange(w, dtype=torch.float64)[None, :] + 0.5).expand(h, w)
    ctr = (
        torch.stack((ys, xs), -1) * stride
        + torch.randn(n, h, w, 2, generator=g, dtype=torch.float64) * stride
    )
    wh = torch.rand(n, h, w, 2, generator=g, dtype=torch.float64) * 4 * stride + 1
    theta = (torch.rand(n, h, w, 1, generator=g, dtype=torch.float64) - 0.5) * np.pi
    return torch.cat((ctr, wh, theta), -1).to(device=device, dtype=dtype)


@pytest.mark.parametrize("points", [1, 5])
def test_gradcheck(backend, device, points):
    x = torch.rand(2, 3, 5, 6, dtype=torch.float64, device=device, requires_grad=True)
    boxes = _boxes(2, 5, 6, 8.0, device)
    fn = lambda t: rotated_feature_align(t, boxes, 1 / 8, points)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("points", [1, 5])
def test_compiled_matches_torch(built, monkeypatch, points):
    x = torch.randn(2, 4, 9, 11, dtype=torch.float64)
    boxes = _boxes(2, 9, 11, 4.0, "cpu", seed=1)
    boxes[0, 0, 0] = float("nan")  # adds nothing
    boxes[1, 2, 3, :2] = 1e6  # far outside: adds nothing
    grad = torch.randn_like(x)
    results = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        t = x.clone().requires_grad_()
        out = rotated_feature_align(t, boxes, 0.25, points)
        out.backward(grad)
        results[name] = (out.detach(), t.grad)
    torch.testing.assert_close(results["torch"], results["cpu"], rtol=1e-12, atol=1e-12)
    assert torch.isfinite(results["cpu"][0]).all()
    torch.testing.assert_close(results["cpu"][0][0, :, 0, 0], x[0, :, 0, 0])  # the NaN box
    torch.testing.assert_close(results["cpu"][0][1, :, 2, 3], x[1, :, 2, 3])  # the far box


def test_centre_sample_by_hand(backend, device):
    """Column 0 is read as y and column 1 as x (mmcv's kernels); a point at a pixel adds that pixel."""
    x = torch.arange(12, dtype=torch.float32, device=device).view(1, 1, 3, 4)
    boxes = torch.zeros(1, 3, 4, 5, device=device)
    boxes[..., 0], boxes[..., 1] = 2.0, 1.0  # y = 2, x = 1 (scale 1): value x[0, 0, 2, 1] = 9
    out = rotated_feature_align(x, boxes, 1.0, 1)
    torch.testing.assert_close(out, x + 9)
    boxes[..., 0], boxes[..., 1] = 0.5, 3.0  # between rows 0 and 1 in the last column: (3 + 7) / 2
    torch.testing.assert_close(rotated_feature_align(x, boxes, 1.0, 1), x + 5)


def test_empty_and_half(backend, device):
    x = torch.rand(0, 3, 4, 4, device=device, requires_grad=True)
    out = rotated_feature_align(x, torch.zeros(0, 4, 4, 5, device=device), 0.125, 5)
    assert out.shape == (0, 3, 4, 4)
    out.sum().backward()
    x = torch.rand(1, 2, 6, 6, device=device)
    boxes = _boxes(1, 6, 6, 8.0, device, dtype=torch.float32)
    out = rotated_feature_align(x.half(), boxes.half(), 0.125, 5)
    assert out.dtype == torch.float16
    ref = rotated_feature_align(x.half().float(), boxes.half().float(), 0.125, 5)
    torch.testing.assert_close(out.float(), ref, atol=2e-3, rtol=2e-3)


def test_fake_kernel_and_compile(built, monkeypatch):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x, boxes = torch.empty(2, 4, 16, 8, requires_grad=True), torch.empty(2, 16, 8, 5)
        out = torch.ops.rbox_ops.rotated_feature_align(x, boxes, 0.125, 5)
        assert out.shape == x.shape
        assert torch.autograd.grad(out.sum(), x)[0].shape == x.shape
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cpu")
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    boxes = _boxes(1, 8, 8, 8.0, "cpu", dtype=torch.float32)
    f = lambda t: (rotated_feature_align(t, boxes, 0.125, 5) ** 2).sum()  # noqa: E731
    ref = f(x)
    (g_ref,) = torch.autograd.grad(ref, x)
    out = torch.compile(f, backend="aot_eager", fullgraph=True)(x)
    (g,) = torch.autograd.grad(out, x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, g_ref)


def test_bad_input(built):
    x, boxes = torch.rand(1, 2, 4, 6), torch.zeros(1, 4, 6, 5)
    with pytest.raises(ValueError, match="points must be 1 or 5, got 3"):
        rotated_feature_align(x, boxes, 0.125, 3)
    with pytest.raises(ValueError, match=r"best_rbboxes must have shape \(N, H, W, 5\) = \(1, 4, 6, 5\)"):
        rotated_feature_align(x, boxes[:, :, :5], 0.125)
    with pytest.raises(ValueError, match=r"best_rbboxes must have shape .* got \(1, 4, 6, 6\)"):
        rotated_feature_align(x, torch.zeros(1, 4, 6, 6), 0.125)
    with pytest.raises(ValueError, match="features must have 4 dimensions"):
        rotated_feature_align(x[0], boxes, 0.125)
    with pytest.raises(TypeError, match="features must be a floating-point tensor"):
        rotated_feature_align(x.long(), boxes, 0.125)
    with pytest.raises(TypeError, match="best_rbboxes must be a torch.Tensor"):
        rotated_feature_align(x, boxes.numpy(), 0.125)
    # the compiled op checks its own arguments (no crash on a direct call)
    with pytest.raises(RuntimeError, match="points must be 1 or 5, got 2"):
        torch.ops.rbox_ops.rotated_feature_align(x, boxes, 0.125, 2)
    with pytest.raises(RuntimeError, match=r"best_rbboxes must have shape \(N, H, W, 5\)"):
        torch.ops.rbox_ops.rotated_feature_align(x, torch.zeros(1, 4, 5, 5), 0.125, 1)
    with pytest.raises(RuntimeError, match=r"best_rbboxes must have shape \(N, H, W, 5\)"):
        torch.ops.rbox_ops.rotated_feature_align_backward(x, torch.zeros(2, 4, 6, 5), 0.125, 1)
    assert rbox_ops.backend("cpu") in ("cpu", "torch")
