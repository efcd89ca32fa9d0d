"""``CSLRRetinaHead``: RotatedRetinaHead with a Circular-Smooth-Label angle classifier (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

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

    def _extra_targets(
        self, anchors: torch.Tensor, sampling_result: Any, pos_targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Angle targets (encoded, (n, coding_len)) and weights (n, 1)."""
        angle_targets = anchors.new_zeros((anchors.shape[0], 1))
        angle_weights = anchors.new_zeros((anchors.shape[0], 1))
        if pos_targets is not None:
            pos_inds = sampling_result.pos_inds
            src = pos_targets if self.use_encoded_angle else sampling_result.pos_gt_bboxes
            angle_targets[pos_inds, :] = src[:, 4:5].to(angle_targets.dtype)
            angle_weights[pos_inds, :] = 1.0
        # MMRotate encodes only when there are positives, which leaves (n, 1) targets and
        # breaks batching for an image without positives; encoding always is equivalent
        # (the weights of non-positives are 0).
        return self.angle_coder.encode(angle_targets), angle_weights

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
        if self.shield_reg_angle:
            bbox_weights = bbox_weights.reshape(-1, 5).clone()
            bbox_weights[:, -1] = 0.0
        loss_cls, loss_bbox = super().loss_single(
            cls_score,
            bbox_pred,
            anchors,
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            num_total_samples,
        )
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
            scores, (anchors, bbox_pred, angle_cls) = self._level_topk(
                cls_score,
                cfg,
                anchors,
                bbox_pred.permute(1, 2, 0).reshape(-1, 5),
                angle_cls.permute(1, 2, 0).reshape(-1, self.coding_len).sigmoid(),
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
