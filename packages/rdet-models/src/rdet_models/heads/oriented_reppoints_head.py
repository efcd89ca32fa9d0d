"""``OrientedRepPointsHead``: Oriented RepPoints (Li et al., CVPR 2022; MMRotate 0.3.x) on the
typed internals.

Rotated RepPoints' network, points and targets (:class:`RotatedRepPointsHead`), plus: the
refine stage keeps, per gt and level, its 6 point sets of best quality and of those the
``top_ratio`` best as positives (APAA: focal loss + convex-GIoU loss + Chamfer distance between
the min-area rectangles' edges and the gt's + the spread of the points' features), and a
``SpatialBorderLoss`` pulls stray points into their gt in both stages. At test time a point set
becomes its minimum-area rectangle (computed in pixels, as MMRotate's Oriented RepPoints).

Point-set layout: see :mod:`rdet_models.heads.pointset_utils` (the convolutions' offsets are
y-first in strides; everything else x-first pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import rbox_ops
from rbox_geometry import poly2obb
from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.builder import build_loss
from rdet_models.heads.pointset_utils import levels_to_images, points_to_polygons, yx_to_xy
from rdet_models.heads.rotated_reppoints_head import _REPPOINTS_INIT, RotatedRepPointsHead
from rdet_models.heads.topk import needs_topk, topk_indices
from rdet_models.registry import MODELS
from rdet_models.targets import AnchorTargets, ImageAnchorTargets

__all__ = [
    "OrientedRepPointsHead",
    "chamfer_distance_2d",
    "feature_cosine_similarity",
    "sample_polygon_edges",
]


def sample_polygon_edges(polygons: torch.Tensor, points_per_edge: int = 10) -> torch.Tensor:
    """(N, 8) polygons -> (N, 4 * points_per_edge, 2): ``points_per_edge`` evenly spaced points
    on each edge p1p2, p2p3, p3p4, p4p1, both ends included (MMRotate's ``sampling_points``)."""
    corners = polygons.reshape(-1, 4, 2)
    nxt = corners.roll(-1, dims=1)
    ratio = torch.linspace(0, 1, points_per_edge, dtype=polygons.dtype, device=polygons.device)
    ratio = ratio[None, None, :, None]
    edges = ratio * nxt[:, :, None, :] + (1 - ratio) * corners[:, :, None, :]
    return edges.reshape(polygons.size(0), -1, 2)


def chamfer_distance_2d(
    set1: torch.Tensor, set2: torch.Tensor, distance_weight: float = 0.05, eps: float = 1e-12
) -> torch.Tensor:
    """(N, P, 2), (N, Q, 2) point sets (px) -> (N,) ``distance_weight * (mean nearest distance
    1->2 + mean nearest distance 2->1) / 2`` (``rbox_ops.chamfer_distance``; MMRotate's
    ``ChamferDistance2D``)."""
    dist1, dist2, _, _ = rbox_ops.chamfer_distance(set1.contiguous(), set2.contiguous())
    dist1 = torch.sqrt(torch.clamp(dist1, eps))
    dist2 = torch.sqrt(torch.clamp(dist2, eps))
    return distance_weight * (dist1.mean(-1) + dist2.mean(-1)) / 2.0


def feature_cosine_similarity(points_features: torch.Tensor) -> torch.Tensor:
    """(N, P, C) features of each set's points -> (N,) the largest ``1 - cos`` between a point's
    feature and the set's mean feature (norms clamped at 1e-2, as MMRotate)."""
    mean = points_features.mean(dim=1, keepdim=True)
    unit = points_features / points_features.norm(p=2, dim=2, keepdim=True).clamp(min=1e-2)
    unit_mean = mean / mean.norm(p=2, dim=2, keepdim=True).clamp(min=1e-2)
    return (1.0 - F.cosine_similarity(unit, unit_mean, dim=2, eps=1e-6)).max(dim=1)[0]


def assigned_gt_inds(targets: ImageAnchorTargets, inside: torch.Tensor) -> torch.Tensor:
    """(A,) long over all priors of an image: 0, or ``i + 1`` for a positive of gt ``i``."""
    sampling = targets.sampling_result
    gt_inds = targets.labels.new_zeros(targets.labels.shape)
    full = inside.nonzero().reshape(-1)[sampling.pos_inds]
    gt_inds[full] = sampling.pos_assigned_gt_inds + 1
    return gt_inds


@MODELS.register_module()
class OrientedRepPointsHead(RotatedRepPointsHead):
    """Oriented RepPoints' head; module names (state-dict keys) are Rotated RepPoints' (MMRotate's).

    Args (besides :class:`RotatedRepPointsHead`'s network, ``version``, ``train_cfg``, ``test_cfg``):
        loss_bbox_init / loss_bbox_refine: ``ConvexGIoULoss`` by default (the configs'; MMRotate's
            SmoothL1 default cannot compare point sets with polygons).
        loss_spatial_init / loss_spatial_refine: ``SpatialBorderLoss`` configs.
        top_ratio: the share of each gt's candidate point sets kept as positives (APAA).
        init_qua_weight: the initial stage's share of the localisation + orientation quality
            (the refined stage has the rest).
        ori_qua_weight / poc_qua_weight: weights of the orientation (Chamfer) and the point
            correlation quality terms.

    Forward: cls_score, pts_init, pts_refine per level (see :class:`RotatedRepPointsHead`), and
    base_feat, the input levels (the refine stage samples point features from them).
    Loss names: loss_cls, loss_pts_init [per level], loss_pts_refine, loss_spatial_init [per
    level], loss_spatial_refine.
    """

    pred_names = ("cls_score", "pts_init", "pts_refine", "base_feat")

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int,
        point_feat_channels: int = 256,
        stacked_convs: int = 3,
        num_points: int = 9,
        gradient_mul: float = 0.1,
        point_strides: Sequence[int] = (8, 16, 32, 64, 128),
        point_base_scale: int = 4,
        conv_bias: bool | str = "auto",
        loss_cls: dict = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),  # noqa: B006
        loss_bbox_init: dict = dict(type="ConvexGIoULoss", loss_weight=0.375),  # noqa: B006
        loss_bbox_refine: dict = dict(type="ConvexGIoULoss", loss_weight=1.0),  # noqa: B006
        loss_spatial_init: dict = dict(type="SpatialBorderLoss", loss_weight=0.05),  # noqa: B006
        loss_spatial_refine: dict = dict(type="SpatialBorderLoss", loss_weight=0.1),  # noqa: B006
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        center_init: bool = True,
        version: str = "oc",
        top_ratio: float = 0.4,
        init_qua_weight: float = 0.2,
        ori_qua_weight: float = 0.3,
        poc_qua_weight: float = 0.1,
        init_cfg: dict | list[dict] | None = _REPPOINTS_INIT,
    ) -> None:
        if not 0 < top_ratio <= 1:
            raise ValueError(f"top_ratio must be in (0, 1], got {top_ratio}")
        super().__init__(
            num_classes,
            in_channels,
            feat_channels,
            point_feat_channels=point_feat_channels,
            stacked_convs=stacked_convs,
            num_points=num_points,
            gradient_mul=gradient_mul,
            point_strides=point_strides,
            point_base_scale=point_base_scale,
            conv_bias=conv_bias,
            loss_cls=loss_cls,
            loss_bbox_init=loss_bbox_init,
            loss_bbox_refine=loss_bbox_refine,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            center_init=center_init,
            version=version,
            init_cfg=init_cfg,
        )
        self.loss_spatial_init = build_loss(loss_spatial_init)
        self.loss_spatial_refine = build_loss(loss_spatial_refine)
        self.top_ratio = top_ratio
        self.init_qua_weight, self.ori_qua_weight, self.poc_qua_weight = (
            init_qua_weight,
            ori_qua_weight,
            poc_qua_weight,
        )

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        """One level (N, C, H, W) -> cls_score, pts_init, pts_refine, base_feat (``x``)."""
        return (*super().forward_single(x), x)

    # -- losses ---------------------------------------------------------------------------------

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """MMRotate's Oriented RepPoints losses (names in the class doc)."""
        if not self.train_cfg:
            raise ValueError(f"{type(self).__name__} has no train_cfg: it cannot compute losses")
        if len(outs) != len(self.pred_names):
            raise ValueError(f"{type(self).__name__} has outputs {self.pred_names}, got {len(outs)}")
        named = dict(zip(self.pred_names, outs))
        cls_scores = named["cls_score"]
        if len(gts) != len(metas) or len(gts) != cls_scores[0].shape[0]:
            raise ValueError(f"{cls_scores[0].shape[0]} images but {len(gts)} gts and {len(metas)} metas")
        featmap_sizes = [tuple(c.shape[-2:]) for c in cls_scores]
        centers, inside = self.get_points(featmap_sizes, metas, cls_scores[0].device)
        num_level = [c.shape[0] for c in centers]
        pts_init = self.points_by_level(centers, named["pts_init"])
        pts_refine = self.points_by_level(centers, named["pts_refine"])
        cells = torch.cat(centers)
        init_t = AnchorTargets.from_images(
            self.get_targets([cells] * len(gts), inside, gts, "init", num_level),
            [cells] * len(gts),
            num_level,
            self.sampling,
        )
        init_sets = levels_to_images(pts_init, channels_last=True)
        refine_sets = levels_to_images(pts_refine, channels_last=True)
        # the refine stage assigns the initial point sets, x-first (as RotatedRepPointsHead)
        refine = self.get_targets([p.detach() for p in init_sets], inside, gts, "refine", num_level)
        cls_rows = levels_to_images(cls_scores)
        with torch.no_grad():
            features = self.point_features(named["base_feat"], pts_refine)
            num_pos = 0
            for i, t in enumerate(refine):
                pos_inds = ((t.labels >= 0) & (t.labels < self.num_classes)).nonzero().reshape(-1)
                if pos_inds.numel() == 0:
                    continue
                gt_inds = assigned_gt_inds(t, inside[i])
                quality = self.pointset_quality(
                    features[i][pos_inds], cls_rows[i][pos_inds], init_sets[i][pos_inds],
                    refine_sets[i][pos_inds], t, pos_inds,
                )  # fmt: skip
                num_pos += self.select_pointsets(quality, t, pos_inds, gt_inds[pos_inds], num_level)

        losses: dict[str, Any] = {"loss_pts_init": [], "loss_spatial_init": []}
        for lvl, stride in enumerate(self.point_strides):
            init, norm = init_t.level(lvl), self.point_base_scale * stride
            for name, loss in (
                ("loss_pts_init", self.loss_bbox_init),
                ("loss_spatial_init", self.loss_spatial_init),
            ):
                losses[name].append(
                    self._points_loss(loss, pts_init[lvl], init.bbox_targets, init.bbox_weights, norm)
                )
        cls_all, preds = torch.cat(cls_rows), torch.cat(refine_sets)
        if num_pos:
            labels = torch.cat([t.labels for t in refine])
            label_weights = torch.cat([t.label_weights for t in refine])
            losses["loss_cls"] = self.loss_cls(cls_all, labels, label_weights, avg_factor=num_pos)
            bbox_gt = torch.cat([t.bbox_targets for t in refine])
            bbox_w = torch.cat([t.bbox_weights for t in refine])
            norms = self.level_norms(num_level, preds.device).repeat(len(gts))
            for name, loss in (
                ("loss_pts_refine", self.loss_bbox_refine),
                ("loss_spatial_refine", self.loss_spatial_refine),
            ):
                losses[name] = self._points_loss(loss, preds, bbox_gt, bbox_w, norms)
        else:  # zeros that keep the graph
            losses["loss_cls"] = cls_all.sum() * 0
            losses["loss_pts_refine"] = preds.sum() * 0
            losses["loss_spatial_refine"] = preds.sum() * 0
        return losses

    def level_norms(self, num_level: list[int], device: torch.device) -> torch.Tensor:
        """(sum num_level,) each prior's box-loss normaliser ``point_base_scale * stride`` px."""
        norms = torch.tensor([float(self.point_base_scale * s) for s in self.point_strides])
        return norms.repeat_interleave(torch.tensor(num_level)).to(device)

    def point_features(
        self, feats: Sequence[torch.Tensor], pts: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per image (sum n_l, P, C): each refined point's feature, bilinear from its level's
        input map (``grid_sample``, zeros outside; MMRotate's ``get_adaptive_points_feature``);
        ``pts`` per level (N, n_l, 2P) px."""
        rows = []
        for feat, p, stride in zip(feats, pts, self.point_strides):
            b, _, h, w = feat.shape
            grid = p.reshape(b, p.size(1), -1, 2).clone()
            grid[..., 0] = grid[..., 0] / (w * stride / 2.0) - 1
            grid[..., 1] = grid[..., 1] / (h * stride / 2.0) - 1
            sampled = F.grid_sample(feat, grid.to(feat.dtype), align_corners=False)  # (N, C, n_l, P)
            rows.append(sampled.permute(0, 2, 3, 1))
        return list(torch.cat(rows, dim=1))

    def pointset_quality(
        self,
        features: torch.Tensor,
        cls_score: torch.Tensor,
        pts_init: torch.Tensor,
        pts_refine: torch.Tensor,
        targets: ImageAnchorTargets,
        pos_inds: torch.Tensor,
    ) -> torch.Tensor:
        """(k,) APAA's quality loss of k positive point sets (smaller is better): the focal loss,
        ``init_qua_weight`` x (convex-GIoU loss + orientation) of the initial sets plus the rest
        of that of the refined ones, plus ``poc_qua_weight`` x the point-feature spread.
        ``features`` (k, P, C), ``cls_score`` (k, C) logits, point sets (k, 2P) px."""
        gt = targets.bbox_targets[pos_inds]
        labels, label_w = targets.labels[pos_inds], targets.label_weights[pos_inds]
        box_w = targets.bbox_weights[pos_inds]
        qua_cls = self.loss_cls(
            cls_score, labels, label_w, avg_factor=self.loss_cls.loss_weight, reduction_override="none"
        ).sum(-1)
        qua = qua_cls + self.poc_qua_weight * feature_cosine_similarity(features)
        gt_edges = sample_polygon_edges(gt)
        for pts, share in ((pts_init, self.init_qua_weight), (pts_refine, 1.0 - self.init_qua_weight)):
            qua_ori = self.ori_qua_weight * chamfer_distance_2d(
                gt_edges, sample_polygon_edges(points_to_polygons(pts))
            )
            qua_loc = self.loss_bbox_refine(
                pts, gt, box_w, avg_factor=self.loss_cls.loss_weight, reduction_override="none"
            )
            qua = qua + share * (qua_loc + qua_ori)
        return qua

    def select_pointsets(
        self,
        quality: torch.Tensor,
        targets: ImageAnchorTargets,
        pos_inds: torch.Tensor,
        pos_gt: torch.Tensor,
        num_level: list[int],
    ) -> int:
        """APAA's dynamic top-k: per gt, its (up to) 6 best point sets of each level, then the
        ``ceil(top_ratio * count)`` best of those (all when fewer than 2) stay positive; the
        other positives become background with box weight 0. ``pos_gt`` (k,) 1-based gt of each
        positive. Edits ``targets`` in place; returns the number of positives kept."""
        bounds = torch.as_tensor(np.cumsum(num_level), device=pos_inds.device)
        level_of = torch.bucketize(pos_inds, bounds, right=True)
        keep = []
        for g in pos_gt.unique().tolist():
            cand_inds, cand_qua = [], []
            for lvl in range(len(num_level)):
                mask = (pos_gt == g) & (level_of == lvl)
                value, order = quality[mask].topk(min(int(mask.sum()), 6), largest=False)
                cand_inds.append(pos_inds[mask][order])
                cand_qua.append(value)
            inds, qua = torch.cat(cand_inds), torch.cat(cand_qua)
            if inds.numel() >= 2:
                inds = inds[qua.sort()[1]][: math.ceil(inds.numel() * self.top_ratio)]
            keep.append(inds)
        kept = torch.cat(keep)
        dropped = pos_inds[~torch.isin(pos_inds, kept)]
        targets.labels[dropped] = self.num_classes
        targets.bbox_weights[dropped] = 0
        return int(kept.numel())

    # -- inference ------------------------------------------------------------------------------

    def _decode_level(
        self, cls_score: torch.Tensor, pts: torch.Tensor, cells: torch.Tensor, lvl: int, cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """As :class:`RotatedRepPointsHead`'s, but the minimum-area rectangle of the point sets
        in pixels (MMRotate's Oriented RepPoints; Rotated RepPoints' works in strides)."""
        scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
        scores = scores.sigmoid() if self.use_sigmoid_cls else scores.softmax(-1)[:, :-1]
        pts = pts.permute(1, 2, 0).reshape(-1, 2 * self.num_points)
        nms_pre = cfg.get("nms_pre", -1)
        if needs_topk(scores.shape[0], nms_pre):
            topk = topk_indices(scores.max(dim=1)[0], nms_pre)
            cells, pts, scores = cells[topk], pts[topk], scores[topk]
        pts = yx_to_xy(pts) * self.point_strides[lvl] + cells[:, :2].repeat(1, self.num_points)
        return poly2obb(points_to_polygons(pts), self.version), scores
