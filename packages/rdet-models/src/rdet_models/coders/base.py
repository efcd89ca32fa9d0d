"""Base class of box coders and MMRotate's ``norm_angle`` on tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "BaseBBoxCoder",
    "clamp_deltas",
    "denormalize_deltas",
    "norm_angle",
    "normalize_deltas",
    "xyxy_centre_size",
]

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


def xyxy_centre_size(
    boxes: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 4) boxes ``(x1, y1, x2, y2)`` -> their centres and sizes ``cx, cy, w, h`` (each (...))."""
    return (
        (boxes[..., 0] + boxes[..., 2]) * 0.5,
        (boxes[..., 1] + boxes[..., 3]) * 0.5,
        boxes[..., 2] - boxes[..., 0],
        boxes[..., 3] - boxes[..., 1],
    )


def normalize_deltas(deltas: torch.Tensor, means: Sequence[float], stds: Sequence[float]) -> torch.Tensor:
    """``(deltas - means) / stds`` (the encoders' last step)."""
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def denormalize_deltas(
    deltas: torch.Tensor, means: Sequence[float], stds: Sequence[float], dim: int
) -> torch.Tensor:
    """``deltas * stds + means`` on (..., dim * k) deltas, ``means`` / ``stds`` repeated k times."""
    k = deltas.size(-1) // dim
    return deltas * deltas.new_tensor(stds).repeat(k) + deltas.new_tensor(means).repeat(k)


def clamp_deltas(
    dx_width: torch.Tensor,
    dy_height: torch.Tensor,
    dw: torch.Tensor,
    dh: torch.Tensor,
    wh_ratio_clip: float,
    add_ctr_clamp: bool = False,
    ctr_clamp: int = 32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MMDetection's clamping of decoded deltas: the log size ratios to ``|log(wh_ratio_clip)|``
    (only from above, and the centre shifts in pixels to ``ctr_clamp``, with ``add_ctr_clamp``)."""
    max_ratio = np.abs(np.log(wh_ratio_clip))
    if add_ctr_clamp:
        return (
            torch.clamp(dx_width, max=ctr_clamp, min=-ctr_clamp),
            torch.clamp(dy_height, max=ctr_clamp, min=-ctr_clamp),
            torch.clamp(dw, max=max_ratio),
            torch.clamp(dh, max=max_ratio),
        )
    return (
        dx_width,
        dy_height,
        dw.clamp(min=-max_ratio, max=max_ratio),
        dh.clamp(min=-max_ratio, max=max_ratio),
    )


class BaseBBoxCoder:
    """A coder: ``encode(...)`` targets for a head to learn, ``decode(...)`` its predictions back.

    The arguments are each coder's own, as in MMRotate: box coders ``encode(bboxes, gt_bboxes)``
    and ``decode(bboxes, deltas, max_shape=None, ...)``; the Gliding Vertex coders
    ``encode(rbboxes)`` / ``decode(hbboxes, fix_deltas)``; the angle coders (CSL)
    ``encode(angle_targets)`` / ``decode(angle_preds)``. So the base declares no signature.
    """

    def __init__(self, **kwargs: Any) -> None:
        pass

    def encode(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not encode")

    def decode(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not decode")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"
