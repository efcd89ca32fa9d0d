"""Helpers of anchor heads: grid sizes, inside flags, level splitting, unmapping."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["anchor_inside_flags", "grid_size", "images_to_levels", "rotated_anchor_inside_flags", "unmap"]


def grid_size(featmap_size: Sequence) -> tuple[int | torch.Tensor, int | torch.Tensor]:
    """A feature map's (H, W) as ints; while tracing (ONNX export) as given: there a traced size
    is a 0-dim tensor, and ``int()`` would freeze the prior grid at the traced input's size."""
    if torch.jit.is_tracing():
        return featmap_size[0], featmap_size[1]
    return int(featmap_size[0]), int(featmap_size[1])


def rotated_anchor_inside_flags(
    flat_anchors: torch.Tensor, valid_flags: torch.Tensor, img_shape: Sequence[int], allowed_border: float = 0
) -> torch.Tensor:
    """(N,) bool: valid and (with ``allowed_border >= 0``) centre within the image + border.

    ``flat_anchors`` (N, 5) ``(cx, cy, w, h, theta)``; ``img_shape`` (H, W, ...).
    """
    img_h, img_w = img_shape[:2]
    if allowed_border < 0:
        return valid_flags
    cx, cy = flat_anchors[:, 0], flat_anchors[:, 1]
    return (
        valid_flags
        & (cx >= -allowed_border)
        & (cy >= -allowed_border)
        & (cx < img_w + allowed_border)
        & (cy < img_h + allowed_border)
    )


def anchor_inside_flags(
    flat_anchors: torch.Tensor, valid_flags: torch.Tensor, img_shape: Sequence[int], allowed_border: float = 0
) -> torch.Tensor:
    """(N,) bool for horizontal anchors (x1, y1, x2, y2): the whole anchor within image + border."""
    img_h, img_w = img_shape[:2]
    if allowed_border < 0:
        return valid_flags
    return (
        valid_flags
        & (flat_anchors[:, 0] >= -allowed_border)
        & (flat_anchors[:, 1] >= -allowed_border)
        & (flat_anchors[:, 2] < img_w + allowed_border)
        & (flat_anchors[:, 3] < img_h + allowed_border)
    )


def images_to_levels(target: list[torch.Tensor], num_levels: Sequence[int]) -> list[torch.Tensor]:
    """Per-image targets (N_img x (sum A_l, ...)) -> per-level (N_img, A_l, ...)."""
    target = torch.stack(target, 0)
    out, start = [], 0
    for n in num_levels:
        out.append(target[:, start : start + n])
        start += n
    return out


def unmap(data: torch.Tensor, count: int, inds: torch.Tensor, fill: float = 0) -> torch.Tensor:
    """Scatter ``data`` (rows for ``inds``' True entries) back into ``count`` rows filled with ``fill``."""
    if data.dim() == 1:
        ret = data.new_full((count,), fill)
        ret[inds.type(torch.bool)] = data
    else:
        ret = data.new_full((count, *data.size()[1:]), fill)
        ret[inds.type(torch.bool), :] = data
    return ret
