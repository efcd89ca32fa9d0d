"""``RotatedFCOSHead``: FCOS on rotated boxes (MMRotate 0.3.x), on the typed internals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.heads.rotated_anchor_free_head import _AF_INIT, RotatedAnchorFreeHead
from rdet_models.heads.topk import needs_topk, topk_indices
from rdet_models.layers.scale import Scale
from rdet_models.registry import MODELS
from rdet_models.targets import ImagePointTargets, PointTargets

__all__ = ["INF", "RotatedFCOSHead"]

INF = 1e8


@MODELS.register_module()
class RotatedFCOSHead(RotatedAnchorFreeHead):
    """Per point: class scores, 4 side distances, an angle and a centerness logit.

    Module names are MMRotate's (``cls_convs``, ``reg_convs``, ``conv_cls``, ``conv_reg``,
    ``conv_angle``, ``conv_centerness``, ``scales.<level>.scale``, ``scale_angle.scale``).

    Args:
        regress_ranges: per level, the (min, max) px of a point's largest side distance that
            this level learns.
        center_sampling: positives only within ``center_sample_radius * stride`` px of the gt
            centre (in the gt's frame), besides inside the gt.
        center_sample_radius: see ``center_sampling``, in strides.
        norm_on_bbox: distances in strides (ReLU'd) instead of ``exp``'d pixels; the targets are
            divided by the level's stride.
        centerness_on_reg: centerness from the regression tower (else the classification one).
        separate_angle: the box loss on horizontal boxes (``h_bbox_coder``), the angle with its
            own ``loss_angle``; else the box loss on the decoded rotated boxes.
        scale_angle: a learnable ``Scale`` on the angle output.
        h_bbox_coder: coder of the horizontal boxes (``separate_angle``).
        loss_angle / loss_centerness: loss configs.
        norm_cfg: the towers' norm (GroupNorm of 32 groups by default).
        **kwargs: ``RotatedAnchorFreeHead``'s (``strides``, ``bbox_coder``, ``loss_cls``, ...).

    Forward: levels (N, C, H_l, W_l) -> cls_scores [(N, num_classes, H_l, W_l)], bbox_preds
    [(N, 4, H_l, W_l)] (in strides while training with ``norm_on_bbox``, else px), angle_preds
    [(N, 1, H_l, W_l)] radians, centernesses [(N, 1, H_l, W_l)] logits.
    Loss names: loss_cls, loss_bbox, [loss_angle,] loss_centerness.
    """

    pred_names = ("cls_score", "bbox_pred", "angle_pred", "centerness")

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        regress_ranges: Sequence[tuple[float, float]] = (
            (-1, 64),
            (64, 128),
            (128, 256),
            (256, 512),
            (512, INF),
        ),
        center_sampling: bool = False,
        center_sample_radius: float = 1.5,
        norm_on_bbox: bool = False,
        centerness_on_reg: bool = False,
        separate_angle: bool = False,
        scale_angle: bool = True,
        h_bbox_coder: dict = dict(type="DistancePointBBoxCoder"),  # noqa: B006
        loss_cls: dict = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="IoULoss", loss_weight=1.0),  # noqa: B006
        loss_angle: dict = dict(type="L1Loss", loss_weight=1.0),  # noqa: B006
        loss_centerness: dict = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),  # noqa: B006
        norm_cfg: dict | None = dict(type="GN", num_groups=32, requires_grad=True),  # noqa: B006
        init_cfg: dict | list[dict] | None = _AF_INIT,
        **kwargs: Any,
    ) -> None:
        self.regress_ranges = [tuple(r) for r in regress_ranges]
        self.center_sampling, self.center_sample_radius = center_sampling, center_sample_radius
        self.norm_on_bbox, self.centerness_on_reg = norm_on_bbox, centerness_on_reg
        self.separate_angle, self.is_scale_angle = separate_angle, scale_angle
        super().__init__(
            num_classes,
            in_channels,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg,
            **kwargs,
        )
        self.loss_centerness = build_loss(loss_centerness)
        if self.separate_angle:
            self.loss_angle = build_loss(loss_angle)
            self.h_bbox_coder = build_bbox_coder(h_bbox_coder)

    # -- network --------------------------------------------------------------------------------

    def _init_layers(self) -> None:
        super()._init_layers()
        self.conv_centerness = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        self.conv_angle = nn.Conv2d(self.feat_channels, self.angle_channels, 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.strides])
        if self.is_scale_angle:
            self.scale_angle = Scale(1.0)

    @property
    def angle_channels(self) -> int:
        """Channels of ``conv_angle``: 1 (the angle, radians)."""
        return 1

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        """Levels -> (cls_scores, bbox_preds, angle_preds, centernesses), each a list over levels."""
        outs: list[list[torch.Tensor]] = [[] for _ in self.pred_names]
        for x, scale, stride in zip(feats, self.scales, self.strides):
            for out, t in zip(outs, self.forward_single(x, scale, stride)):
                out.append(t)
        return tuple(outs)

    # MMDetection's FCOSHead.forward_single also takes the level's Scale and stride
    def forward_single(  # type: ignore[override]
        self, x: torch.Tensor, scale: nn.Module, stride: int
    ) -> tuple[torch.Tensor, ...]:
        """One level (N, C, H, W) with its ``Scale`` and stride -> cls_score, bbox_pred,
        angle_pred, centerness (see the class doc)."""
        cls_score, bbox_pred, cls_feat, reg_feat = super().forward_single(x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()  # float: no overflow under fp16
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        angle_pred = self.conv_angle(reg_feat)
        if self.is_scale_angle:
            angle_pred = self.scale_angle(angle_pred).float()
        return cls_score, bbox_pred, angle_pred, centerness

    # -- targets -------------------------------------------------------------------------------

    def get_targets(self, points: list[torch.Tensor], gts: Sequence[GroundTruth]) -> PointTargets:
        """Each point's gt: inside it (and near its centre with ``center_sampling``), its
        largest side distance within the level's ``regress_range``, the smallest such gt."""
        if len(points) != len(self.regress_ranges):
            raise ValueError(f"{len(points)} point levels for {len(self.regress_ranges)} regress_ranges")
        concat_ranges = torch.cat(
            [p.new_tensor(r)[None].expand_as(p) for p, r in zip(points, self.regress_ranges)]
        )
        concat_points = torch.cat(points)
        num_points = [p.size(0) for p in points]
        per_image = [self._get_targets_single(gt, concat_points, concat_ranges, num_points) for gt in gts]
        return PointTargets.from_images(
            per_image,
            points,
            self.num_classes,
            [float(s) for s in self.strides] if self.norm_on_bbox else None,
        )

    def _encode_angle(self, angle_targets: torch.Tensor) -> torch.Tensor:
        """(P, 1) gt angles -> the angle targets (identity; CSL encodes)."""
        return angle_targets

    def _get_targets_single(
        self,
        gt: GroundTruth,
        points: torch.Tensor,
        regress_ranges: torch.Tensor,
        num_points_per_lvl: list[int],
    ) -> ImagePointTargets:
        """One image: ``points`` (P, 2) of all levels, ``regress_ranges`` (P, 2)."""
        gt_bboxes, gt_labels = gt.boxes, gt.labels
        num_points, num_gts = points.size(0), gt_labels.size(0)
        if num_gts == 0:
            return ImagePointTargets(
                gt_labels.new_full((num_points,), self.num_classes),
                gt_bboxes.new_zeros((num_points, 4)),
                gt_bboxes.new_zeros((num_points, self.angle_channels)),
            )
        areas = (gt_bboxes[:, 2] * gt_bboxes[:, 3])[None].repeat(num_points, 1)
        regress_ranges = regress_ranges[:, None, :].expand(num_points, num_gts, 2)
        points = points[:, None, :].expand(num_points, num_gts, 2)
        gt_bboxes = gt_bboxes[None].expand(num_points, num_gts, 5)
        gt_ctr, gt_wh, gt_angle = torch.split(gt_bboxes, [2, 2, 1], dim=2)
        cos_angle, sin_angle = torch.cos(gt_angle), torch.sin(gt_angle)
        rot_matrix = torch.cat([cos_angle, sin_angle, -sin_angle, cos_angle], dim=-1).reshape(
            num_points, num_gts, 2, 2
        )
        offset = torch.matmul(rot_matrix, (points - gt_ctr)[..., None]).squeeze(-1)
        w, h = gt_wh[..., 0], gt_wh[..., 1]
        offset_x, offset_y = offset[..., 0], offset[..., 1]
        bbox_targets = torch.stack(
            (w / 2 + offset_x, h / 2 + offset_y, w / 2 - offset_x, h / 2 - offset_y), -1
        )

        inside_gt_bbox_mask = bbox_targets.min(-1)[0] > 0
        if self.center_sampling:
            stride = offset.new_zeros(offset.shape)
            begin = 0
            for lvl, n in enumerate(num_points_per_lvl):
                stride[begin : begin + n] = self.strides[lvl] * self.center_sample_radius
                begin += n
            inside_center_bbox_mask = (abs(offset) < stride).all(dim=-1)
            inside_gt_bbox_mask = torch.logical_and(inside_center_bbox_mask, inside_gt_bbox_mask)
        max_regress_distance = bbox_targets.max(-1)[0]
        inside_regress_range = (max_regress_distance >= regress_ranges[..., 0]) & (
            max_regress_distance <= regress_ranges[..., 1]
        )
        # a point inside several gts learns the smallest
        areas[inside_gt_bbox_mask == 0] = INF
        areas[inside_regress_range == 0] = INF
        min_area, min_area_inds = areas.min(dim=1)
        labels = gt_labels[min_area_inds]
        labels[min_area == INF] = self.num_classes
        rows = torch.arange(num_points, device=labels.device)
        return ImagePointTargets(
            labels, bbox_targets[rows, min_area_inds], self._encode_angle(gt_angle[rows, min_area_inds])
        )

    # -- losses --------------------------------------------------------------------------------

    def _flat_preds(self, outs: Sequence[Sequence[torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Each output (per level (N, C, H, W)) as (N * P, C) rows, levels concatenated
        (``centerness``: (N * P,))."""
        flat = {}
        for name, levels in zip(self.pred_names, outs):
            rows = [t.permute(0, 2, 3, 1).reshape(-1, t.size(1)) for t in levels]
            flat[name] = torch.cat(rows)
        flat["centerness"] = flat["centerness"].reshape(-1)
        return flat

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, torch.Tensor]:
        """MMRotate's FCOS losses over all levels at once: ``loss_cls`` (focal, over the
        positives' count), ``loss_bbox`` (decoded boxes, weighted by the centerness targets),
        ``loss_angle`` (``separate_angle``), ``loss_centerness``."""
        if len(outs) != len(self.pred_names):
            raise ValueError(f"{type(self).__name__} has outputs {self.pred_names}, got {len(outs)}")
        named = dict(zip(self.pred_names, outs))
        bbox_preds = named["bbox_pred"]
        featmap_sizes = [f.size()[-2:] for f in named["cls_score"]]
        points = self.get_points(featmap_sizes, bbox_preds[0].dtype, bbox_preds[0].device)
        targets = self.get_targets(points, gts)
        return self.loss_by_targets(self._flat_preds(outs), targets)

    def loss_by_targets(self, preds: Mapping[str, torch.Tensor], t: PointTargets) -> dict[str, torch.Tensor]:
        """The losses from flattened predictions (``_flat_preds``) and the targets."""
        labels = t.flat("labels")
        pos_inds = t.pos_inds()
        num_pos = max(float(len(pos_inds)), 1.0)
        loss_cls = self.loss_cls(preds["cls_score"], labels, avg_factor=num_pos)

        pos_bbox_preds = preds["bbox_pred"][pos_inds]
        pos_angle_preds = preds["angle_pred"][pos_inds]
        pos_centerness = preds["centerness"][pos_inds]
        pos_bbox_targets = t.flat("bbox_targets")[pos_inds]
        pos_angle_targets = t.flat("angle_targets")[pos_inds]
        pos_centerness_targets = t.flat("centerness")[pos_inds]
        centerness_denorm = max(float(pos_centerness_targets.sum().detach()), 1e-6)

        losses = dict(loss_cls=loss_cls)
        if len(pos_inds) > 0:
            pos_points = t.flat_points()[pos_inds]
            if self.separate_angle:
                coder = self.h_bbox_coder
            else:
                coder = self.bbox_coder
                pos_bbox_preds = torch.cat([pos_bbox_preds, pos_angle_preds], dim=-1)
                pos_bbox_targets = torch.cat([pos_bbox_targets, pos_angle_targets], dim=-1)
            losses["loss_bbox"] = self.loss_bbox(
                coder.decode(pos_points, pos_bbox_preds),
                coder.decode(pos_points, pos_bbox_targets),
                weight=pos_centerness_targets,
                avg_factor=centerness_denorm,
            )
            if self.separate_angle:
                losses["loss_angle"] = self.loss_angle(pos_angle_preds, pos_angle_targets, avg_factor=num_pos)
            losses["loss_centerness"] = self.loss_centerness(
                pos_centerness, pos_centerness_targets, avg_factor=num_pos
            )
        else:  # zeros that keep the graph
            losses["loss_bbox"] = pos_bbox_preds.sum()
            if self.separate_angle:
                losses["loss_angle"] = pos_angle_preds.sum()
            losses["loss_centerness"] = pos_centerness.sum()
        return losses

    # -- inference -----------------------------------------------------------------------------

    def _decode_angle(self, angle_pred: torch.Tensor) -> torch.Tensor:
        """(k, angle_channels) outputs -> (k, 1) angles, radians."""
        return angle_pred

    def _decode_level(
        self, preds: Mapping[str, torch.Tensor], points: torch.Tensor, img_shape: Sequence[int], cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Scores (sigmoid) times centerness pick the ``nms_pre`` best points; their boxes
        decoded from the side distances (px) and the angle; the centerness is the score factor."""
        scores = preds["cls_score"].permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
        centerness = preds["centerness"].permute(1, 2, 0).reshape(-1).sigmoid()
        bbox_pred = preds["bbox_pred"].permute(1, 2, 0).reshape(-1, 4)
        angle_pred = preds["angle_pred"].permute(1, 2, 0).reshape(-1, self.angle_channels)
        nms_pre = cfg.get("nms_pre", -1)
        if needs_topk(scores.shape[0], nms_pre):
            max_scores, _ = (scores * centerness[:, None]).max(dim=1)
            topk_inds = topk_indices(max_scores, nms_pre)
            points, bbox_pred, angle_pred = (
                points[topk_inds, :],
                bbox_pred[topk_inds, :],
                angle_pred[topk_inds, :],
            )
            scores, centerness = scores[topk_inds, :], centerness[topk_inds]
        bbox_pred = torch.cat([bbox_pred, self._decode_angle(angle_pred)], dim=1)
        return self.bbox_coder.decode(points, bbox_pred, max_shape=img_shape), scores, centerness

    def refine_bboxes(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        angle_preds: list[torch.Tensor],
        centernesses: list[torch.Tensor],
    ) -> list[list[torch.Tensor]]:
        """Per image, per level: every point's decoded box ((H*W, 5), detached)."""
        num_imgs = cls_scores[0].size(0)
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        mlvl_points = self.get_points(featmap_sizes, bbox_preds[0].dtype, bbox_preds[0].device)
        out: list[list[torch.Tensor]] = [[] for _ in range(num_imgs)]
        for lvl, points in enumerate(mlvl_points):
            bbox = bbox_preds[lvl].permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            angle = angle_preds[lvl].permute(0, 2, 3, 1).reshape(num_imgs, -1, self.angle_channels)
            for i in range(num_imgs):
                pred = torch.cat([bbox[i], self._decode_angle(angle[i])], dim=-1)
                out[i].append(self.bbox_coder.decode(points, pred).detach())
        return out
