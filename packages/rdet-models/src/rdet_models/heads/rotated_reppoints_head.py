"""``RotatedRepPointsHead`` (MMRotate 0.3.x): Rotated RepPoints, and CFA with ``use_reassign``.

Per feature-map cell the head predicts 9 points twice (``pts_init``, then ``pts_refine`` as a
correction sampled by a deformable convolution at the initial points) and class scores at the
initial points. A detection is the minimum-area rectangle of the refined points.

Training: the initial points of the cells picked by ``train_cfg.init.assigner``
(``ConvexAssigner``, by distance to the gt centres) learn the gt polygons; the refined points of
the point sets picked by ``train_cfg.refine.assigner`` (``MaxConvexIoUAssigner`` on the initial
point sets) learn them too, and those point sets' labels train the classifier. CFA
(``use_reassign``) re-ranks the refine stage's positives by their losses (Convex-hull Feature
Adaptation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rbox_geometry import obb2poly, poly2obb
from rbox_geometry.angles import check_version
from rbox_ops import DeformConv2d
from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.anchors.point_generator import MlvlPointGenerator
from rdet_models.assigners.assign_result import AssignResult
from rdet_models.builder import build_assigner, build_loss, build_sampler
from rdet_models.heads.dense_adapters import DenseHeadAdapters
from rdet_models.heads.pointset_utils import (
    convex_overlaps,
    levels_to_images,
    num_level_inside,
    offsets_to_points,
    points_to_polygons,
    yx_to_xy,
)
from rdet_models.heads.topk import needs_topk, topk_indices
from rdet_models.init import BaseModule
from rdet_models.layers import conv_tower
from rdet_models.postprocess import multiclass_nms_rotated
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.targets import AnchorTargets, ImageAnchorTargets, LevelTargets
from rdet_models.utils import to_config

__all__ = ["RotatedRepPointsHead"]

_REPPOINTS_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=dict(type="Normal", name="reppoints_cls_out", std=0.01, bias_prob=0.01),
)


@MODELS.register_module()
class RotatedRepPointsHead(DenseHeadAdapters, BaseModule):
    """Rotated RepPoints / CFA head. Module names are MMRotate's (``cls_convs``, ``reg_convs``,
    ``reppoints_cls_conv``, ``reppoints_cls_out``, ``reppoints_pts_init_conv``,
    ``reppoints_pts_init_out``, ``reppoints_pts_refine_conv``, ``reppoints_pts_refine_out``).

    Args:
        num_classes / in_channels / feat_channels / stacked_convs / conv_bias / conv_cfg /
            norm_cfg: the two conv towers (as the other dense heads).
        point_feat_channels: channels of the point convolutions.
        num_points: points per set; 9 (the convex ops take 9).
        gradient_mul: the share of the refine stage's gradient that reaches the initial points.
        point_strides: per level, the stride (px) of its cells.
        point_base_scale: point losses are computed in units of ``point_base_scale * stride``.
        loss_cls / loss_bbox_init / loss_bbox_refine: loss configs (the point losses take
            (n, 18) point sets and (n, 8) polygons: ``ConvexGIoULoss``).
        center_init: MMRotate's argument, no effect (as there).
        transform_method: ``'rotrect'`` (the minimum-area rectangle), the only one.
        use_reassign / topk / anti_factor: CFA's reassignment (``topk`` per level and gt,
            feature anti-aliasing coefficient).
        version: angle version of the boxes it outputs (MMRotate's configs leave the default
            ``'oc'``, also in the le135 ones).
        train_cfg: ``init`` and ``refine``, each ``assigner`` and ``pos_weight``.
        test_cfg: ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img``.

    Forward: levels (N, C, H_l, W_l) -> cls_score [(N, num_classes, H_l, W_l)] logits,
    pts_init and pts_refine [(N, 18, H_l, W_l)] y-first offsets ``(dy1, dx1, ...)`` from the
    cell, in strides. Loss names: loss_cls, loss_pts_init, loss_pts_refine.
    """

    pred_names = ("cls_score", "pts_init", "pts_refine")

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
        loss_bbox_init: dict = dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=0.5),  # noqa: B006
        loss_bbox_refine: dict = dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0),  # noqa: B006
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        center_init: bool = True,
        transform_method: str = "rotrect",
        use_reassign: bool = False,
        topk: int = 6,
        anti_factor: float = 0.75,
        version: str = "oc",
        init_cfg: dict | list[dict] | None = _REPPOINTS_INIT,
    ) -> None:
        super().__init__(init_cfg)
        if num_points != 9:
            raise ValueError(
                f"num_points must be 9 (convex_iou / convex_giou take 9 points), got {num_points}"
            )
        if transform_method != "rotrect":
            raise ValueError(f"transform_method must be 'rotrect', got {transform_method!r}")
        if not (conv_bias == "auto" or isinstance(conv_bias, bool)):
            raise ValueError(f"conv_bias must be 'auto' or a bool, got {conv_bias!r}")
        self.version = check_version(version)
        self.num_classes, self.in_channels, self.feat_channels = num_classes, in_channels, feat_channels
        self.point_feat_channels, self.stacked_convs, self.num_points = (
            point_feat_channels,
            stacked_convs,
            num_points,
        )
        self.gradient_mul, self.point_base_scale = gradient_mul, point_base_scale
        self.point_strides = list(point_strides)
        self.conv_bias, self.conv_cfg, self.norm_cfg = conv_bias, conv_cfg, norm_cfg
        self.center_init, self.transform_method = center_init, transform_method
        self.use_reassign, self.topk, self.anti_factor = use_reassign, topk, anti_factor
        self.dcn_kernel, self.dcn_pad = 3, 1
        # the regular 3x3 grid (dy, dx) the deformable convolutions' offsets are relative to
        base = np.arange(-1, 2, dtype=np.float64)
        grid = np.stack([np.repeat(base, 3), np.tile(base, 3)], axis=1).reshape(-1)
        self.dcn_base_offset = torch.tensor(grid).view(1, -1, 1, 1)
        self.prior_generator = MlvlPointGenerator(self.point_strides, offset=0.0)
        self.num_base_priors = 1
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox_init = build_loss(loss_bbox_init)
        self.loss_bbox_refine = build_loss(loss_bbox_refine)
        self.use_sigmoid_cls = loss_cls.get("use_sigmoid", False)
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        self.sampling = loss_cls["type"] not in ("FocalLoss",)
        self.train_cfg, self.test_cfg = to_config(train_cfg), to_config(test_cfg)
        if self.train_cfg:
            self.init_assigner = build_assigner(self.train_cfg.init.assigner)
            self.refine_assigner = build_assigner(self.train_cfg.refine.assigner)
            sampler = self.train_cfg.get("sampler") if self.sampling else None
            self.sampler = build_sampler(sampler or dict(type="PseudoSampler"), context=self)
        self._init_layers()

    # -- network --------------------------------------------------------------------------------

    def _tower(self) -> nn.ModuleList:
        return conv_tower(
            self.in_channels,
            self.feat_channels,
            self.stacked_convs,
            self.conv_cfg,
            self.norm_cfg,
            self.conv_bias,
        )

    def _init_layers(self) -> None:
        self.relu = nn.ReLU(inplace=True)
        self.cls_convs = self._tower()
        self.reg_convs = self._tower()
        pts_out_dim = 2 * self.num_points
        k, pad, c = self.dcn_kernel, self.dcn_pad, self.point_feat_channels
        self.reppoints_cls_conv = DeformConv2d(self.feat_channels, c, k, 1, pad)
        self.reppoints_cls_out = nn.Conv2d(c, self.cls_out_channels, 1, 1, 0)
        self.reppoints_pts_init_conv = nn.Conv2d(self.feat_channels, c, 3, 1, 1)
        self.reppoints_pts_init_out = nn.Conv2d(c, pts_out_dim, 1, 1, 0)
        self.reppoints_pts_refine_conv = DeformConv2d(self.feat_channels, c, k, 1, pad)
        self.reppoints_pts_refine_out = nn.Conv2d(c, pts_out_dim, 1, 1, 0)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One level (N, C, H, W) -> cls_score, pts_init, pts_refine (see the class doc)."""
        cls_feat, pts_feat = x, x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            pts_feat = conv(pts_feat)
        pts_init = self.reppoints_pts_init_out(self.relu(self.reppoints_pts_init_conv(pts_feat)))
        # the refine stage passes only gradient_mul of its gradient back to the initial points
        pts_init_grad_mul = (1 - self.gradient_mul) * pts_init.detach() + self.gradient_mul * pts_init
        dcn_offset = pts_init_grad_mul - self.dcn_base_offset.type_as(x)
        cls_out = self.reppoints_cls_out(self.relu(self.reppoints_cls_conv(cls_feat, dcn_offset)))
        pts_refine = self.reppoints_pts_refine_out(
            self.relu(self.reppoints_pts_refine_conv(pts_feat, dcn_offset))
        )
        return cls_out, pts_init, pts_refine + pts_init.detach()

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        """Levels -> (cls_scores, pts_init, pts_refine), each a list over levels."""
        if len(feats) != len(self.point_strides):
            raise ValueError(f"{len(feats)} feature levels for {len(self.point_strides)} point_strides")
        outs = [self.forward_single(x) for x in feats]
        return tuple(list(level) for level in zip(*outs))

    # -- points ---------------------------------------------------------------------------------

    def get_points(
        self, featmap_sizes: Sequence[Sequence[int]], metas: Sequence[ImageMeta], device: torch.device | str
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level the cells (P_l, 4) ``(x, y, stride, stride)`` px (the cell's top-left
        corner: offset 0, as MMRotate), and per image the (sum P_l,) flags of the cells inside
        its padded image."""
        centers = self.prior_generator.grid_priors(featmap_sizes, device=device, with_stride=True)
        valid = [
            torch.cat(self.prior_generator.valid_flags(featmap_sizes, m.pad_shape or m.img_shape, device))
            for m in metas
        ]
        return centers, valid

    def points_by_level(
        self, centers: Sequence[torch.Tensor], offsets: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per level (N, P_l, 18) point sets, x-first px, from the head's y-first offsets."""
        return [offsets_to_points(c[:, :2], o, s) for c, o, s in zip(centers, offsets, self.point_strides)]

    # -- targets --------------------------------------------------------------------------------

    def _assign(
        self,
        stage: str,
        proposals: torch.Tensor,
        gt_polygons: torch.Tensor,
        gt: GroundTruth,
        num_level_proposals: list[int],
    ) -> AssignResult:
        """``init``: cells (A, 4) by ``init_assigner``; ``refine``: point sets (A, 18) by
        ``refine_assigner``, with ``num_level_proposals`` (inside the image, per level) for an
        assigner that works per level (``per_level``: ``SASAssigner``)."""
        labels = None if self.sampling else gt.labels
        if stage == "init":
            return self.init_assigner.assign(proposals, gt_polygons, gt.boxes_ignore, labels)
        if getattr(self.refine_assigner, "per_level", False):  # SASAssigner
            return self.refine_assigner.assign(
                proposals, num_level_proposals, gt_polygons, gt.boxes_ignore, labels
            )
        return self.refine_assigner.assign(proposals, gt_polygons, None, gt.boxes_ignore, labels)

    def _extra_targets(
        self, stage: str, proposals: torch.Tensor, targets: ImageAnchorTargets, pos_proposals: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-proposal targets a subclass adds (SASM's weights); none here."""
        return {}

    def _image_targets(
        self, stage: str, proposals: torch.Tensor, inside: torch.Tensor, gt: GroundTruth, num_level: list[int]
    ) -> ImageAnchorTargets:
        """One image's targets of one stage over all A proposals (``proposals`` (A, 4) cells or
        (A, 18) point sets): labels, label_weights, bbox_targets (A, 8) gt polygons,
        bbox_weights (A,) 1 on the positives, ``extra['proposals']`` the positives' proposals."""
        if not bool(inside.any()):
            raise ValueError("no point of the image lies inside its pad_shape")
        stage_cfg = self.train_cfg[stage]
        props = proposals[inside]
        gt_polygons = obb2poly(gt.boxes, self.version).reshape(-1, 8)
        result = self._assign(stage, props, gt_polygons, gt, num_level_inside(num_level, inside))
        sampling = self.sampler.sample(result, props, gt_polygons)
        n = props.shape[0]
        bbox_gt = props.new_zeros((n, 8))
        pos_props = torch.zeros_like(props)
        weights = props.new_zeros((n,))
        labels = props.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = props.new_zeros((n,))
        pos, neg = sampling.pos_inds, sampling.neg_inds
        if len(pos) > 0:
            bbox_gt[pos] = sampling.pos_gt_bboxes
            pos_props[pos] = props[pos]
            weights[pos] = 1.0
            labels[pos] = gt.labels[sampling.pos_assigned_gt_inds]
            pos_weight = stage_cfg.get("pos_weight", -1)
            label_weights[pos] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg) > 0:
            label_weights[neg] = 1.0
        targets = ImageAnchorTargets(labels, label_weights, bbox_gt, weights, sampling)
        targets.extra = {"proposals": pos_props, **self._extra_targets(stage, props, targets, pos_props)}
        return targets.unmapped(proposals.shape[0], inside, self.num_classes)

    def get_targets(
        self,
        proposals: Sequence[torch.Tensor],
        inside: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        stage: str,
        num_level: list[int],
    ) -> list[ImageAnchorTargets]:
        """Per image the stage's targets (``_image_targets``); ``proposals`` / ``inside`` per
        image, all levels concatenated (``num_level`` per level)."""
        if stage not in ("init", "refine"):
            raise ValueError(f"stage must be 'init' or 'refine', got {stage!r}")
        if not (len(proposals) == len(inside) == len(gts)):
            raise ValueError(
                f"{len(proposals)} images of proposals, {len(inside)} of flags, {len(gts)} of gts"
            )
        return [self._image_targets(stage, p, f, gt, num_level) for p, f, gt in zip(proposals, inside, gts)]

    # -- losses ---------------------------------------------------------------------------------

    def _points_loss(
        self,
        loss: nn.Module,
        points: torch.Tensor,
        gt_polygons: torch.Tensor,
        weights: torch.Tensor,
        normalize: torch.Tensor | float,
    ) -> torch.Tensor:
        """``loss`` over the rows with a positive weight: points (.., 18) and polygons (.., 8)
        divided by ``normalize`` (px; a number or one per row)."""
        weights = weights.reshape(-1)
        pos = torch.nonzero(weights > 0, as_tuple=False).reshape(-1)
        if isinstance(normalize, torch.Tensor):
            normalize = normalize.reshape(-1)[pos, None]
        pts = points.reshape(-1, 2 * self.num_points)[pos]
        return loss(pts / normalize, gt_polygons.reshape(-1, 8)[pos] / normalize, weights[pos])

    def _point_weights(self, t: LevelTargets) -> torch.Tensor:
        """The point losses' weights of a level's targets (1 on the positives)."""
        return t.bbox_weights

    def _label_weights(self, t: LevelTargets) -> torch.Tensor:
        """The classification loss's weights of a level's targets."""
        return t.label_weights

    def _cls_loss(self, cls_score: torch.Tensor, t: LevelTargets) -> torch.Tensor:
        scores = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        label_weights = self._label_weights(t).reshape(-1)
        return self.loss_cls(scores, t.labels.reshape(-1), label_weights, avg_factor=t.avg_factor)

    def losses(
        self, x: Sequence[torch.Tensor], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """Forward the features and return the losses (``loss_by_feat``)."""
        return self.loss_by_feat(self(x), gts, metas)

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """The losses: ``loss_pts_init`` per level; ``loss_cls`` and ``loss_pts_refine`` per
        level, or (CFA) one tensor each over the batch."""
        if not self.train_cfg:
            raise ValueError(f"{type(self).__name__} has no train_cfg: it cannot compute losses")
        named = dict(zip(self.pred_names, outs))
        if len(outs) != len(self.pred_names):
            raise ValueError(f"{type(self).__name__} has outputs {self.pred_names}, got {len(outs)}")
        if len(gts) != len(metas) or len(gts) != named["cls_score"][0].shape[0]:
            raise ValueError(
                f"{named['cls_score'][0].shape[0]} images but {len(gts)} gts and {len(metas)} metas"
            )
        cls_scores = named["cls_score"]
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
        # the refine stage starts from the initial point sets (x-first; MMRotate passed the
        # raw y-first offsets here, which mirrors each set about its cell's diagonal)
        proposals = [p.detach() for p in levels_to_images(pts_init, channels_last=True)]
        refine_images = self.get_targets(proposals, inside, gts, "refine", num_level)
        if self.use_reassign:
            return self._cfa_losses(cls_scores, pts_init, pts_refine, init_t, refine_images, gts, num_level)
        refine_t = AnchorTargets.from_images(refine_images, proposals, num_level, self.sampling)
        return self._stage_losses(cls_scores, pts_init, pts_refine, init_t, refine_t)

    def _stage_losses(
        self,
        cls_scores: list[torch.Tensor],
        pts_init: list[torch.Tensor],
        pts_refine: list[torch.Tensor],
        init_t: AnchorTargets,
        refine_t: AnchorTargets,
    ) -> dict[str, Any]:
        """Per level: the focal loss over the refine stage's labels, the two point losses."""
        losses: dict[str, list[torch.Tensor]] = {"loss_cls": [], "loss_pts_init": [], "loss_pts_refine": []}
        for lvl, stride in enumerate(self.point_strides):
            init, refine = init_t.level(lvl), refine_t.level(lvl)
            norm = self.point_base_scale * stride
            losses["loss_cls"].append(self._cls_loss(cls_scores[lvl], refine))
            losses["loss_pts_init"].append(
                self._points_loss(
                    self.loss_bbox_init, pts_init[lvl], init.bbox_targets, self._point_weights(init), norm
                )
            )
            losses["loss_pts_refine"].append(
                self._points_loss(
                    self.loss_bbox_refine,
                    pts_refine[lvl],
                    refine.bbox_targets,
                    self._point_weights(refine),
                    norm,
                )
            )
        return losses

    # -- CFA ------------------------------------------------------------------------------------

    def _cfa_losses(
        self,
        cls_scores: list[torch.Tensor],
        pts_init: list[torch.Tensor],
        pts_refine: list[torch.Tensor],
        init_t: AnchorTargets,
        refine_images: list[ImageAnchorTargets],
        gts: Sequence[GroundTruth],
        num_level: list[int],
    ) -> dict[str, Any]:
        """CFA: the refine stage's positives re-chosen and re-weighted per gt (``reassign``);
        ``loss_cls`` and ``loss_pts_refine`` over the batch, ``loss_pts_init`` per level."""
        cls_flat = [c.reshape(-1, self.cls_out_channels) for c in levels_to_images(cls_scores)]
        init_flat = levels_to_images(pts_init, channels_last=True)
        refine_flat = levels_to_images(pts_refine, channels_last=True)
        strides = torch.cat(
            [cls_flat[0].new_full((n,), float(s)) for n, s in zip(num_level, self.point_strides)]
        )
        labels, label_weights, convex_weights, num_pos = [], [], [], 0
        with torch.no_grad():
            for i, t in enumerate(refine_images):
                pos_inds = torch.nonzero(
                    (t.labels >= 0) & (t.labels < self.num_classes), as_tuple=False
                ).reshape(-1)
                pos_gt_inds = t.sampling_result.pos_assigned_gt_inds
                pos_losses = self.cfa_pos_losses(cls_flat[i], init_flat[i], t, pos_inds)
                lab, lw, cw, n = self.reassign(
                    pos_losses, t, init_flat[i], gts[i].boxes, pos_inds, pos_gt_inds, num_level
                )
                labels.append(lab)
                label_weights.append(lw)
                convex_weights.append(cw)
                num_pos += n
        labels_all, weights_all = torch.cat(labels), torch.cat(label_weights)
        convex_all = torch.cat(convex_weights)
        cls_all, refine_all = torch.cat(cls_flat), torch.cat(refine_flat)
        gt_all = torch.cat([t.bbox_targets for t in refine_images])
        norm_all = self.point_base_scale * strides.repeat(len(refine_images))
        pos = (labels_all >= 0) & (labels_all < self.num_classes)
        # the background trains the classifier also when no positive is left (MMRotate: a zero)
        loss_cls = self.loss_cls(cls_all, labels_all, weights_all, avg_factor=max(num_pos, 1))
        loss_refine = self._points_loss(self.loss_bbox_refine, refine_all, gt_all, convex_all * pos, norm_all)
        loss_init = [
            self._points_loss(
                self.loss_bbox_init,
                pts_init[lvl],
                init_t.level(lvl).bbox_targets,
                init_t.level(lvl).bbox_weights,
                self.point_base_scale * stride,
            )
            for lvl, stride in enumerate(self.point_strides)
        ]
        return {"loss_cls": loss_cls, "loss_pts_init": loss_init, "loss_pts_refine": loss_refine}

    def cfa_pos_losses(
        self, cls_score: torch.Tensor, pts_init: torch.Tensor, t: ImageAnchorTargets, pos_inds: torch.Tensor
    ) -> torch.Tensor:
        """One image's refine-stage positives (``pos_inds`` into its A points): focal loss summed
        over the classes plus ``loss_bbox_refine`` of the initial point sets (px) against the gt
        polygons, each unreduced -> (len(pos_inds),)."""
        if pos_inds.numel() == 0:
            return cls_score.new_zeros((0,))
        loss_cls = self.loss_cls(
            cls_score[pos_inds], t.labels[pos_inds], t.label_weights[pos_inds], reduction_override="none"
        ).sum(-1)
        loss_bbox = self.loss_bbox_refine(
            pts_init[pos_inds], t.bbox_targets[pos_inds], t.bbox_weights[pos_inds], reduction_override="none"
        )
        return loss_bbox.reshape(-1) + loss_cls

    def reassign(
        self,
        pos_losses: torch.Tensor,
        t: ImageAnchorTargets,
        pts_init: torch.Tensor,
        gt_boxes: torch.Tensor,
        pos_inds: torch.Tensor,
        pos_gt_inds: torch.Tensor,
        num_level: list[int],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """CFA's reassignment of one image's refine-stage positives.

        Per gt: per level its ``topk`` positives of least loss; sorted by loss, they are split
        where ``loss * P(loss)`` peaks (``P`` the reversed cumulative Gaussian density of the
        losses): those before the peak stay positive, weighted by their normalised ``P`` times
        ``anti_factor`` times their share of the convex IoU with this gt among all gts
        (renormalised to a mean of 1); the others become background.

        Args:
            pos_losses: (p,) the positives' losses (``cfa_pos_losses``).
            t: the image's refine targets (A rows).
            pts_init: (A, 18) initial point sets, px.
            gt_boxes: (k, 5) the gts.
            pos_inds / pos_gt_inds: (p,) the positives and their gts (0-based).
            num_level: points per level.

        Returns:
            labels, label_weights, convex weights (A,) each, and the count of positives.
            MMRotate writes the new weights in ``pos_inds``' order though it computed them in
            the kept positives' order (per gt, by loss); here each weight goes to its point.
        """
        labels, label_weights, convex_weights = (
            t.labels.clone(),
            t.label_weights.clone(),
            t.bbox_weights.clone(),
        )
        if pos_inds.numel() == 0:
            return labels, label_weights, convex_weights, 0
        bounds = np.cumsum([0, *num_level])
        level_of = torch.bucketize(pos_inds, pos_inds.new_tensor(bounds[1:]), right=True)
        overlaps = convex_overlaps(
            obb2poly(gt_boxes, self.version).reshape(-1, 8), pts_init[pos_inds]
        )  # (k, p)
        kept, kept_weights = [], []
        for gt_ind in range(int(pos_gt_inds.max()) + 1):
            chosen = []
            for lvl in range(len(num_level)):
                mask = torch.nonzero((level_of == lvl) & (pos_gt_inds == gt_ind), as_tuple=False).reshape(-1)
                _, best = pos_losses[mask].topk(min(mask.numel(), self.topk), largest=False)
                chosen.append(mask[best])
            members = torch.cat(chosen)  # positions in pos_inds
            if members.numel() < 2:
                kept.append(members)
                kept_weights.append(pos_losses.new_ones(members.numel()))
                continue
            losses, order = pos_losses[members].sort()
            members = members[order]
            var = losses.var().clamp(min=1e-12)
            density = torch.exp(-((losses - losses.mean()) ** 2) / var) / var.sqrt()
            prob = density.flip(0).cumsum(0).flip(0)
            prob = (prob - prob.min()) / (prob.max() - prob.min()).clamp(min=1e-12)
            split = int((prob * losses).argmax())
            reweights = prob[: split + 1]
            member_overlaps = overlaps[:, members[: split + 1]]
            share = member_overlaps[gt_ind] / (member_overlaps.sum(0) + 1e-6)
            reweights = self.anti_factor * share * reweights + 1e-6
            kept.append(members[: split + 1])
            kept_weights.append(reweights / reweights.sum() * reweights.numel())
        kept_pos = torch.cat(kept)
        dropped = torch.ones_like(pos_inds, dtype=torch.bool)
        dropped[kept_pos] = False
        labels[pos_inds[dropped]] = self.num_classes
        convex_weights[pos_inds[dropped]] = 0
        label_weights[pos_inds[kept_pos]] = torch.cat(kept_weights)
        convex_weights[pos_inds[kept_pos]] = torch.cat(kept_weights)
        return labels, label_weights, convex_weights, int(kept_pos.numel())

    # -- inference ------------------------------------------------------------------------------

    def _batch_get_bboxes(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None,
        rescale: bool,
        with_nms: bool,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image: the refined point sets' minimum-area rectangles (``version``), NMS."""
        levels = self._named(outs)
        cfg = self.test_cfg if cfg is None else to_config(cfg)
        featmap_sizes = [lvl["cls_score"].shape[-2:] for lvl in levels]
        centers = self.prior_generator.grid_priors(featmap_sizes, device=levels[0]["cls_score"].device)
        results = []
        for img_id, meta in enumerate(metas):
            mlvl_bboxes, mlvl_scores = [], []
            for lvl, (level, cells) in enumerate(zip(levels, centers)):
                bboxes, scores = self._decode_level(
                    level["cls_score"][img_id].detach(), level["pts_refine"][img_id].detach(), cells, lvl, cfg
                )
                mlvl_bboxes.append(bboxes)
                mlvl_scores.append(scores)
            bboxes, scores = torch.cat(mlvl_bboxes), torch.cat(mlvl_scores)
            if rescale:  # to the original image (an anisotropic resize through the corners)
                bboxes = rescale_rboxes(bboxes, meta.scale_factor, self.version)
            if self.use_sigmoid_cls:
                scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
            if with_nms:
                results.append(
                    multiclass_nms_rotated(bboxes, scores, cfg.score_thr, cfg.nms, cfg.max_per_img)
                )
            else:
                results.append((bboxes, scores))
        return results

    def _decode_level(
        self, cls_score: torch.Tensor, pts: torch.Tensor, cells: torch.Tensor, lvl: int, cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's level: cls_score (C, H, W), pts (18, H, W) y-first offsets, cells (H*W, 2)
        -> the ``nms_pre`` best cells' boxes (k, 5) px and scores (k, C)."""
        scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
        scores = scores.sigmoid() if self.use_sigmoid_cls else scores.softmax(-1)[:, :-1]
        pts = pts.permute(1, 2, 0).reshape(-1, 2 * self.num_points)
        nms_pre = cfg.get("nms_pre", -1)
        if needs_topk(scores.shape[0], nms_pre):
            topk = topk_indices(scores.max(dim=1)[0], nms_pre)
            cells, pts, scores = cells[topk], pts[topk], scores[topk]
        # as MMRotate: the rectangle of the offsets (strides), then scaled and moved to the cell
        polygons = points_to_polygons(yx_to_xy(pts)) * self.point_strides[lvl] + cells[:, :2].repeat(1, 4)
        return poly2obb(polygons, self.version), scores
