"""``KLDRepPointsHead``: G-Rep (Hou et al., "G-Rep: Gaussian Representation for
Arbitrary-Oriented Object Detection", 2022), the head MMRotate 0.3.4's
``g_reppoints/g_reppoints_r50_fpn_1x_dota_le135.py`` names but does not ship.

A point set stands for the Gaussian of its points (mean and maximum-likelihood covariance).
Both stages learn it with ``KLDRepPointsLoss`` (KL divergence to the gt polygon's Gaussian,
whose sides lie at 3 standard deviations), the refine stage's positives are chosen by
``ATSSKldAssigner`` (ATSS over the same divergence), and at test time the Gaussian becomes the
rectangle of its 3-sigma ellipse (``gaussian2bbox``). Everything else is Rotated RepPoints'
(:class:`RotatedRepPointsHead`): network, state-dict keys, targets, per-level losses. Written
after the paper and its authors' MMDetection code; the rdet-models README's decisions say what
was followed and where it departs.
"""

from __future__ import annotations

from typing import Any

import torch

from rbox_geometry import gaussian2bbox, poly2obb
from rdet_core.structures import GroundTruth
from rdet_models.assigners.assign_result import AssignResult
from rdet_models.heads.pointset_utils import yx_to_xy
from rdet_models.heads.rotated_reppoints_head import _REPPOINTS_INIT, RotatedRepPointsHead
from rdet_models.heads.topk import needs_topk, topk_indices
from rdet_models.losses.kld_reppoints_loss import points_to_gaussian
from rdet_models.registry import MODELS

__all__ = ["KLDRepPointsHead"]

#: refine assigners whose ``assign`` takes the per-level prior counts second (ATSS-style)
LEVEL_ASSIGNERS = ("ATSSKldAssigner", "SASAssigner")


@MODELS.register_module()
class KLDRepPointsHead(RotatedRepPointsHead):
    """G-Rep's head: :class:`RotatedRepPointsHead` with Gaussian point sets.

    Args: :class:`RotatedRepPointsHead`'s, with ``loss_bbox_init`` / ``loss_bbox_refine``
    ``KLDRepPointsLoss`` by default, and ``use_reassign`` False only (the authors' optional
    re-assignment, a two-component mixture over the losses, is not implemented; the config
    does not use it). ``train_cfg.refine.assigner`` may be an ATSS-style assigner
    (``ATSSKldAssigner``), which gets the per-level prior counts.

    Forward and loss names: as :class:`RotatedRepPointsHead` (loss_cls, loss_pts_init,
    loss_pts_refine, one tensor per level each).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int,
        *,
        loss_bbox_init: dict = dict(type="KLDRepPointsLoss"),  # noqa: B006
        loss_bbox_refine: dict = dict(type="KLDRepPointsLoss"),  # noqa: B006
        use_reassign: bool = False,
        init_cfg: dict | list[dict] | None = _REPPOINTS_INIT,
        **kwargs: Any,
    ) -> None:
        if use_reassign:
            raise ValueError(
                "use_reassign=True (G-Rep's optional re-assignment) is not implemented in KLDRepPointsHead; "
                "g_reppoints_r50_fpn_1x_dota_le135.py uses use_reassign=False"
            )
        super().__init__(
            num_classes,
            in_channels,
            feat_channels,
            loss_bbox_init=loss_bbox_init,
            loss_bbox_refine=loss_bbox_refine,
            use_reassign=False,
            init_cfg=init_cfg,
            **kwargs,
        )

    def _assign(
        self,
        stage: str,
        proposals: torch.Tensor,
        gt_polygons: torch.Tensor,
        gt: GroundTruth,
        num_level_proposals: list[int],
    ) -> AssignResult:
        """The refine stage's ATSS-style assigner also gets the per-level counts."""
        if stage == "refine" and type(self.refine_assigner).__name__ in LEVEL_ASSIGNERS:
            labels = None if self.sampling else gt.labels
            return self.refine_assigner.assign(proposals, num_level_proposals, gt_polygons, None, labels)
        return super()._assign(stage, proposals, gt_polygons, gt, num_level_proposals)

    def _decode_level(
        self, cls_score: torch.Tensor, pts: torch.Tensor, cells: torch.Tensor, lvl: int, cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's level: the ``nms_pre`` best cells; each refined point set's Gaussian (its
        offsets in strides, as the authors') -> the rectangle of its 3-sigma ellipse, scaled and
        moved to the cell -> (k, 5) boxes in ``version``, scores (k, C)."""
        scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
        scores = scores.sigmoid() if self.use_sigmoid_cls else scores.softmax(-1)[:, :-1]
        pts = pts.permute(1, 2, 0).reshape(-1, 2 * self.num_points)
        nms_pre = cfg.get("nms_pre", -1)
        if needs_topk(scores.shape[0], nms_pre):
            topk = topk_indices(scores.max(dim=1)[0], nms_pre)
            cells, pts, scores = cells[topk], pts[topk], scores[topk]
        mu, sigma = points_to_gaussian(yx_to_xy(pts).reshape(pts.shape[0], -1, 2))
        polygons = gaussian2bbox(mu, sigma) * self.point_strides[lvl] + cells[:, :2].repeat(1, 4)
        return poly2obb(polygons, self.version), scores
