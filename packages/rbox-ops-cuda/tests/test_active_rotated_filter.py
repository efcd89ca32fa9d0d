"""active_rotated_filter: golden forward/backward, gradcheck, compiled vs torch, tracing, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbox_ops import active_rotated_filter
from rbox_ops.active_rotated_filter import active_rotated_filter_torch


def _indices(n: int, k: int, r: int, seed: int = 0) -> torch.Tensor:
    """Random 1-based indices (n, k, k, r): a permutation of the n * k * k entries per rotation."""
    g = torch.Generator().manual_seed(seed)
    e = n * k * k
    cols = [torch.randperm(e, generator=g) + 1 for _ in range(r)]
    return torch.stack(cols, 1).to(torch.int32).view(n, k, k, r)


def test_golden(golden, backend, device):
    g = golden("ops_wave2")
    w = torch.from_numpy(g["active_rotated_filter/input/weight"]).to(device).requires_grad_()
    idx = torch.from_numpy(g["active_rotated_filter/input/indices"]).to(device)
    out = active_rotated_filter(w, idx)
    out.backward(torch.from_numpy(g["active_rotated_filter/input/grad_output"]).to(device))
    np.testing.assert_allclose(
        out.detach().cpu().numpy(), g["active_rotated_filter/output/output"], atol=1e-4
    )
    np.testing.assert_allclose(w.grad.cpu().numpy(), g["active_rotated_filter/output/grad_weight"], atol=1e-4)


@pytest.mark.parametrize(("n", "k", "r"), [(1, 3, 8), (4, 3, 4), (2, 1, 4)])
def test_gradcheck(backend, device, n, k, r):
    w = torch.randn(3, 2, n, k, k, dtype=torch.float64, device=device, requires_grad=True)
    idx = _indices(n, k, r).to(device)
    fn = lambda t: active_rotated_filter(t, idx)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (w,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(fn, (w,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(("n", "k", "r"), [(1, 3, 8), (8, 3, 8), (4, 1, 2), (2, 5, 3)])
def test_compiled_matches_torch(backend, device, n, k, r):
    w = torch.randn(5, 3, n, k, k, device=device, requires_grad=True)
    idx = _indices(n, k, r, seed=n + k + r).to(device)
    out = active_rotated_filter(w, idx)
    assert out.shape == (5 * r, 3 * n, k, k)
    grad = torch.randn_like(out)
    (g,) = torch.autograd.grad(out, w, grad)
    w_ref = w.detach().cpu().requires_grad_()
    ref = active_rotated_filter_torch(w_ref, idx.cpu())
    (g_ref,) = torch.autograd.grad(ref, w_ref, grad.cpu())
    assert torch.equal(out.detach().cpu(), ref.detach())  # a copy: bit-identical
    torch.testing.assert_close(g.cpu(), g_ref)


def test_semantics_and_dtypes(backend, device):
    """Row o * R + k is rotation k of filter o; entry l lands on indices[l, k] - 1; other dtypes."""
    w = torch.arange(2 * 3 * 9, dtype=torch.float32, device=device).view(2, 3, 1, 3, 3)
    idx = _indices(1, 3, 4).to(device)
    out = active_rotated_filter(w, idx).view(2, 4, 3, 9)
    flat = idx.view(9, 4).long() - 1
    for k in range(4):
        assert torch.equal(out[:, k][:, :, flat[:, k]], w.view(2, 3, 9))
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        o = active_rotated_filter(w.to(dtype), idx.to(torch.int64))
        assert o.dtype == dtype and torch.equal(o.float(), out.reshape(8, 3, 3, 3))
    assert active_rotated_filter(w[:0], idx).shape == (0, 3, 3, 3)


def test_torch_compile(backend, device):
    w = torch.randn(4, 2, 1, 3, 3, device=device, requires_grad=True)
    idx = _indices(1, 3, 8).to(device)
    f = lambda t: (active_rotated_filter(t, idx) ** 2).sum()  # noqa: E731
    ref = f(w)
    (g_ref,) = torch.autograd.grad(ref, w)
    out = torch.compile(f, backend="aot_eager", fullgraph=True)(w)
    (g,) = torch.autograd.grad(out, w)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, g_ref)


def test_fake_kernels(built):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        w, idx = torch.empty(6, 4, 2, 3, 3), torch.empty(2, 3, 3, 8, dtype=torch.int32)
        assert torch.ops.rbox_ops.active_rotated_filter(w, idx).shape == (48, 8, 3, 3)
        go = torch.empty(48, 8, 3, 3)
        assert torch.ops.rbox_ops.active_rotated_filter_backward(go, idx).shape == (6, 4, 2, 3, 3)


def test_bad_input(backend, device):
    w = torch.randn(2, 3, 1, 3, 3, device=device)
    idx = _indices(1, 3, 8).to(device)
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        active_rotated_filter([[1.0]], idx)
    with pytest.raises(ValueError, match="input must have 5 dimensions"):
        active_rotated_filter(w[0], idx)
    with pytest.raises(TypeError, match="input must be a floating-point"):
        active_rotated_filter(w.long(), idx)
    with pytest.raises(ValueError, match="indices must have 4 dimensions"):
        active_rotated_filter(w, idx[0])
    with pytest.raises(TypeError, match="indices must be an integer tensor"):
        active_rotated_filter(w, idx.float())
    with pytest.raises(
        ValueError,
        match=r"indices must have shape .*= \(2, 3, 3, R >= 1\) for input of shape \(2, 3, 2, 3, 3\), got \(1, 3, 3, 8\)",
    ):
        active_rotated_filter(torch.randn(2, 3, 2, 3, 3, device=device), idx)
    with pytest.raises(ValueError, match=r"indices must have shape"):
        active_rotated_filter(w, idx[..., :0])
    bad = idx.clone()
    bad[0, 0, 0, 3] = 10  # out of 1..9
    with pytest.raises(ValueError, match=r"rotation 3 holds values in \[1, 10\]"):
        active_rotated_filter(w, bad)
    bad = idx.clone()
    bad[0, 1, 1, 5] = bad[0, 0, 0, 5]  # a repeat
    with pytest.raises(ValueError, match="rotation 5 .* 1 repeated"):
        active_rotated_filter(w, bad)
    bad = idx.clone()
    bad[0, 0, 0, 0] = 0  # 0-based by mistake
    with pytest.raises(ValueError, match=r"indices must map.*onto 1..9 \(1-based\)"):
        active_rotated_filter(w, bad)


def test_compiled_op_rejects_bad_input_without_crashing(built):
    """Called directly, the kernels check shapes and dtypes, and skip indices out of range."""
    op = torch.ops.rbox_ops
    w, idx = torch.randn(2, 3, 1, 3, 3), _indices(1, 3, 8)
    with pytest.raises(RuntimeError, match="input must have shape"):
        op.active_rotated_filter(w[0], idx)
    with pytest.raises(RuntimeError, match="indices must be int32"):
        op.active_rotated_filter(w, idx.long())
    with pytest.raises(RuntimeError, match="indices must have shape .* matching input"):
        op.active_rotated_filter(w, _indices(2, 3, 8))
    with pytest.raises(RuntimeError, match="grad_output must have shape"):
        op.active_rotated_filter_backward(torch.randn(15, 3, 3, 3), idx)
    wild = idx.clone()
    wild[0, 0, 0] = torch.tensor([0, -5, 10, 1 << 30, -(1 << 30), 9, 1, 2], dtype=torch.int32)
    out = op.active_rotated_filter(w, wild)  # no crash; the wild entries are dropped
    assert out.shape == (16, 3, 3, 3) and torch.isfinite(out).all()
    assert torch.isfinite(op.active_rotated_filter_backward(torch.randn(16, 3, 3, 3), wild)).all()
