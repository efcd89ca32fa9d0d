"""IoU calculators: ``RBboxOverlaps2D`` (rotated, MMRotate) and ``BboxOverlaps2D`` (horizontal)."""

from __future__ import annotations

import torch

from rdet_models.registry import IOU_CALCULATORS

__all__ = ["BboxOverlaps2D", "RBboxOverlaps2D", "bbox_overlaps", "rbbox_overlaps"]


def rbbox_overlaps(
    bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou", is_aligned: bool = False
) -> torch.Tensor:
    """IoU / IoF of rotated boxes (m, 5) x (n, 5) -> (m, n) (or (m,) aligned), no gradient.

    As MMRotate: w, h are clamped to >= 1e-3 first (so a degenerate box still has a
    defined, tiny overlap), then ``rbox_ops.box_iou_rotated`` (mmcv's op) computes it.
    """
    from rbox_ops import box_iou_rotated

    if mode not in ("iou", "iof"):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if is_aligned and rows != cols:
        raise ValueError(f"aligned overlaps need as many boxes on both sides, got {rows} and {cols}")
    if rows * cols == 0:
        return bboxes1.new_zeros((rows, 1) if is_aligned else (rows, cols))
    b1 = bboxes1.detach().clone()
    b2 = bboxes2.detach().clone()
    b1[:, 2:4] = b1[:, 2:4].clamp(min=1e-3)
    b2[:, 2:4] = b2[:, 2:4].clamp(min=1e-3)
    return box_iou_rotated(b1, b2, mode, is_aligned)


@IOU_CALCULATORS.register_module()
class RBboxOverlaps2D:
    """Rotated-box overlaps; ``__call__(bboxes1 (m, 5|6), bboxes2 (n, 5|6), mode='iou', is_aligned=False)``."""

    def __call__(
        self,
        bboxes1: torch.Tensor,
        bboxes2: torch.Tensor,
        mode: str = "iou",
        is_aligned: bool = False,
        version: str = "oc",
    ) -> torch.Tensor:
        if bboxes1.size(-1) not in (0, 5, 6) or bboxes2.size(-1) not in (0, 5, 6):
            raise ValueError(
                f"rotated boxes need 5 (or 6 with a score) columns, got {tuple(bboxes1.shape)}, {tuple(bboxes2.shape)}"
            )
        return rbbox_overlaps(bboxes1[..., :5].contiguous(), bboxes2[..., :5].contiguous(), mode, is_aligned)

    def __repr__(self) -> str:
        return "RBboxOverlaps2D()"


def bbox_overlaps(
    bboxes1: torch.Tensor,
    bboxes2: torch.Tensor,
    mode: str = "iou",
    is_aligned: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """IoU / IoF of horizontal boxes (m, 4) x (n, 4) ``(x1, y1, x2, y2)``."""
    if mode not in ("iou", "iof"):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    area1 = (bboxes1[:, 2] - bboxes1[:, 0]) * (bboxes1[:, 3] - bboxes1[:, 1])
    area2 = (bboxes2[:, 2] - bboxes2[:, 0]) * (bboxes2[:, 3] - bboxes2[:, 1])
    if is_aligned:
        lt = torch.max(bboxes1[:, :2], bboxes2[:, :2])
        rb = torch.min(bboxes1[:, 2:], bboxes2[:, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[:, 0] * wh[:, 1]
        union = area1 + area2 - overlap if mode == "iou" else area1
    else:
        lt = torch.max(bboxes1[:, None, :2], bboxes2[None, :, :2])
        rb = torch.min(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = area1[:, None] + area2[None, :] - overlap if mode == "iou" else area1[:, None]
    return overlap / union.clamp(min=eps)


@IOU_CALCULATORS.register_module()
class BboxOverlaps2D:
    """Horizontal-box overlaps; ``__call__(bboxes1 (m, 4|5), bboxes2 (n, 4|5), mode, is_aligned)``."""

    def __init__(self, scale: float = 1.0, dtype: str | None = None) -> None:
        self.scale, self.dtype = scale, dtype

    def __call__(
        self, bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou", is_aligned: bool = False
    ) -> torch.Tensor:
        return bbox_overlaps(bboxes1[..., :4], bboxes2[..., :4], mode, is_aligned)
