"""``MaxConvexIoUAssigner`` (MMRotate 0.3.x): ``MaxIoUAssigner`` on the IoU of point sets' convex
hulls with gt polygons (``rbox_ops.convex_iou``)."""

from __future__ import annotations

import torch

from rdet_models.assigners.assign_result import AssignResult
from rdet_models.assigners.convex_assigner import check_polygons
from rdet_models.assigners.max_iou_assigner import MaxIoUAssigner
from rdet_models.heads.pointset_utils import convex_overlaps
from rdet_models.registry import BBOX_ASSIGNERS

__all__ = ["MaxConvexIoUAssigner"]


@BBOX_ASSIGNERS.register_module()
class MaxConvexIoUAssigner(MaxIoUAssigner):
    """Each point set to the gt polygon its convex hull overlaps most (``MaxIoUAssigner``'s rule:
    negative below ``neg_iou_thr``, positive from ``pos_iou_thr``, and every gt also takes its
    best point sets when that IoU >= ``min_pos_iou``).

    Args: MMRotate's; ``ignore_iof_thr`` must stay -1 (MMRotate's ignore branch cannot run: it
    names an undefined variable and asks convex_iou for an IoF it does not compute).

    ``assign(points (n, 18) x-first px, gt_rbboxes (k, 8), overlaps (k, n) or None,
    gt_rbboxes_ignore, gt_labels)``: gt_inds -1 = between the thresholds (ignored), 0 =
    negative, i > 0 = gt i - 1.
    """

    def __init__(
        self,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        gt_max_assign_all: bool = True,
        ignore_iof_thr: float = -1,
        ignore_wrt_candidates: bool = True,
        gpu_assign_thr: int = -1,
    ) -> None:
        if isinstance(ignore_iof_thr, bool) or ignore_iof_thr != -1:
            raise ValueError(
                f"MaxConvexIoUAssigner: ignore_iof_thr must be -1 (off), got {ignore_iof_thr!r}: it cannot "
                "ignore boxes (convex_iou has no IoF)"
            )
        super().__init__(
            pos_iou_thr,
            neg_iou_thr,
            min_pos_iou=min_pos_iou,
            gt_max_assign_all=gt_max_assign_all,
            ignore_iof_thr=ignore_iof_thr,
            ignore_wrt_candidates=ignore_wrt_candidates,
            gpu_assign_thr=gpu_assign_thr,
        )

    def assign(  # type: ignore[override]
        self,
        points: torch.Tensor,
        gt_rbboxes: torch.Tensor,
        overlaps: torch.Tensor | None = None,
        gt_rbboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """See the class doc; ``overlaps`` (k, n) skips computing them."""
        if points.dim() != 2 or points.shape[1] != 18:
            raise ValueError(f"points must be (n, 18) point sets, got {tuple(points.shape)}")
        check_polygons("gt_rbboxes", gt_rbboxes)
        if overlaps is None:
            overlaps = convex_overlaps(gt_rbboxes, points)
        elif overlaps.shape != (gt_rbboxes.shape[0], points.shape[0]):
            raise ValueError(
                f"overlaps must be (k, n) = {(gt_rbboxes.shape[0], points.shape[0])}, got {tuple(overlaps.shape)}"
            )
        return self.assign_wrt_overlaps(overlaps, gt_labels)
