"""``CSLRRetinaHead``: RotatedRetinaHead with a Circular-Smooth-Label angle classifier (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rdet_models.anchors.utils import rotated_anchor_inside_flags, unmap
from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.registry import MODELS
from rdet_models.utils import multi_apply, to_config

__all__ = ["CSLRRetinaHead"]

_CSL_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=[
        dict(type="Normal", name="retina_cls", std=0.01, bias_prob=0.01),
        dict(type="Normal", name="retina_angle_cls", std=0.01, bias_prob=0.01),
    ],
)


@MODELS.register_module()
class CSLRRetinaHead(RotatedRetinaHead):
    """Adds ``retina_angle_cls`` (A * coding_len, on the regression tower).

    Args:
        use_encoded_angle: the angle target is the encoded delta angle (True) or the gt angle.
        shield_reg_angle: zero the angle term of the box-regression loss.
        angle_coder: a ``CSLCoder`` config. loss_angle: loss of the angle classifier.

    Forward: (cls_scores, bbox_preds, angle_clses), the last (N, A*coding_len, H, W) per level.
    Loss names: loss_cls, loss_bbox, loss_angle.
    """

    def __init__(
        self,
        use_encoded_angle: bool = True,
        shield_reg_angle: bool = False,
        angle_coder: dict = dict(type="CSLCoder", angle_version="le90", omega=1, window="gaussian", radius=6),  # noqa: B006
        loss_angle: dict = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),  # noqa: B006
        init_cfg: dict | list[dict] | None = _CSL_INIT,
        **kwargs: Any,
    ) -> None:
        self.angle_coder = build_bbox_coder(angle_coder)
        self.coding_len = self.angle_coder.coding_len
        super().__init__(**kwargs, init_cfg=init_cfg)
        self.shield_reg_angle = shield_reg_angle
        self.loss_angle = build_loss(loss_angle)
        self.use_encoded_angle = use_encoded_angle

    def _init_layers(self) -> None:
        super()._init_layers()
        self.retina_angle_cls = nn.Conv2d(
            self.feat_channels, self.num_anchors * self.coding_len, 3, padding=1
        )

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cls_feat, reg_feat = self._towers(x)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat), self.retina_angle_cls(reg_feat)

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
            return (None,) * 9
        anchors = flat_anchors[inside_flags, :]
        sampling_result = self._assign_and_sample(anchors, gt_bboxes, gt_bboxes_ignore, gt_labels)
        n = anchors.shape[0]
        bbox_targets = torch.zeros_like(anchors)
        bbox_weights = torch.zeros_like(anchors)
        angle_targets = torch.zeros_like(bbox_targets[:, 4:5])
        angle_weights = torch.zeros_like(bbox_targets[:, 4:5])
        labels = anchors.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(n, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) > 0:
            if not self.reg_decoded_bbox:
                pos_targets = self.bbox_coder.encode(
                    sampling_result.pos_bboxes, sampling_result.pos_gt_bboxes
                )
            else:
                pos_targets = sampling_result.pos_gt_bboxes
            bbox_targets[pos_inds, :] = pos_targets.to(bbox_targets.dtype)
            bbox_weights[pos_inds, :] = 1.0
            if self.use_encoded_angle:
                angle_targets[pos_inds, :] = pos_targets[:, 4:5].to(angle_targets.dtype)
            else:
                angle_targets[pos_inds, :] = sampling_result.pos_gt_bboxes[:, 4:5].to(angle_targets.dtype)
            angle_weights[pos_inds, :] = 1.0
            if gt_labels is None:
                labels[pos_inds] = 0
            else:
                labels[pos_inds] = gt_labels[sampling_result.pos_assigned_gt_inds]
            label_weights[pos_inds] = 1.0 if self.train_cfg.pos_weight <= 0 else self.train_cfg.pos_weight
        # MMRotate encodes only when there are positives, which leaves (n, 1) targets and
        # breaks batching for an image without positives; encoding always is equivalent
        # (the weights of non-positives are 0).
        angle_targets = self.angle_coder.encode(angle_targets)
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        if unmap_outputs:
            total = flat_anchors.size(0)
            labels = unmap(labels, total, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside_flags)
            bbox_targets = unmap(bbox_targets, total, inside_flags)
            bbox_weights = unmap(bbox_weights, total, inside_flags)
            angle_targets = unmap(angle_targets, total, inside_flags)
            angle_weights = unmap(angle_weights, total, inside_flags)
        return (
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            pos_inds,
            neg_inds,
            sampling_result,
            angle_targets,
            angle_weights,
        )

    def loss_single(  # type: ignore[override]
        self,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        angle_cls: torch.Tensor,
        anchors: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        angle_targets: torch.Tensor,
        angle_weights: torch.Tensor,
        num_total_samples: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=num_total_samples)
        bbox_targets = bbox_targets.reshape(-1, 5)
        bbox_weights = bbox_weights.reshape(-1, 5)
        if self.shield_reg_angle:
            bbox_weights = bbox_weights.clone()
            bbox_weights[:, -1] = 0.0
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 5)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 5), bbox_pred)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=num_total_samples)
        angle_cls = angle_cls.permute(0, 2, 3, 1).reshape(-1, self.coding_len)
        angle_targets = angle_targets.reshape(-1, self.coding_len)
        angle_weights = angle_weights.reshape(-1, 1)
        loss_angle = self.loss_angle(
            angle_cls, angle_targets, weight=angle_weights, avg_factor=num_total_samples
        )
        return loss_cls, loss_bbox, loss_angle

    def loss(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        angle_clses: list[torch.Tensor],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor] | None,
        img_metas: Sequence[dict],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        prepared = self._prepare_loss(cls_scores, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore)
        if prepared is None:
            return None
        t, num_total_samples, all_anchor_list = prepared
        losses_cls, losses_bbox, losses_angle = multi_apply(
            self.loss_single,
            cls_scores,
            bbox_preds,
            angle_clses,
            all_anchor_list,
            t[0],
            t[1],
            t[2],
            t[3],
            t[6],
            t[7],
            num_total_samples=num_total_samples,
        )
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox, loss_angle=losses_angle)

    def get_bboxes(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        angle_clses: list[torch.Tensor],
        img_metas: Sequence[dict],
        cfg: dict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self._batch_get_bboxes(
            [cls_scores, bbox_preds, angle_clses], img_metas, cfg, rescale, with_nms
        )

    def _get_bboxes_single(  # type: ignore[override]
        self,
        cls_score_list: list[torch.Tensor],
        bbox_pred_list: list[torch.Tensor],
        angle_cls_list: list[torch.Tensor],
        mlvl_anchors: list[torch.Tensor],
        img_shape: Sequence[int],
        scale_factor: Any,
        cfg: Any,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.test_cfg if cfg is None else to_config(cfg)
        mlvl_bboxes, mlvl_scores = [], []
        for cls_score, bbox_pred, angle_cls, anchors in zip(
            cls_score_list, bbox_pred_list, angle_cls_list, mlvl_anchors
        ):
            scores = self._scores_of(cls_score)
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 5)
            angle_cls = angle_cls.permute(1, 2, 0).reshape(-1, self.coding_len).sigmoid()
            topk = self._topk_inds(scores, cfg.get("nms_pre", -1))
            if topk is not None:
                anchors, bbox_pred, scores, angle_cls = (
                    anchors[topk, :],
                    bbox_pred[topk, :],
                    scores[topk, :],
                    angle_cls[topk, :],
                )
            angle_pred = self.angle_coder.decode(angle_cls)
            if self.use_encoded_angle:
                bbox_pred = bbox_pred.clone()
                bbox_pred[..., -1] = angle_pred
                bboxes = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
            else:
                bboxes = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
                bboxes[..., -1] = angle_pred
            mlvl_bboxes.append(bboxes)
            mlvl_scores.append(scores)
        return self._finish_bboxes(mlvl_bboxes, mlvl_scores, scale_factor, cfg, rescale, with_nms)
