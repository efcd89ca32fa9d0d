"""RPN heads of the rotated two-stage detectors (MMRotate 0.3.x).

``RotatedRPNHead``: horizontal anchors and proposals ``(x1, y1, x2, y2, score)``, trained on
the ground truths' enclosing boxes (Rotated Faster R-CNN, RoI Transformer, Gliding Vertex).
``OrientedRPNHead``: horizontal anchors, rotated proposals ``(cx, cy, w, h, theta, score)``
by ``MidpointOffsetCoder`` (Oriented R-CNN).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rbox_geometry import obb2xyxy
from rdet_models.anchors.utils import rotated_anchor_inside_flags, unmap
from rdet_models.heads.rotated_anchor_head import RotatedAnchorHead
from rdet_models.registry import MODELS
from rdet_models.utils import multi_apply, to_config

__all__ = ["OrientedRPNHead", "RotatedRPNHead"]


@MODELS.register_module()
class RotatedRPNHead(RotatedAnchorHead):
    """Region proposal head (one foreground class) on horizontal anchors, MMDetection's ``AnchorHead`` defaults.

    Args:
        in_channels: channels of each input level.
        version: angle version, for the ground truths' enclosing boxes.
        feat_channels, anchor_generator, bbox_coder, loss_cls, loss_bbox, train_cfg, test_cfg:
            as MMDetection's ``AnchorHead`` (``train_cfg``: assigner, sampler, allowed_border,
            pos_weight; ``test_cfg`` / proposal cfg: nms_pre (per level), min_bbox_size,
            nms=dict(type='nms', iou_threshold), max_per_img).

    MMRotate quirk kept: an anchor is "inside" the image (``allowed_border``) when its
    top-left corner is (``rotated_anchor_inside_flags`` reads columns 0, 1 as the centre).
    """

    #: deltas per anchor
    reg_dim = 4

    def __init__(
        self,
        in_channels: int,
        init_cfg: dict | list[dict] | None = dict(type="Normal", layer="Conv2d", std=0.01),  # noqa: B006
        version: str = "oc",
        feat_channels: int = 256,
        anchor_generator: dict = dict(  # noqa: B006 - never mutated
            type="AnchorGenerator", scales=[8, 16, 32], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]
        ),
        bbox_coder: dict = dict(  # noqa: B006
            type="DeltaXYWHBBoxCoder", clip_border=True, target_means=(0.0,) * 4, target_stds=(1.0,) * 4
        ),
        loss_cls: dict = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0),  # noqa: B006
        reg_decoded_bbox: bool = False,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
    ) -> None:
        self.version = version
        super().__init__(
            1,
            in_channels,
            feat_channels=feat_channels,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            reg_decoded_bbox=reg_decoded_bbox,
            assign_by_circumhbbox=None,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
        )

    # -- network --------------------------------------------------------------------------------

    def _init_layers(self) -> None:
        self.rpn_conv = nn.Conv2d(self.in_channels, self.feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_anchors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_anchors * self.reg_dim, 1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.rpn_conv(x), inplace=True)
        return self.rpn_cls(x), self.rpn_reg(x)

    # -- targets and losses ----------------------------------------------------------------------

    def _regression_gt(self, gt_bboxes: torch.Tensor, gt_hbboxes: torch.Tensor) -> torch.Tensor:
        """What the positives regress to: the enclosing horizontal boxes."""
        return gt_hbboxes

    def _get_targets_single(
        self,
        flat_anchors: torch.Tensor,
        valid_flags: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None,
        gt_labels: torch.Tensor | None,
        img_meta: dict,
        label_channels: int = 1,
        unmap_outputs: bool = True,
    ) -> tuple[Any, ...]:
        inside_flags = rotated_anchor_inside_flags(
            flat_anchors, valid_flags, img_meta["img_shape"][:2], self.train_cfg.allowed_border
        )
        if not inside_flags.any():
            return (None,) * 7
        anchors = flat_anchors[inside_flags, :]
        gt_hbboxes = obb2xyxy(gt_bboxes, self.version)
        assign_result = self.assigner.assign(
            anchors, gt_hbboxes, gt_bboxes_ignore, None if self.sampling else gt_labels
        )
        sampling_result = self.sampler.sample(assign_result, anchors, gt_hbboxes)
        reg_gt = self._regression_gt(gt_bboxes, gt_hbboxes)
        n = anchors.shape[0]
        bbox_targets = anchors.new_zeros((n, self.reg_dim))
        bbox_weights = anchors.new_zeros((n, self.reg_dim))
        labels = anchors.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(n, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) > 0:
            pos_gt = reg_gt[sampling_result.pos_assigned_gt_inds.long()]
            if not self.reg_decoded_bbox:
                pos_targets = self.bbox_coder.encode(sampling_result.pos_bboxes, pos_gt)
            else:
                pos_targets = pos_gt
            bbox_targets[pos_inds, :] = pos_targets.to(bbox_targets.dtype)
            bbox_weights[pos_inds, :] = 1.0
            if gt_labels is None:  # the RPN: foreground is class 0
                labels[pos_inds] = 0
            else:
                labels[pos_inds] = gt_labels[sampling_result.pos_assigned_gt_inds]
            label_weights[pos_inds] = 1.0 if self.train_cfg.pos_weight <= 0 else self.train_cfg.pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        if unmap_outputs:
            total = flat_anchors.size(0)
            labels = unmap(labels, total, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside_flags)
            bbox_targets = unmap(bbox_targets, total, inside_flags)
            bbox_weights = unmap(bbox_weights, total, inside_flags)
        return labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds, sampling_result

    def loss_single(
        self,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        anchors: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        num_total_samples: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(
            cls_score, labels.reshape(-1), label_weights.reshape(-1), avg_factor=num_total_samples
        )
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, self.reg_dim)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 4), bbox_pred)
        loss_bbox = self.loss_bbox(
            bbox_pred,
            bbox_targets.reshape(-1, bbox_pred.size(-1)),
            bbox_weights.reshape(-1, bbox_pred.size(-1)),
            avg_factor=num_total_samples,
        )
        return loss_cls, loss_bbox

    def loss(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        gt_bboxes: list[torch.Tensor],
        img_metas: Sequence[dict],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        """``dict(loss_rpn_cls=[per level], loss_rpn_bbox=[per level])``; gt boxes (k, 5) per image."""
        prepared = self._prepare_loss(cls_scores, gt_bboxes, None, img_metas, gt_bboxes_ignore)
        if prepared is None:
            return None
        targets, num_total_samples, all_anchor_list = prepared
        losses_cls, losses_bbox = multi_apply(
            self.loss_single,
            cls_scores,
            bbox_preds,
            all_anchor_list,
            *targets[:4],
            num_total_samples=num_total_samples,
        )
        return dict(loss_rpn_cls=losses_cls, loss_rpn_bbox=losses_bbox)

    def forward_train(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor] | None = None,
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
        proposal_cfg: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        """Losses (class-agnostic: ``gt_labels`` is not used), and proposals when ``proposal_cfg`` is given."""
        outs = self(x)
        losses = self.loss(*outs, gt_bboxes, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        if losses is None:
            raise RuntimeError(
                "no anchor lies inside an image of the batch (img_shape smaller than every anchor); "
                "check the pipeline's resize and the anchor strides"
            )
        if proposal_cfg is None:
            return losses
        return losses, self.get_bboxes(*outs, img_metas=img_metas, cfg=proposal_cfg)

    # -- proposals -----------------------------------------------------------------------------

    def get_bboxes(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        img_metas: Sequence[dict],
        cfg: dict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> list[torch.Tensor]:
        """Per image, the proposals after NMS: (k, 5) ``(x1, y1, x2, y2, score)`` (oriented: (k, 6))."""
        if not with_nms:
            raise ValueError("an RPN head always applies NMS (with_nms=False is not supported)")
        num_levels = len(cls_scores)
        featmap_sizes = [cls_scores[i].shape[-2:] for i in range(num_levels)]
        mlvl_anchors = self.anchor_generator.grid_priors(featmap_sizes, device=cls_scores[0].device)
        cfg = copy.deepcopy(to_config(self.test_cfg if cfg is None else cfg))
        return [
            self._get_proposals_single(
                [cls_scores[i][img_id].detach() for i in range(num_levels)],
                [bbox_preds[i][img_id].detach() for i in range(num_levels)],
                mlvl_anchors,
                meta["img_shape"],
                cfg,
            )
            for img_id, meta in enumerate(img_metas)
        ]

    def _select_per_level(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        mlvl_anchors: list[torch.Tensor],
        cfg: Any,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``nms_pre`` best anchors of each level: (scores, deltas, anchors, level ids)."""
        mlvl_scores, mlvl_preds, mlvl_anchors_kept, level_ids = [], [], [], []
        for idx, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            if cls_score.shape[-2:] != bbox_pred.shape[-2:]:
                raise ValueError(
                    f"level {idx}: score map {cls_score.shape} and box map {bbox_pred.shape} differ"
                )
            cls_score = cls_score.permute(1, 2, 0)
            if self.use_sigmoid_cls:
                scores = cls_score.reshape(-1).sigmoid()
            else:  # foreground is class 0 since MMDetection 2.5
                scores = cls_score.reshape(-1, 2).softmax(dim=1)[:, 0]
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, self.reg_dim)
            anchors = mlvl_anchors[idx]
            if cfg.nms_pre > 0 and scores.shape[0] > cfg.nms_pre:
                ranked_scores, rank_inds = scores.sort(descending=True)
                topk_inds = rank_inds[: cfg.nms_pre]
                scores = ranked_scores[: cfg.nms_pre]
                bbox_pred, anchors = bbox_pred[topk_inds, :], anchors[topk_inds, :]
            mlvl_scores.append(scores)
            mlvl_preds.append(bbox_pred)
            mlvl_anchors_kept.append(anchors)
            level_ids.append(scores.new_full((scores.size(0),), idx, dtype=torch.long))
        return (
            torch.cat(mlvl_scores),
            torch.cat(mlvl_preds),
            torch.cat(mlvl_anchors_kept),
            torch.cat(level_ids),
        )

    def _get_proposals_single(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        mlvl_anchors: list[torch.Tensor],
        img_shape: Sequence[int],
        cfg: Any,
    ) -> torch.Tensor:
        from rbox_ops import batched_nms

        scores, deltas, anchors, ids = self._select_per_level(cls_scores, bbox_preds, mlvl_anchors, cfg)
        proposals = self.bbox_coder.decode(anchors, deltas, max_shape=img_shape)
        if cfg.min_bbox_size > 0:
            w = proposals[:, 2] - proposals[:, 0]
            h = proposals[:, 3] - proposals[:, 1]
            valid = (w >= cfg.min_bbox_size) & (h >= cfg.min_bbox_size)
            if not valid.all():
                proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
        if proposals.numel() == 0:
            return proposals.new_zeros(0, 5)
        dets, _ = batched_nms(proposals, scores, ids, dict(cfg.nms))
        return dets[: cfg.max_per_img]

    def simple_test_rpn(self, x: Sequence[torch.Tensor], img_metas: Sequence[dict]) -> list[torch.Tensor]:
        """Proposals of each image with ``test_cfg`` (MMDetection's ``RPNTestMixin.simple_test_rpn``)."""
        return self.get_bboxes(*self(x), img_metas=img_metas)

    def simple_test(
        self, feats: Sequence[torch.Tensor], img_metas: Sequence[dict], rescale: bool = False
    ) -> Any:
        return self.simple_test_rpn(feats, img_metas)


