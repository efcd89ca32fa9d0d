"""deform_conv2d and DeformConv2d: golden forward/backward, gradcheck, zero offsets = conv2d, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rbox_ops import DeformConv2d, deform_conv2d


def test_golden(golden, backend, device):
    g = golden("ops_wave2")
    p = "deform_conv2d/input/"
    x = torch.from_numpy(g[p + "input"]).to(device).requires_grad_()
    offset = torch.from_numpy(g[p + "offset"]).to(device).requires_grad_()
    weight = torch.from_numpy(g[p + "weight"]).to(device).requires_grad_()
    args = [int(g[p + k]) for k in ("stride", "padding", "dilation", "groups", "deform_groups")]
    out = deform_conv2d(x, offset, weight, *args)
    out.backward(torch.from_numpy(g[p + "grad_output"]).to(device))
    expected = {"output": out, "grad_input": x.grad, "grad_offset": offset.grad, "grad_weight": weight.grad}
    for name, value in expected.items():
        np.testing.assert_allclose(
            value.detach().cpu().numpy(),
            g[f"deform_conv2d/output/{name}"],
            rtol=1e-4,
            atol=1e-4,
            err_msg=name,
        )


# (channels, out_channels, size, kernel, stride, padding, dilation, groups, deform_groups)
CASES = [
    (2, 3, (4, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),
    (4, 4, (6, 5), (2, 3), (2, 1), (1, 0), (1, 2), 2, 2),
    (4, 2, (4, 4), (3, 2), (2, 2), (2, 1), (2, 1), 1, 4),
]


def _inputs(case, device, dtype=torch.float64, scale=2.0, seed=0, batch=2):
    c, c_out, (h, w), (kh, kw), stride, padding, dilation, groups, dg = case
    g = torch.Generator().manual_seed(seed)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = torch.rand(batch, c, h, w, generator=g, dtype=dtype)
    # offsets away from integers, where the bilinear weights have kinks
    offset = (torch.rand(batch, 2 * dg * kh * kw, ho, wo, generator=g, dtype=dtype) - 0.5) * scale
    offset = torch.where((offset - offset.round()).abs() < 0.05, offset + 0.1, offset)
    weight = torch.rand(c_out, c // groups, kh, kw, generator=g, dtype=dtype) - 0.5
    args = (stride, padding, dilation, groups, dg)
    return x.to(device), offset.to(device), weight.to(device), args


@pytest.mark.parametrize("case", CASES)
def test_gradcheck(backend, device, case):
    x, offset, weight, args = _inputs(case, device, batch=1)  # small: gradcheck perturbs every value
    for t in (x, offset, weight):
        t.requires_grad_()
    fn = lambda a, b, c: deform_conv2d(a, b, c, *args)  # noqa: E731
    # CUDA's input gradient sums the sampling points' shares with atomicAdd, in an order that
    # changes from run to run: float64 sums that differ in the last bits (gradcheck's default
    # tolerance for that is 0; it failed on the H200 by rounding alone)
    nondet_tol = 1e-12 if device.type == "cuda" else 0.0
    assert torch.autograd.gradcheck(fn, (x, offset, weight), eps=1e-6, atol=1e-5, nondet_tol=nondet_tol)


@pytest.mark.parametrize("case", CASES)
def test_backends_agree(built, monkeypatch, case):
    """The compiled CPU kernel against the pure-torch code, forward and the three gradients."""
    # many points off the map
    x, offset, weight, args = _inputs(case, "cpu", torch.float32, scale=6.0, seed=1)
    grad = torch.rand(deform_conv2d(x, offset, weight, *args).shape)
    results = []
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        ts = [t.clone().requires_grad_() for t in (x, offset, weight)]
        out = deform_conv2d(*ts, *args)
        out.backward(grad)
        results.append([out.detach(), *(t.grad for t in ts)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_zero_offsets_are_conv2d(backend, device, case):
    x, offset, weight, (stride, padding, dilation, groups, dg) = _inputs(case, device, torch.float32)
    out = deform_conv2d(x, torch.zeros_like(offset), weight, stride, padding, dilation, groups, dg)
    ref = F.conv2d(x, weight, None, stride, padding, dilation, groups)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_integer_offsets_shift_the_samples(backend, device):
    """(dy, dx) = (+1, -2) everywhere: out[ho, wo] = sum W[i, j] x[ho + i, wo + j - 3] (padding 1), zeros off the map."""
    x = torch.rand(1, 3, 8, 9, device=device)
    weight = torch.rand(4, 3, 3, 3, device=device)
    offset = torch.tensor([1.0, -2.0], device=device).repeat(9).view(1, 18, 1, 1).expand(1, 18, 8, 9)
    ref = F.conv2d(F.pad(x, (3, -1, 0, 2)), weight)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, padding=1), ref, rtol=1e-5, atol=1e-5)


def test_far_and_nan_offsets_sample_zero(backend, device):
    x = torch.rand(1, 2, 5, 5, device=device, requires_grad=True)
    weight = torch.rand(3, 2, 3, 3, device=device)
    offset = torch.full((1, 18, 3, 3), 100.0, device=device)
    offset[0, :, 1, 1] = float("nan")
    offset.requires_grad_()
    out = deform_conv2d(x, offset, weight)
    assert (out == 0).all()
    out.sum().backward()
    assert (x.grad == 0).all() and (offset.grad == 0).all()


def test_module_mmcv_signature_and_state_dict(backend, device):
    m = DeformConv2d(4, 6, 3, padding=1, deform_groups=2).to(device)
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (6, 4, 3, 3)
    assert (m.kernel_size, m.stride, m.padding, m.dilation) == ((3, 3), (1, 1), (1, 1), (1, 1))
    x = torch.rand(2, 4, 7, 8, device=device)
    offset = torch.rand(2, 36, 7, 8, device=device)
    torch.testing.assert_close(m(x, offset), deform_conv2d(x, offset, m.weight, 1, 1, 1, 1, 2))
    assert "deform_groups=2" in repr(m)
    with pytest.warns(DeprecationWarning, match="deform_groups"):
        assert DeformConv2d(4, 6, 3, deformable_groups=2).deform_groups == 2
    with pytest.raises(ValueError, match="bias"):
        DeformConv2d(4, 6, 3, bias=True)
    # an input smaller than the kernel is padded, then the output cropped, as mmcv
    small = DeformConv2d(2, 3, 3, padding=1).to(device)
    x = torch.rand(1, 2, 2, 4, device=device)
    out = small(x, torch.zeros(1, 18, 2, 4, device=device))
    torch.testing.assert_close(out, F.conv2d(x, small.weight, padding=1), rtol=1e-5, atol=1e-5)


def test_half_precision_runs_in_float32(backend, device):
    x, offset, weight, args = _inputs(CASES[0], device, torch.float32)
    out = deform_conv2d(x.half(), offset.half(), weight.half(), *args)
    assert out.dtype == torch.float16
    ref = deform_conv2d(x.half().float(), offset.half().float(), weight.half().float(), *args)
    torch.testing.assert_close(out.float(), ref, atol=2e-3, rtol=2e-3)


def test_bad_input():
    x, offset, weight = torch.rand(1, 4, 6, 6), torch.rand(1, 18, 6, 6), torch.rand(2, 4, 3, 3)
    deform_conv2d(x, offset, weight, padding=1)  # fine
    with pytest.raises(ValueError, match=r"offset must have shape \(1, 18, 6, 6\).*deform_groups=1"):
        deform_conv2d(x, torch.rand(1, 8, 6, 6), weight, padding=1)
    with pytest.raises(ValueError, match=r"offset must have shape \(1, 36, 6, 6\).*deform_groups=2"):
        deform_conv2d(x, offset, weight, padding=1, deform_groups=2)
    with pytest.raises(ValueError, match=r"offset must have shape \(1, 18, 4, 4\)"):
        deform_conv2d(x, offset, weight)
    with pytest.raises(ValueError, match=r"divisible by groups \(3\)"):
        deform_conv2d(x, offset, weight, padding=1, groups=3)
    with pytest.raises(ValueError, match="weight must have shape"):
        deform_conv2d(x, offset, weight, padding=1, groups=2)
    with pytest.raises(ValueError, match=r"divisible by deform_groups \(3\)"):
        deform_conv2d(x, torch.rand(1, 54, 6, 6), weight, padding=1, deform_groups=3)
    with pytest.raises(ValueError, match="input must have 4 dimensions"):
        deform_conv2d(x[0], offset, weight, padding=1)
    with pytest.raises(ValueError, match="offset must have 4 dimensions"):
        deform_conv2d(x, offset[0], weight, padding=1)
    with pytest.raises(ValueError, match="weight must have 4 dimensions"):
        deform_conv2d(x, offset, weight[0], padding=1)
    with pytest.raises(TypeError, match="offset must be a floating-point tensor"):
        deform_conv2d(x, offset.long(), weight, padding=1)
    with pytest.raises(ValueError, match="too small"):
        deform_conv2d(torch.rand(1, 4, 2, 2), torch.rand(1, 18, 1, 1), weight)
    with pytest.raises(ValueError, match="padding must be a non-negative"):
        deform_conv2d(x, offset, weight, padding=-1)
    with pytest.raises(ValueError, match="no bias"):
        deform_conv2d(x, offset, weight, padding=1, bias=True)


def test_compiled_op_checks_its_arguments(built):
    """Direct torch.ops calls get an error, not an out-of-bounds read."""
    x, weight = torch.rand(1, 4, 6, 6), torch.rand(2, 4, 3, 3)
    op = torch.ops.rbox_ops.deform_conv2d
    with pytest.raises(RuntimeError, match="offset must have shape"):
        op(x, torch.rand(1, 8, 6, 6), weight, 1, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(RuntimeError, match="divisible by deform_groups"):
        op(x, torch.rand(1, 54, 6, 6), weight, 1, 1, 1, 1, 1, 1, 1, 3)
    with pytest.raises(RuntimeError, match="weight must have"):
        op(x, torch.rand(1, 18, 6, 6), torch.rand(2, 3, 3, 3), 1, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(RuntimeError, match="grad_output must be"):
        torch.ops.rbox_ops.deform_conv2d_backward(
            torch.rand(1, 2, 5, 6), x, torch.rand(1, 18, 6, 6), weight, 1, 1, 1, 1, 1, 1, 1, 1
        )


def test_fake_kernel_and_compile(built, monkeypatch):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        out = torch.ops.rbox_ops.deform_conv2d(
            torch.empty(2, 4, 9, 9), torch.empty(2, 18, 5, 5), torch.empty(6, 4, 3, 3), 2, 2, 1, 1, 1, 1, 1, 1
        )
        assert out.shape == (2, 6, 5, 5)
    monkeypatch.delenv("RBOX_OPS_BACKEND", raising=False)
    m = DeformConv2d(4, 6, 3, padding=1)
    x, offset = torch.rand(1, 4, 6, 6, requires_grad=True), torch.rand(1, 18, 6, 6)
    ref = m(x, offset).sum()
    (g_ref,) = torch.autograd.grad(ref, x)
    out = torch.compile(lambda a, b: m(a, b).sum(), backend="aot_eager", fullgraph=True)(x, offset)
    (g,) = torch.autograd.grad(out, x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, g_ref)
