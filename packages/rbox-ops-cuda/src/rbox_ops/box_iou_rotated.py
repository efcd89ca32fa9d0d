"""box_iou_rotated: IoU / IoF of rotated boxes, mmcv's signature."""

from __future__ import annotations

import torch

from rbox_geometry import rbbox_overlaps

from . import _backend
from ._checks import check_floating, check_rows, check_same_device, check_tensor, compute_dtype

_MODES = {"iou": 0, "iof": 1}


def box_iou_rotated(
    bboxes1: torch.Tensor,
    bboxes2: torch.Tensor,
    mode: str = "iou",
    aligned: bool = False,
    clockwise: bool = True,
) -> torch.Tensor:
    """Overlaps of rotated boxes (cx, cy, w, h, theta): pixels, radians.

    Args:
        bboxes1: (N, 5). bboxes2: (M, 5); with ``aligned`` M == N.
        mode: 'iou' (intersection / union) or 'iof' (intersection / area of bboxes1).
        aligned: overlap of row i with row i only.
        clockwise: theta turns clockwise on screen (y down); False flips its sign first.

    Returns:
        (N, M), or (N,) when ``aligned``; the dtype of bboxes1. A box with a NaN/inf value,
        or an area under 1e-14, has overlap 0 with everything.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    check_tensor("bboxes1", bboxes1, ndim=2, last=5)
    check_tensor("bboxes2", bboxes2, ndim=2, last=5)
    check_floating("bboxes1", bboxes1)
    check_floating("bboxes2", bboxes2)
    check_same_device(bboxes1=bboxes1, bboxes2=bboxes2)
    if aligned:
        check_rows("bboxes2", bboxes2, "bboxes1 (aligned=True)", bboxes1.shape[0])
    dtype = compute_dtype(bboxes1)
    b1, b2 = bboxes1.detach().to(dtype), bboxes2.detach().to(dtype)
    if not clockwise:
        flip = b1.new_tensor([1, 1, 1, 1, -1])
        b1, b2 = b1 * flip, b2 * flip
    if _backend.use_compiled(b1.device):
        out = torch.ops.rbox_ops.box_iou_rotated(b1, b2, _MODES[mode], aligned)
    else:
        out = box_iou_rotated_torch(b1, b2, _MODES[mode], aligned)
    return out.to(bboxes1.dtype)


def box_iou_rotated_torch(b1: torch.Tensor, b2: torch.Tensor, mode_flag: int, aligned: bool) -> torch.Tensor:
    """Pure-torch box_iou_rotated (clockwise boxes, mode 0 IoU / 1 IoF): rbox-geometry's
    exact vectorised overlaps, which run on torch tensors of any device."""
    return rbbox_overlaps(b1, b2, mode="iof" if mode_flag else "iou", is_aligned=aligned)


def register_kernels() -> None:
    """Fake (meta) kernel of the compiled op, for torch.compile / torch.export."""

    @torch.library.register_fake("rbox_ops::box_iou_rotated")
    def _(boxes1: torch.Tensor, boxes2: torch.Tensor, mode: int, aligned: bool) -> torch.Tensor:
        shape = (boxes1.shape[0],) if aligned else (boxes1.shape[0], boxes2.shape[0])
        return boxes1.new_empty(shape)
