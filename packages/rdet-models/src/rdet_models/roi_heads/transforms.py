"""RoI tensors: MMDetection's ``bbox2roi`` and MMRotate's ``rbbox2roi``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["bbox2roi", "rbbox2roi"]


def _to_roi(bbox_list: Sequence[torch.Tensor], dim: int) -> torch.Tensor:
    rois_list = []
    for img_id, bboxes in enumerate(bbox_list):
        if bboxes.size(0) > 0:
            img_inds = bboxes.new_full((bboxes.size(0), 1), img_id)
            rois_list.append(torch.cat([img_inds, bboxes[:, :dim]], dim=-1))
        else:
            rois_list.append(bboxes.new_zeros((0, dim + 1)))
    return torch.cat(rois_list, 0)


def bbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image horizontal boxes (n_i, >=4) -> rois (sum n_i, 5) ``(img_index, x1, y1, x2, y2)``."""
    return _to_roi(bbox_list, 4)


def rbbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image rotated boxes (n_i, >=5) -> rois (sum n_i, 6) ``(img_index, cx, cy, w, h, theta)``."""
    return _to_roi(bbox_list, 5)
