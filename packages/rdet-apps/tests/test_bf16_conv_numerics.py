"""The learning benchmark's bf16 convolution (``benchmarks/bf16_conv_numerics.py``) computes what
bf16 hardware computes: operands rounded to bf16, float32 sums, each result rounded to bf16 once.

Measured against float64 on the same bf16 operands, and against torch's own bf16 convolution on
this CPU: forward equal but for a rounding flip, and a 1x1 conv's grad_input too; beyond that
torch's AVX2 fallback rounds partial sums to bf16 (a 3x3 conv's column sums, grad_weight image by
image), written down in ``test_torch_avx2_fallback_rounds_more``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bf16_conv_numerics import emulated_bf16_convolutions

HALF_ULP = 2.0**-8  # bf16's 8 significant bits: one rounding is off by at most this, relatively


def _bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16)


def _conv_and_grads(emulated: bool, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, gy, stride: int):
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    emulation = emulated_bf16_convolutions() if emulated else contextlib.nullcontext()
    with emulation, torch.autocast("cpu", torch.bfloat16):
        y = F.conv2d(x, w, b, stride, w.shape[-1] // 2)
    y.backward(gy)
    return y, x.grad, w.grad, b.grad


def _reference(x, w, b, gy, stride: int):
    """float64 convolution and gradients of the bf16-rounded operands."""
    args = [_bf16(t).double() for t in (x, w, b)]
    pad = w.shape[-1] // 2
    y = F.conv2d(*args, stride, pad)
    grads = torch.ops.aten.convolution_backward(
        gy.double(),
        args[0],
        args[1],
        [w.shape[0]],
        [stride] * 2,
        [pad] * 2,
        [1, 1],
        False,
        [0, 0],
        1,
        [True] * 3,
    )
    return (y, *grads)


def _case(kernel: int, stride: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 16, 24, 24, generator=g)
    w = torch.randn(24, 16, kernel, kernel, generator=g) * 0.1
    b = torch.randn(24, generator=g)
    out = 24 // stride
    gy = _bf16(torch.randn(2, 24, out, out, generator=g))
    return x, w, b, gy


def _relative_errors(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|got - ref| / |ref| over the entries above 1% of the largest (cancellation makes smaller
    ones' relative error meaningless for any precision)."""
    big = ref.abs() > ref.abs().max() * 1e-2
    return ((got.double() - ref).abs() / ref.abs())[big]


@pytest.mark.parametrize("kernel,stride", [(3, 1), (3, 2), (1, 1), (7, 2)])
def test_rounds_once_like_bf16_hardware(kernel: int, stride: int) -> None:
    x, w, b, gy = _case(kernel, stride)
    got = _conv_and_grads(True, x, w, b, gy, stride)
    ref = _reference(x, w, b, gy, stride)
    assert [t.dtype for t in got] == [torch.bfloat16] + [torch.float32] * 3  # autocast's dtypes
    for name, g, r in zip(("output", "grad_input", "grad_weight", "grad_bias"), got, ref):
        err = _relative_errors(g, r)
        assert err.max() <= HALF_ULP * 1.01, f"{name}: {err.max():.2e}"
        assert err.mean() > HALF_ULP / 8, f"{name} not rounded to bf16 (mean error {err.mean():.2e})"


@pytest.mark.parametrize("kernel,stride", [(3, 1), (1, 1)])
def test_forward_matches_torch_bf16_convolution(kernel: int, stride: int) -> None:
    x, w, b, gy = _case(kernel, stride, seed=1)
    ours = _conv_and_grads(True, x, w, b, gy, stride)
    torchs = _conv_and_grads(False, x, w, b, gy, stride)
    equal = (ours[0] == torchs[0]).float().mean().item()
    assert equal > 0.999  # the rest: one rounding flip from another order of float32 additions
    if kernel == 1:  # no column sums for torch's fallback to round: grad_input agrees too
        torch.testing.assert_close(ours[1], torchs[1], rtol=HALF_ULP * 2, atol=1e-6)


def test_torch_avx2_fallback_rounds_more() -> None:
    """Written down: on a CPU without bf16 (no AVX-512 BF16 / AMX), torch's bf16 convolution
    backward rounds partial sums to bf16 before adding them (each column's, and grad_weight's image
    by image), so a 3x3 grad_input is off by far more than one rounding (up to 26% measured); bf16 hardware (oneDNN, cuDNN) sums in
    float32 and rounds once, as the emulation does. Where torch uses oneDNN's bf16 kernels the
    fallback is not taken and this test has nothing to show."""
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has native bf16: torch's bf16 convolution is oneDNN's, not the fallback")
    x, w, b, gy = _case(3, 1, seed=2)
    ref = _reference(x, w, b, gy, 1)
    torch_err = _relative_errors(_conv_and_grads(False, x, w, b, gy, 1)[1], ref[1]).max()
    ours_err = _relative_errors(_conv_and_grads(True, x, w, b, gy, 1)[1], ref[1]).max()
    assert ours_err <= HALF_ULP * 1.01 < 4 * HALF_ULP < torch_err


def test_unchanged_outside_bf16_autocast() -> None:
    x, w, b, _ = _case(3, 1)
    plain_conv2d = F.conv2d
    with emulated_bf16_convolutions():
        plain = F.conv2d(x, w, b, 1, 1)
        with torch.autocast("cpu", torch.float16):  # not bf16: torch's own path
            half = F.conv2d(x, w, b, 1, 1)
    assert plain.dtype == torch.float32
    torch.testing.assert_close(plain, F.conv2d(x, w, b, 1, 1), rtol=0, atol=0)
    assert half.dtype == torch.float16
    assert F.conv2d is plain_conv2d  # restored on leaving