@MODELS.register_module()
class OrientedRPNHead(RotatedRPNHead):
    """Oriented R-CNN's RPN: 6 midpoint-offset deltas per horizontal anchor, rotated proposals.

    Targets are the rotated ground truths (assigned by their enclosing boxes); proposals
    are ``(cx, cy, w, h, theta, score)``, NMS'd per level on their enclosing boxes.
    """

    reg_dim = 6

    def _regression_gt(self, gt_bboxes: torch.Tensor, gt_hbboxes: torch.Tensor) -> torch.Tensor:
        return gt_bboxes

    def _get_proposals_single(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        mlvl_anchors: list[torch.Tensor],
        img_shape: Sequence[int],
        cfg: Any,
    ) -> torch.Tensor:
        from rbox_ops import batched_nms

        scores, deltas, anchors, ids = self._select_per_level(cls_scores, bbox_preds, mlvl_anchors, cfg)
        proposals = self.bbox_coder.decode(anchors, deltas, max_shape=img_shape)
        if cfg.min_bbox_size > 0:
            valid = (proposals[:, 2] >= cfg.min_bbox_size) & (proposals[:, 3] >= cfg.min_bbox_size)
            if not valid.all():
                proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
        if proposals.numel() == 0:
            return proposals.new_zeros(0, 6)
        _, keep = batched_nms(obb2xyxy(proposals, self.version), scores, ids, dict(cfg.nms))
        dets = torch.cat([proposals, scores[:, None]], dim=1)[keep]
        return dets[: cfg.max_per_img]
