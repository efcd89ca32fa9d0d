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

from rbox_geometry import hbb2obb, obb2xyxy
from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.heads.rotated_anchor_head import RotatedAnchorHead
from rdet_models.heads.topk import needs_topk
from rdet_models.mmdet_compat import as_metas, gts_from_lists
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.utils import to_config

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
    class_agnostic = True

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

    def _gts_to_assign(self, gt_bboxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchors are assigned to, and the sampler keeps, the enclosing horizontal boxes."""
        gt_hbboxes = obb2xyxy(gt_bboxes, self.version)
        return gt_hbboxes, gt_hbboxes

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, list[torch.Tensor]] | None:
        """``dict(loss_rpn_cls=[per level], loss_rpn_bbox=[per level])`` (class-agnostic: the
        ground truths' labels are not used); None when an image has no anchor inside it."""
        losses = super().loss_by_feat(outs, gts, metas)
        if losses is None:
            return None
        return dict(loss_rpn_cls=losses["loss_cls"], loss_rpn_bbox=losses["loss_bbox"])

    def losses_and_proposals(
        self,
        x: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
        proposal_cfg: dict | None,
    ) -> tuple[dict[str, list[torch.Tensor]], list[torch.Tensor]]:
        """The RPN's losses and, per image, its proposals with ``proposal_cfg`` (training)."""
        outs = self(x)
        losses = self.loss_by_feat(outs, gts, metas)
        if losses is None:
            raise RuntimeError(
                "no anchor lies inside an image of the batch (img_shape smaller than every anchor); "
                "check the pipeline's resize and the anchor strides"
            )
        return losses, self.proposals_by_feat(outs, metas, proposal_cfg)

    # MMDetection's RPNHead.loss has no gt_labels: a narrower signature than the dense head's
    def loss(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        gt_bboxes: list[torch.Tensor],
        img_metas: Sequence[dict],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        """MMDetection's signature over ``loss_by_feat``."""
        gts = gts_from_lists(gt_bboxes, None, gt_bboxes_ignore)
        return self.loss_by_feat([cls_scores, bbox_preds], gts, as_metas(img_metas))

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
        """MMDetection's signature: losses (class-agnostic: ``gt_labels`` is not used), and
        proposals when ``proposal_cfg`` is given."""
        gts = gts_from_lists(gt_bboxes, None, gt_bboxes_ignore)
        losses, proposals = self.losses_and_proposals(x, gts, as_metas(img_metas), proposal_cfg)
        return losses if proposal_cfg is None else (losses, proposals)

    # -- proposals -----------------------------------------------------------------------------

    def proposals_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], metas: Sequence[ImageMeta], cfg: dict | None = None
    ) -> list[torch.Tensor]:
        """Per image, the proposals after NMS (``test_cfg``, or ``cfg``): (k, 5)
        ``(x1, y1, x2, y2, score)`` (oriented: (k, 6) ``(cx, cy, w, h, theta, score)``), best first."""
        cls_scores, bbox_preds = outs
        num_levels = len(cls_scores)
        featmap_sizes = [cls_scores[i].shape[-2:] for i in range(num_levels)]
        mlvl_anchors = self.anchor_generator.grid_priors(featmap_sizes, device=cls_scores[0].device)
        cfg = copy.deepcopy(to_config(self.test_cfg if cfg is None else cfg))
        return [
            self._get_proposals_single(
                [cls_scores[i][img_id].detach() for i in range(num_levels)],
                [bbox_preds[i][img_id].detach() for i in range(num_levels)],
                mlvl_anchors,
                meta.img_shape,
                cfg,
            )
            for img_id, meta in enumerate(as_metas(metas))
        ]

    def proposals(self, x: Sequence[torch.Tensor], metas: Sequence[ImageMeta]) -> list[torch.Tensor]:
        """Forward the features; per image the proposals with ``test_cfg`` (see ``proposals_by_feat``)."""
        return self.proposals_by_feat(self(x), metas)

    def predict_by_feat(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None = None,
        rescale: bool = False,
    ) -> list[Detections]:
        """The proposals as detections of class 0 (rotated boxes; horizontal proposals as boxes of
        angle version ``version``), for evaluating an RPN on its own."""
        out = []
        for meta, props in zip(as_metas(metas), self.proposals_by_feat(outs, metas, cfg)):
            boxes, scores = self._proposal_boxes(props), props[:, -1]
            if rescale:
                boxes = rescale_rboxes(boxes, meta.scale_factor, self.version)
            out.append(Detections(boxes, scores, scores.new_zeros(scores.shape, dtype=torch.long)))
        return out

    def _proposal_boxes(self, proposals: torch.Tensor) -> torch.Tensor:
        """(k, 5) rotated boxes of the proposals (without their scores)."""
        return hbb2obb(proposals[:, :4], self.version)

    # MMDetection's RPNHead.get_bboxes returns proposals, not (dets, labels) pairs
    def get_bboxes(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        img_metas: Sequence[dict],
        cfg: dict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> list[torch.Tensor]:
        """MMDetection's signature over ``proposals_by_feat`` (``rescale`` is ignored, as MMDetection's RPN)."""
        if not with_nms:
            raise ValueError("an RPN head always applies NMS (with_nms=False is not supported)")
        return self.proposals_by_feat([cls_scores, bbox_preds], as_metas(img_metas), cfg)

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
            if needs_topk(scores.shape[0], cfg.nms_pre):  # traced: sort + slice, any level size
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
        scores, deltas, anchors, ids = self._select_per_level(cls_scores, bbox_preds, mlvl_anchors, cfg)
        proposals = self.bbox_coder.decode(anchors, deltas, max_shape=img_shape)
        if cfg.min_bbox_size > 0:
            w, h = self._proposal_wh(proposals)
            valid = (w >= cfg.min_bbox_size) & (h >= cfg.min_bbox_size)
            if not valid.all():
                proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
        if proposals.numel() == 0:
            return proposals.new_zeros(0, proposals.size(1) + 1)
        return self._nms(proposals, scores, ids, cfg)[: cfg.max_per_img]

    @staticmethod
    def _proposal_wh(proposals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]

    def _nms(
        self, proposals: torch.Tensor, scores: torch.Tensor, ids: torch.Tensor, cfg: Any
    ) -> torch.Tensor:
        """Per-level NMS: the kept proposals with their scores, best first."""
        from rbox_ops import batched_nms

        dets, _ = batched_nms(proposals, scores, ids, dict(cfg.nms))
        return dets

    def simple_test_rpn(self, x: Sequence[torch.Tensor], img_metas: Sequence[dict]) -> list[torch.Tensor]:
        """MMDetection's ``RPNTestMixin.simple_test_rpn``: each image's proposals with ``test_cfg``."""
        return self.proposals(x, as_metas(img_metas))

    def simple_test(  # type: ignore[override]  # MMDetection's RPN returns proposals
        self, feats: Sequence[torch.Tensor], img_metas: Sequence[dict], rescale: bool = False
    ) -> list[torch.Tensor]:
        return self.simple_test_rpn(feats, img_metas)


@MODELS.register_module()
class OrientedRPNHead(RotatedRPNHead):
    """Oriented R-CNN's RPN: 6 midpoint-offset deltas per horizontal anchor, rotated proposals.

    Targets are the rotated ground truths (assigned by their enclosing boxes); proposals
    are ``(cx, cy, w, h, theta, score)``, NMS'd per level on their enclosing boxes.
    """

    reg_dim = 6

    def _pos_regression_gt(self, sampling_result: Any, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """The positives regress to the rotated ground truths."""
        return gt_bboxes[sampling_result.pos_assigned_gt_inds.long()]

    @staticmethod
    def _proposal_wh(proposals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return proposals[:, 2], proposals[:, 3]

    def _proposal_boxes(self, proposals: torch.Tensor) -> torch.Tensor:
        return proposals[:, :5]

    def _nms(
        self, proposals: torch.Tensor, scores: torch.Tensor, ids: torch.Tensor, cfg: Any
    ) -> torch.Tensor:
        """NMS on the enclosing boxes; the kept rotated proposals with their scores."""
        from rbox_ops import batched_nms

        _, keep = batched_nms(obb2xyxy(proposals, self.version), scores, ids, dict(cfg.nms))
        return torch.cat([proposals, scores[:, None]], dim=1)[keep]
