"""``CSLCoder``: Circular Smooth Label angle classification (MMRotate 0.3.x)."""

from __future__ import annotations

import math

import torch

from rdet_models.coders.base import BaseBBoxCoder
from rdet_models.registry import BBOX_CODERS

__all__ = ["CSLCoder"]


@BBOX_CODERS.register_module()
class CSLCoder(BaseBBoxCoder):
    """Angles (radians) <-> smooth one-hot labels over ``coding_len`` bins of ``omega`` degrees.

    Args:
        angle_version: 'oc' (90 degrees of range) or 'le90' / 'le135' (180).
        omega: bin width, degrees.
        window: 'gaussian' (float radius), 'triangle', 'rect' or 'pulse' (int radius).
        radius: the window's radius, bins.
    """

    def __init__(
        self, angle_version: str, omega: float = 1, window: str = "gaussian", radius: float = 6
    ) -> None:
        if angle_version not in ("oc", "le90", "le135"):
            raise ValueError(f"angle_version must be oc, le90 or le135, got {angle_version!r}")
        if window not in ("gaussian", "triangle", "rect", "pulse"):
            raise ValueError(f"window must be gaussian, triangle, rect or pulse, got {window!r}")
        self.angle_version = angle_version
        self.angle_range = 90 if angle_version == "oc" else 180
        self.angle_offset = {"oc": 0, "le90": 90, "le135": 45}[angle_version]
        self.omega, self.window, self.radius = omega, window, radius
        self.coding_len = int(self.angle_range // omega)

    def encode(self, angle_targets: torch.Tensor) -> torch.Tensor:
        """(N, 1) angles, radians -> (N, coding_len) smooth labels in [0, 1]."""
        deg = angle_targets * (180 / math.pi)
        smooth_label = torch.zeros_like(angle_targets).repeat(1, self.coding_len)
        idx = ((deg + self.angle_offset) / self.omega).long()
        device = idx.device
        if self.window == "pulse":
            radius_range = idx
            smooth_value: torch.Tensor | float = 1.0
        elif self.window in ("rect", "triangle"):
            base = torch.arange(-self.radius, self.radius, device=device)
            radius_range = (base + idx) % self.coding_len
            smooth_value = 1.0 if self.window == "rect" else 1.0 - torch.abs((1 / self.radius) * base)
        else:
            base = torch.arange(-self.angle_range // 2, self.angle_range // 2, device=device)
            radius_range = (base + idx) % self.coding_len
            smooth_value = torch.exp(-torch.pow(base, 2) / (2 * self.radius**2))
        if not isinstance(smooth_value, torch.Tensor):
            return smooth_label.scatter(1, radius_range, smooth_value)
        smooth_value = smooth_value.unsqueeze(0).repeat(smooth_label.size(0), 1).to(smooth_label.dtype)
        # With omega > 1 the window covers some bins several times; MMRotate's scatter keeps
        # whichever write comes last (on CUDA: any), which for the gaussian window leaves ~0
        # everywhere. Each bin takes the largest value instead: the same as MMRotate whenever
        # no bin repeats (omega = 1, the reference cases), and well defined otherwise.
        return smooth_label.scatter_reduce(1, radius_range, smooth_value, reduce="amax", include_self=True)

    def decode(self, angle_preds: torch.Tensor) -> torch.Tensor:
        """(N, coding_len) scores -> (N,) angles, radians (bin centres)."""
        inds = torch.argmax(angle_preds, dim=1)
        angle = ((inds + 0.5) * self.omega) % self.angle_range - self.angle_offset
        return angle * (math.pi / 180)
