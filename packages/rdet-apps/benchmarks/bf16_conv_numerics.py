"""bf16 convolutions' numerics at float32's speed, for measuring bf16 training's accuracy on a
CPU without native bf16 (AVX2: there torch's bf16 convolution falls back to its slow reference
path, 7x float32's time on the main job and 60x on Oriented R-CNN's backward).

Under ``torch.autocast('cpu', torch.bfloat16)`` a convolution rounds its input, weight and bias to
bf16, multiplies and accumulates in float32 (oneDNN on AVX-512 BF16 / AMX, and torch's fallback
alike), and rounds its output to bf16; its backward rounds the incoming gradient's products the
same way: grad_input, grad_weight and grad_bias are float32 sums rounded to bf16. Inside
``emulated_bf16_convolutions()`` every ``F.conv2d`` under CPU bf16 autocast does exactly that with
float32 kernels: operands rounded to bf16 and back, a float32 convolution, the result rounded to
bf16. Only the order of the float32 additions differs from a native bf16 kernel, so outputs agree
but for a rounding flip in a few elements (one bf16 step; ``tests/test_bf16_conv_numerics.py``
measures it against torch's own bf16 convolution). Every other operator (batch norm, ReLU, the
additions of residual blocks and of the FPN, upsampling) still runs natively in bf16, as under
autocast anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

_BF16 = torch.bfloat16


def _pair(value: int | Sequence[int]) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


class _Bf16Conv2d(torch.autograd.Function):
    """conv2d on bf16 operands with float32 accumulation; bf16 result and gradients."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        stride: list[int],
        padding: list[int],
        dilation: list[int],
        groups: int,
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, dilation, groups, bias is not None)
        out = F.conv2d(
            x.float(),
            weight.float(),
            None if bias is None else bias.float(),
            stride,
            padding,
            dilation,
            groups,
        )
        return out.to(_BF16)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.geometry
        need = list(ctx.needs_input_grad[:3])
        need[2] = need[2] and has_bias
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad.float(),
            x.float(),
            weight.float(),
            [weight.shape[0]] if has_bias else None,
            stride,
            padding,
            dilation,
            False,
            [0, 0],
            groups,
            need,
        )
        to_bf16 = [None if g is None else g.to(_BF16) for g in (gx, gw, gb)]
        return (*to_bf16, None, None, None, None)


@contextlib.contextmanager
def emulated_bf16_convolutions() -> Iterator[None]:
    """While inside, ``F.conv2d`` under CPU bf16 autocast computes as a native bf16 convolution
    would (see the module's docstring), in float32 kernels; elsewhere it is unchanged."""
    plain = F.conv2d

    def conv2d(
        input: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None = None,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
    ) -> torch.Tensor:
        if not (
            input.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == _BF16
            and input.dtype in (torch.float32, _BF16)
        ):
            return plain(input, weight, bias, stride, padding, dilation, groups)
        if isinstance(padding, str):
            raise ValueError(f"emulated bf16 conv2d: padding={padding!r} (a string) is not handled")
        with torch.autocast("cpu", enabled=False):
            return _Bf16Conv2d.apply(
                input.to(_BF16),
                weight.to(_BF16),
                None if bias is None else bias.to(_BF16),
                _pair(stride),
                _pair(padding),
                _pair(dilation),
                groups,
            )

    F.conv2d = conv2d
    try:
        yield
    finally:
        F.conv2d = plain
