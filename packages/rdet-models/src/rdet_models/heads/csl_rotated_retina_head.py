"""``CSLRRetinaHead``: RotatedRetinaHead with a Circular-Smooth-Label angle classifier (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.registry import MODELS
from rdet_models.samplers import SamplingResult
from rdet_models.targets import LevelTargets

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
    Extra targets: ``angle_targets`` (A, coding_len) and ``angle_weights`` (A, 1).
    Loss names: loss_cls, loss_bbox, loss_angle.
    """

    pred_names = ("cls_score", "bbox_pred", "angle_cls")

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
        self, anchors: torch.Tensor, sampling_result: SamplingResult, pos_targets: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """``angle_targets`` (encoded, (n, coding_len)) and ``angle_weights`` (n, 1)."""
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
        return dict(angle_targets=self.angle_coder.encode(angle_targets), angle_weights=angle_weights)

    def loss_level(self, preds: Mapping[str, torch.Tensor], t: LevelTargets) -> dict[str, torch.Tensor]:
        """``loss_cls``, ``loss_bbox`` (without the angle term with ``shield_reg_angle``) and ``loss_angle``."""
        if self.shield_reg_angle:
            bbox_weights = t.bbox_weights.reshape(-1, 5).clone()
            bbox_weights[:, -1] = 0.0
            t = LevelTargets(
                t.anchors, t.labels, t.label_weights, t.bbox_targets, bbox_weights, t.extra, t.avg_factor
            )
        losses = super().loss_level(preds, t)
        angle_cls = preds["angle_cls"].permute(0, 2, 3, 1).reshape(-1, self.coding_len)
        angle_targets = t.extra["angle_targets"].reshape(-1, self.coding_len)
        angle_weights = t.extra["angle_weights"].reshape(-1, 1)
        losses["loss_angle"] = self.loss_angle(
            angle_cls, angle_targets, weight=angle_weights, avg_factor=t.avg_factor
        )
        return losses

    def _decode_level(
        self, preds: Mapping[str, torch.Tensor], anchors: torch.Tensor, img_shape: Sequence[int], cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The box deltas' angle replaced by the angle classifier's (decoded CSL bins)."""
        scores, (anchors, bbox_pred, angle_cls) = self._level_topk(
            preds["cls_score"],
            cfg,
            anchors,
            preds["bbox_pred"].permute(1, 2, 0).reshape(-1, 5),
            preds["angle_cls"].permute(1, 2, 0).reshape(-1, self.coding_len).sigmoid(),
        )
        angle_pred = self.angle_coder.decode(angle_cls)
        if self.use_encoded_angle:
            bbox_pred = bbox_pred.clone()
            bbox_pred[..., -1] = angle_pred
            bboxes = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
        else:
            bboxes = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
            bboxes[..., -1] = angle_pred
        return bboxes, scores
