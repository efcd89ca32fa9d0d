"""Base class of box coders and MMRotate's ``norm_angle`` on tensors."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["BaseBBoxCoder", "norm_angle"]

ANGLE_VERSIONS = ("oc", "le135", "le90")


def norm_angle(angle: torch.Tensor, angle_range: str) -> torch.Tensor:
    """MMRotate's ``norm_angle``: 'oc' unchanged, 'le135' to [-pi/4, 3pi/4), 'le90' to [-pi/2, pi/2)."""
    if angle_range == "oc":
        return angle
    if angle_range == "le135":
        return (angle + math.pi / 4) % math.pi - math.pi / 4
    if angle_range == "le90":
        return (angle + math.pi / 2) % math.pi - math.pi / 2
    raise ValueError(f"angle_range must be one of {ANGLE_VERSIONS}, got {angle_range!r}")


class BaseBBoxCoder:
    """A box coder: ``encode(bboxes, gt_bboxes) -> deltas`` and ``decode(bboxes, deltas) -> boxes``."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, bboxes: torch.Tensor, bboxes_pred: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"
