"""``ConvexAssigner`` (MMRotate 0.3.x): RepPoints' initial assignment, by distance to the gt centre
on the pyramid level that fits the gt's size."""

from __future__ import annotations

import math

import torch

from rdet_models.assigners.assign_result import AssignResult
from rdet_models.heads.pointset_utils import horizontal_bboxes
from rdet_models.registry import BBOX_ASSIGNERS

__all__ = ["ConvexAssigner"]


def _labels_of(assigned: torch.Tensor, gt_labels: torch.Tensor | None) -> torch.Tensor | None:
    """(n,) assigned gt indices (1-based, 0 none) -> (n,) their labels (-1 none), or None."""
    if gt_labels is None:
        return None
    labels = assigned.new_full(assigned.shape, -1)
    pos = assigned > 0
    labels[pos] = gt_labels[assigned[pos] - 1]
    return labels


def check_polygons(name: str, polygons: torch.Tensor | None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``polygons`` is None or (k, 8)."""
    if polygons is not None and (polygons.dim() != 2 or polygons.shape[1] != 8):
        raise ValueError(f"{name} must be (k, 8) polygons (x1, y1, ..., x4, y4), got {tuple(polygons.shape)}")


@BBOX_ASSIGNERS.register_module()
class ConvexAssigner:
    """Each gt takes the ``pos_num`` points nearest its centre on one level: the level
    ``int((log2(w / scale) + log2(h / scale)) / 2)`` of its enclosing horizontal box (w, h px),
    clamped to the levels present; distances are measured in units of (w, h). A point claimed by
    several gts keeps the nearest (an earlier gt on ties).

    Args:
        scale: the gt size (px) that maps to level 0 (stride 1); level l holds stride 2**l.
        pos_num: points taken per gt.

    ``assign(points (n, 3+) (x, y, stride) px, gt_rbboxes (k, 8) polygons, ...)``:
    gt_inds 0 = negative, i > 0 = gt i - 1; no point is ignored.
    """

    def __init__(self, scale: float = 4, pos_num: int = 3) -> None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
            raise ValueError(
                f"ConvexAssigner: scale must be a positive finite number of pixels, got {scale!r}"
            )
        if isinstance(pos_num, bool) or not isinstance(pos_num, int) or pos_num < 1:
            raise ValueError(f"ConvexAssigner: pos_num must be an int >= 1, got {pos_num!r}")
        self.scale, self.pos_num = scale, pos_num

    def assign(
        self,
        points: torch.Tensor,
        gt_rbboxes: torch.Tensor,
        gt_rbboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
        overlaps: torch.Tensor | None = None,
    ) -> AssignResult:
        """``points`` (n, >=3): x, y, stride (px); ``gt_rbboxes`` (k, 8) polygons; ``gt_labels``
        (k,) or None. ``gt_rbboxes_ignore`` and ``overlaps`` are accepted for MMRotate's
        signature and not used (MMRotate's ignores them too)."""
        if points.dim() != 2 or points.shape[1] < 3:
            raise ValueError(f"points must be (n, 3+) with (x, y, stride), got {tuple(points.shape)}")
        check_polygons("gt_rbboxes", gt_rbboxes)
        num_points, num_gts = points.shape[0], gt_rbboxes.shape[0]
        assigned = points.new_zeros((num_points,), dtype=torch.long)
        if num_gts == 0 or num_points == 0:
            labels = None if gt_labels is None else assigned.new_full((num_points,), -1)
            return AssignResult(num_gts, assigned, None, labels=labels)  # type: ignore[arg-type]

        points_xy, points_lvl = points[:, :2], torch.log2(points[:, 2]).int()
        lvl_min, lvl_max = points_lvl.min(), points_lvl.max()
        gt_hbb = horizontal_bboxes(gt_rbboxes)
        gt_xy = (gt_hbb[:, :2] + gt_hbb[:, 2:]) / 2
        gt_wh = (gt_hbb[:, 2:] - gt_hbb[:, :2]).clamp(min=1e-6)
        gt_lvl = ((torch.log2(gt_wh[:, 0] / self.scale) + torch.log2(gt_wh[:, 1] / self.scale)) / 2).int()
        gt_lvl = gt_lvl.clamp(min=lvl_min, max=lvl_max)

        assigned_dist = points.new_full((num_points,), float("inf"))
        index = torch.arange(num_points, device=points.device)
        for i in range(num_gts):
            on_level = points_lvl == gt_lvl[i]
            level_index = index[on_level]
            dist = ((points_xy[on_level] - gt_xy[i : i + 1]) / gt_wh[i : i + 1]).norm(dim=1)
            min_dist, nearest = torch.topk(dist, min(self.pos_num, dist.numel()), largest=False)
            nearest = level_index[nearest]
            closer = min_dist < assigned_dist[nearest]
            assigned[nearest[closer]] = i + 1
            assigned_dist[nearest[closer]] = min_dist[closer]
        return AssignResult(num_gts, assigned, None, labels=_labels_of(assigned, gt_labels))  # type: ignore[arg-type]
