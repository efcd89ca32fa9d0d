"""Rotated boxes between the network's input pixels and the original image's: the one mapping
that every head's ``rescale``, the RPN's and test-time augmentation use.

A resize by ``(w_scale, h_scale)`` (``ImageMeta.scale_factor``) maps a rotated box to a rectangle
only when the two are equal; otherwise its image is a parallelogram. So:

* isotropic scale factors (equal to ``ISOTROPIC_RTOL``, what a ``keep_ratio`` resize leaves by
  rounding each side to whole pixels) divide ``(cx, cy, w, h)`` by ``(sx, sy, sx, sy)``, the angle
  unchanged: MMRotate's arithmetic, bit for bit;
* anisotropic ones (``RResize(keep_ratio=False)``, MMDetection's ``Resize(keep_ratio=False)``) map
  the box's 4 corners by ``(1 / sx, 1 / sy)`` and take the rectangle of the resulting
  parallelogram with ``rbox_geometry.poly2obb_np`` in the model's angle version: the conversion
  ``RResize(keep_ratio=False)`` applies to the ground truth in training (minimum-area rectangle for
  ``'oc'`` / ``'le90'``, MMRotate's edge rule for ``'le135'``), the other way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

import rbox_geometry as rg
from rbox_geometry import ISOTROPIC_RTOL  # the rule of rbox_geometry.is_isotropic

__all__ = ["ISOTROPIC_RTOL", "rescale_rboxes", "scale_pair"]


def scale_pair(scale_factor: Any, name: str = "scale_factor") -> tuple[float, float]:
    """``(w_scale, h_scale)`` of a scale factor: a number, ``(s,)``, ``(w_scale, h_scale)`` or
    MMDetection's ``(w_scale, h_scale, w_scale, h_scale)`` (numpy, a tensor or a sequence).

    Raises:
        ValueError: another length, a 4-vector whose halves differ, or a factor that is not a
            positive finite number; the message names ``name`` and the value.
    """
    if isinstance(scale_factor, torch.Tensor):
        scale_factor = scale_factor.detach().cpu().numpy()
    try:
        f = np.asarray(scale_factor, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers, got {scale_factor!r}") from err
    if f.size not in (1, 2, 4):
        raise ValueError(f"{name} must have 1, 2 or 4 values, got {f.size}: {f.tolist()}")
    if not (np.isfinite(f).all() and (f > 0).all()):
        raise ValueError(f"{name} must be positive and finite, got {f.tolist()}")
    if f.size == 4 and (f[2] != f[0] or f[3] != f[1]):
        raise ValueError(f"{name} must be (w_scale, h_scale, w_scale, h_scale), got {f.tolist()}")
    return (float(f[0]), float(f[0])) if f.size == 1 else (float(f[0]), float(f[1]))


def _version(version: str | nn.Module | None) -> str | None:
    if isinstance(version, nn.Module):
        from rdet_models.tta import model_angle_version

        return model_angle_version(version)
    return version


def rescale_rboxes(
    boxes: torch.Tensor,
    scale_factor: Any,
    version: str | nn.Module | None,
    inverse: bool = True,
) -> torch.Tensor:
    """Map rotated boxes ``(..., 5 + k)`` (columns after the 5th, e.g. a score, are kept) from the
    resized image to the original one (``inverse=True``, what ``rescale`` does) or back.

    Args:
        scale_factor: the resize, original -> network input (see :func:`scale_pair`).
        version: the angle version of the boxes, or the head / model that declares it
            (:func:`rdet_models.tta.model_angle_version`, read only for anisotropic factors).

    Returns:
        A new tensor, same shape, dtype and device.

    Raises:
        ValueError: a bad ``scale_factor`` (:func:`scale_pair`), or anisotropic factors for boxes
            of no known angle version.
    """
    sx, sy = scale_pair(scale_factor)
    if rg.is_isotropic(sx, sy):  # MMRotate's: (cx, cy, w, h) / scale
        tensor = isinstance(scale_factor, torch.Tensor)
        if (scale_factor.numel() if tensor else np.size(scale_factor)) == 2:
            factor = boxes.new_tensor([sx, sy, sx, sy])
        elif tensor:
            factor = scale_factor.to(device=boxes.device, dtype=boxes.dtype)
        else:
            factor = boxes.new_tensor(scale_factor)
        xywh = boxes[..., :4] / factor if inverse else boxes[..., :4] * factor
        return torch.cat([xywh, boxes[..., 4:]], dim=-1)
    resolved = _version(version)
    if resolved is None:
        raise ValueError(
            f"scale_factor {[sx, sy]}: a resize that changes the aspect ratio turns rotated boxes into "
            "parallelograms, and without an angle version the rectangle to map them back to is unknown "
            "(pass version='oc' / 'le135' / 'le90')"
        )
    if boxes.numel() == 0:
        return boxes.clone()
    return rg.rescale_rboxes(boxes, (1.0 / sx, 1.0 / sy) if inverse else (sx, sy), version=resolved)
