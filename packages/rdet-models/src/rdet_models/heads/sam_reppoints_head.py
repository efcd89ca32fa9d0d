"""``SAMRepPointsHead`` (MMRotate 0.3.x): SASM, Rotated RepPoints with shape-adaptive selection
(``SASAssigner``) and shape-adaptive measurement (per-sample weights from the distance to the gt
centre)."""

from __future__ import annotations

from typing import Any

import torch

from rbox_geometry import poly2obb
from rdet_models.heads.pointset_utils import pointset_centers
from rdet_models.heads.rotated_reppoints_head import RotatedRepPointsHead
from rdet_models.registry import MODELS
from rdet_models.targets import ImageAnchorTargets, LevelTargets

__all__ = ["SAMRepPointsHead", "sam_weights"]


def sam_weights(
    gt_polygons: torch.Tensor, points_xy: torch.Tensor, label_weights: torch.Tensor, version: str
) -> torch.Tensor:
    """SASM's measurement weights: ``label_weights * exp(1 / (d + 1))`` with ``d`` the distance
    of ``points_xy`` (n, 2) px to the centre of its gt (``gt_polygons`` (n, 8); zero rows for
    negatives), ``sqrt(dx^2 / w + dy^2 / h)`` (``w``, ``h`` swapped when the gt's angle is outside
    [0, 1.57]). Rows without a gt (w = 0) get ``d = 0`` (weight e, as MMRotate); a NaN distance
    (a degenerate gt) counts as 0 (MMRotate meant to, but compared with NaN by ``==``)."""
    center, w, h, angle = torch.split(poly2obb(gt_polygons, version), [2, 1, 1, 1], dim=-1)
    w, h, angle = w.reshape(-1), h.reshape(-1), angle.reshape(-1)
    d2 = (center - points_xy) ** 2
    along_w = (angle >= 0) & (angle <= 1.57)
    sw, sh = torch.where(along_w, w, h), torch.where(along_w, h, w)
    distances = torch.sqrt(d2[:, 0] / sw + d2[:, 1] / sh)
    distances = torch.where(w != 0, distances, torch.zeros_like(distances)).nan_to_num(nan=0.0)
    weights = label_weights * torch.exp(1 / (distances + 1))
    return torch.where(torch.isinf(weights), torch.zeros_like(weights), weights)


@MODELS.register_module()
class SAMRepPointsHead(RotatedRepPointsHead):
    """SASM's head: ``RotatedRepPointsHead``'s network and inference; the refine stage assigned by
    ``SASAssigner`` (per level, on the initial point sets), and both stages' point losses and the
    classification loss weighted by :func:`sam_weights` (``extra['sam_weights']``). The initial
    points' loss is ``BCConvexGIoULoss`` in MMRotate's config.

    Args: ``RotatedRepPointsHead``'s; ``use_reassign`` (in the base config SASM inherits) must be
    False: SASM has no CFA.
    """

    def __init__(self, *args: Any, use_reassign: bool = False, **kwargs: Any) -> None:
        if use_reassign:
            raise ValueError("SAMRepPointsHead has no CFA reassignment: use_reassign must be False")
        super().__init__(*args, use_reassign=False, **kwargs)

    def _extra_targets(
        self, stage: str, proposals: torch.Tensor, targets: ImageAnchorTargets, pos_proposals: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``sam_weights`` (A,): from the cell (init) or the point set's mean point (refine)."""
        points_xy = pos_proposals[:, :2] if stage == "init" else pointset_centers(pos_proposals)
        return {
            "sam_weights": sam_weights(targets.bbox_targets, points_xy, targets.label_weights, self.version)
        }

    def _point_weights(self, t: LevelTargets) -> torch.Tensor:
        return t.bbox_weights * t.extra["sam_weights"]

    def _label_weights(self, t: LevelTargets) -> torch.Tensor:
        return t.label_weights * t.extra["sam_weights"]
