"""ORConv2d: oriented response convolution (ORN), as MMRotate 0.3.x's S2A-Net ODM head uses it.

The layer keeps ``weight`` (out, in, nOrientation, k, k), ``bias`` (out * nRotation,) and the
``indices`` buffer (nOrientation, k, k, nRotation), MMRotate's names and shapes, so S2A-Net
checkpoints load unchanged. Each forward turns the weight into its nRotation rotated copies
(``rbox_ops.active_rotated_filter``) and convolves with all of them: output channel
``o * nRotation + r`` is filter ``o`` turned clockwise (on screen) by ``r * 360 / nRotation``
degrees, its orientation channels cycled by ``r * nOrientation / nRotation``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

import rbox_ops

__all__ = ["ORConv2d", "orientation_indices"]

# the border of a 3 x 3 kernel, clockwise from the top-left entry (row-major places)
_RING = (0, 1, 2, 5, 8, 7, 6, 3)


def _is_power_of_two(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1 and n & (n - 1) == 0


def orientation_indices(n_orientation: int, n_rotation: int, kernel_size: int) -> torch.Tensor:
    """ORConv2d's ``indices``: (nOrientation, k, k, nRotation) int32, 1-based, as MMRotate builds them.

    Under rotation r (``r * 360 / nRotation`` degrees clockwise), entry (orientation i, place j)
    of a filter moves to orientation ``(i + r * nOrientation // nRotation) % nOrientation`` and,
    for a 3 x 3 kernel, to the place ``r * 8 / nRotation`` steps clockwise along the kernel's border
    (a 45 degree step moves each border entry by one; the centre stays). A 1 x 1 kernel stays.
    """
    if kernel_size not in (1, 3):
        raise ValueError(f"kernel_size must be 1 or 3 (the rotations MMRotate defines), got {kernel_size}")
    if not _is_power_of_two(n_orientation):
        raise ValueError(f"nOrientation must be a power of 2, got {n_orientation!r}")
    if n_rotation not in (1, 2, 4, 8):
        raise ValueError(f"nRotation must be 1, 2, 4 or 8 (multiples of 45 degrees), got {n_rotation!r}")
    entries = kernel_size * kernel_size
    out = torch.empty(n_orientation, entries, n_rotation, dtype=torch.int32)
    for r in range(n_rotation):
        steps = r * 8 // n_rotation  # 45 degree steps
        place = list(range(entries))
        if kernel_size == 3:
            for pos, p in enumerate(_RING):
                place[p] = _RING[(pos + steps) % 8]
        shift = r * n_orientation // n_rotation  # floor(angle / (360 / nOrientation))
        for i in range(n_orientation):
            layer = (i + shift) % n_orientation
            out[i, :, r] = torch.tensor(place, dtype=torch.int32) + layer * entries + 1
    return out.view(n_orientation, kernel_size, kernel_size, n_rotation)


class ORConv2d(nn.Conv2d):
    """Oriented 2-D convolution with MMRotate's signature, parameters and buffer.

    Args:
        in_channels: input planes; the input has ``in_channels * nOrientation`` channels.
        out_channels: filters; the output has ``out_channels * nRotation`` channels.
        kernel_size: 1 or 3 (square). arf_config: ``(nOrientation, nRotation)`` or one int for
            both; nOrientation a power of 2, nRotation 1, 2, 4 or 8.
        stride, padding, dilation, groups, bias: as ``nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        arf_config: int | Sequence[int] | None = None,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        if arf_config is None:
            raise ValueError("arf_config must be given: (nOrientation, nRotation) or one int for both")
        config = tuple(arf_config) if isinstance(arf_config, Sequence) else (arf_config, arf_config)
        if len(config) != 2:
            raise ValueError(f"arf_config must be (nOrientation, nRotation), got {arf_config!r}")
        self.nOrientation, self.nRotation = config
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(ks) != 2 or ks[0] != ks[1]:
            raise ValueError(f"kernel_size must be square, got {kernel_size!r}")
        indices = orientation_indices(self.nOrientation, self.nRotation, ks[0])  # checks arf_config
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self.register_buffer("indices", indices)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, self.nOrientation, *self.kernel_size)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels * self.nRotation))
        self._checked_indices: tuple | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MMRotate's init: weight ~ N(0, 2 / (in * nOrientation * k * k)), bias 0."""
        n = self.in_channels * self.nOrientation
        for k in self.kernel_size:
            n *= k
        with torch.no_grad():
            self.weight.normal_(0, math.sqrt(2.0 / n))
            if self.bias is not None:
                self.bias.zero_()

    def get_indices(self) -> torch.Tensor:
        """The ``indices`` of this layer's configuration (MMRotate's method name)."""
        return orientation_indices(self.nOrientation, self.nRotation, self.kernel_size[0])

    def rotate_arf(self) -> torch.Tensor:
        """The rotated filters: (out * nRotation, in * nOrientation, k, k)."""
        # the permutation check reads indices back to the host: once per buffer state, not per call
        check = False
        if not torch.compiler.is_compiling():
            key = (id(self.indices), self.indices._version, self.indices.device)
            check = key != self._checked_indices
        out = rbox_ops.active_rotated_filter(self.weight, self.indices, check_indices=check)
        if check:
            self._checked_indices = key
        return out

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            input, self.rotate_arf(), self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return f"arf_config=({self.nOrientation}, {self.nRotation}), " + super().extra_repr()
