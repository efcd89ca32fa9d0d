"""``GVBBoxHead``: Gliding Vertex's RoI head (MMRotate 0.3.x).

Per RoI: class scores, 4 horizontal-box deltas (``DeltaXYWHBBoxCoder``), 4 gliding offsets of
the vertices along the box's sides (``GVFixCoder``, sigmoid) and the obliquity ratio
(``GVRatioCoder``, sigmoid): a box whose ratio exceeds ``ratio_thr`` is nearly horizontal
and is output as its horizontal box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rbox_geometry import hbb2obb, obb2xyxy
from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.mmdet_compat import detections_as_pairs
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.roi_heads.bbox_heads.rotated_bbox_head import RotatedBBoxHead, build_linear_layer
from rdet_models.targets import RoITargets

__all__ = ["GVBBoxHead"]


@MODELS.register_module()
class GVBBoxHead(RotatedBBoxHead):
    """Shared fcs, then ``fc_cls``, ``fc_reg`` (4), ``fc_fix`` (4) and ``fc_ratio`` (1) (per class unless agnostic).

    Args:
        num_shared_fcs, fc_out_channels: the shared fully connected layers.
        ratio_thr: boxes with a predicted area ratio above it are output horizontal.
        fix_coder / ratio_coder: ``GVFixCoder`` / ``GVRatioCoder`` configs.
        loss_fix / loss_ratio: built, but (as in MMRotate 0.3.x) ``loss_bbox`` computes the
            fix and ratio losses too unless ``legacy_losses=False``.
        version: angle version of the output boxes.
    """

    reg_dim = 4
    pred_names = ("cls_score", "bbox_pred", "fix_pred", "ratio_pred")

    def __init__(
        self,
        with_avg_pool: bool = False,
        num_shared_fcs: int = 2,
        roi_feat_size: int | Sequence[int] = 7,
        in_channels: int = 256,
        fc_out_channels: int = 1024,
        num_classes: int = 80,
        ratio_thr: float = 0.8,
        bbox_coder: dict = dict(  # noqa: B006 - never mutated
            type="DeltaXYWHBBoxCoder",
            clip_border=True,
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2],
        ),
        fix_coder: dict = dict(type="GVFixCoder"),  # noqa: B006
        ratio_coder: dict = dict(type="GVRatioCoder"),  # noqa: B006
        reg_class_agnostic: bool = False,
        reg_decoded_bbox: bool = False,
        reg_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        cls_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        fix_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        ratio_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        loss_cls: dict = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),  # noqa: B006
        loss_fix: dict = dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),  # noqa: B006
        loss_ratio: dict = dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),  # noqa: B006
        version: str = "oc",
        legacy_losses: bool = True,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(
            with_avg_pool=with_avg_pool,
            with_cls=False,  # the layers are built below, on the shared fcs' output
            with_reg=True,
            roi_feat_size=roi_feat_size,
            in_channels=in_channels,
            num_classes=num_classes,
            bbox_coder=bbox_coder,
            reg_class_agnostic=reg_class_agnostic,
            reg_decoded_bbox=reg_decoded_bbox,
            reg_predictor_cfg=reg_predictor_cfg,
            cls_predictor_cfg=cls_predictor_cfg,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            init_cfg=init_cfg,
        )
        self.with_cls = True
        self.num_shared_fcs, self.fc_out_channels, self.ratio_thr = num_shared_fcs, fc_out_channels, ratio_thr
        self.fix_predictor_cfg, self.ratio_predictor_cfg = fix_predictor_cfg, ratio_predictor_cfg
        self.fix_coder = build_bbox_coder(fix_coder)
        self.ratio_coder = build_bbox_coder(ratio_coder)
        self.loss_fix = build_loss(loss_fix)
        self.loss_ratio = build_loss(loss_ratio)
        self.version, self.legacy_losses = version, legacy_losses
        self.relu = nn.ReLU(inplace=True)
        in_dim = self.in_channels * (1 if with_avg_pool else self.roi_feat_area)
        self.shared_fcs = nn.ModuleList(
            nn.Linear(in_dim if i == 0 else fc_out_channels, fc_out_channels) for i in range(num_shared_fcs)
        )
        last_dim = in_dim if num_shared_fcs == 0 else fc_out_channels
        per_class = 1 if reg_class_agnostic else num_classes
        self.fc_cls = build_linear_layer(cls_predictor_cfg, last_dim, num_classes + 1)
        self.fc_reg = build_linear_layer(reg_predictor_cfg, last_dim, 4 * per_class)
        self.fc_fix = build_linear_layer(fix_predictor_cfg, last_dim, 4 * per_class)
        self.fc_ratio = build_linear_layer(ratio_predictor_cfg, last_dim, per_class)
        if init_cfg is None:
            self.init_cfg = [
                dict(type="Normal", std=0.01, override=dict(name="fc_cls")),
                dict(type="Normal", std=0.001, override=dict(name="fc_reg")),
                dict(type="Normal", std=0.001, override=dict(name="fc_fix")),
                dict(type="Normal", std=0.001, override=dict(name="fc_ratio")),
            ]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """-> (cls_score (k, C + 1), bbox_pred (k, 4[C]), fix_pred (k, 4[C]) in (0, 1), ratio_pred (k, 1[C]) in (0, 1))."""
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = self.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x), torch.sigmoid(self.fc_fix(x)), torch.sigmoid(self.fc_ratio(x))

    # -- targets and losses ----------------------------------------------------------------------

    def _encode_targets(self, pos_bboxes: torch.Tensor, pos_gt_bboxes: torch.Tensor) -> torch.Tensor:
        """The box branch regresses the rotated ground truths' enclosing boxes."""
        return super()._encode_targets(pos_bboxes, obb2xyxy(pos_gt_bboxes, self.version))

    def _extra_targets(
        self, pos_bboxes: torch.Tensor, pos_gt_bboxes: torch.Tensor, num_samples: int
    ) -> dict[str, torch.Tensor]:
        """``fix_targets`` / ``fix_weights`` (n, 4) and ``ratio_targets`` / ``ratio_weights`` (n, 1)."""
        num_pos, n = pos_bboxes.size(0), num_samples
        fix_targets, fix_weights = pos_bboxes.new_zeros(n, 4), pos_bboxes.new_zeros(n, 4)
        ratio_targets, ratio_weights = pos_bboxes.new_zeros(n, 1), pos_bboxes.new_zeros(n, 1)
        if num_pos > 0:
            fix_targets[:num_pos] = self.fix_coder.encode(pos_gt_bboxes)
            fix_weights[:num_pos] = 1
            ratio_targets[:num_pos] = self.ratio_coder.encode(pos_gt_bboxes)
            ratio_weights[:num_pos] = 1
        return dict(
            fix_targets=fix_targets,
            fix_weights=fix_weights,
            ratio_targets=ratio_targets,
            ratio_weights=ratio_weights,
        )

    def loss_by_targets(
        self,
        preds: Mapping[str, torch.Tensor | None],
        rois: torch.Tensor,
        targets: RoITargets,
        reduction_override: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """``loss_cls``, ``acc``, ``loss_bbox``, ``loss_fix``, ``loss_ratio``."""
        cls_score, bbox_pred, fix_pred, ratio_pred = (preds[n] for n in self.pred_names)
        labels = targets.labels
        losses = self._loss_cls(cls_score, labels, targets.label_weights, reduction_override)
        pos = (labels >= 0) & (labels < self.num_classes)
        if not pos.any():
            losses["loss_bbox"] = bbox_pred[pos].sum()
            losses["loss_fix"] = fix_pred[pos].sum()
            losses["loss_ratio"] = ratio_pred[pos].sum()
            return losses
        bbox_pred, fix_pred, ratio_pred = bbox_pred.float(), fix_pred.float(), ratio_pred.float()
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(rois[:, 1:], bbox_pred)
        loss_fix = self.loss_bbox if self.legacy_losses else self.loss_fix
        loss_ratio = self.loss_bbox if self.legacy_losses else self.loss_ratio
        extra = targets.extra
        for name, fn, pred, target, weight, dim in (
            ("loss_bbox", self.loss_bbox, bbox_pred, targets.bbox_targets, targets.bbox_weights, 4),
            ("loss_fix", loss_fix, fix_pred, extra["fix_targets"], extra["fix_weights"], 4),
            ("loss_ratio", loss_ratio, ratio_pred, extra["ratio_targets"], extra["ratio_weights"], 1),
        ):
            losses[name] = fn(
                self._pos_pred(pred, pos, labels, dim),
                target[pos],
                weight[pos],
                avg_factor=target.size(0),
                reduction_override=reduction_override,
            )
        return losses

    # MMRotate's GVBBoxHead.loss takes the four outputs and their targets, not the base's two
    def loss(  # type: ignore[override]
        self,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        fix_pred: torch.Tensor,
        ratio_pred: torch.Tensor,
        rois: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        fix_targets: torch.Tensor,
        fix_weights: torch.Tensor,
        ratio_targets: torch.Tensor,
        ratio_weights: torch.Tensor,
        reduction_override: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """MMRotate's signature over ``loss_by_targets``."""
        extra = dict(
            fix_targets=fix_targets,
            fix_weights=fix_weights,
            ratio_targets=ratio_targets,
            ratio_weights=ratio_weights,
        )
        preds = dict(cls_score=cls_score, bbox_pred=bbox_pred, fix_pred=fix_pred, ratio_pred=ratio_pred)
        targets = RoITargets(labels, label_weights, bbox_targets, bbox_weights, extra)
        return self.loss_by_targets(preds, rois, targets, reduction_override)

    # -- inference -----------------------------------------------------------------------------

    def decode_rois(
        self,
        rois: torch.Tensor,
        preds: Mapping[str, torch.Tensor | None],
        img_shape: Sequence[int] | None,
        scale_factor: Any,
        rescale: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rotated boxes from the horizontal boxes and the gliding offsets; a box whose ratio
        exceeds ``ratio_thr`` is its horizontal box. (k, 5[C]) boxes and (k, C + 1) scores."""
        cls_score, bbox_pred, fix_pred, ratio_pred = (preds[n] for n in self.pred_names)
        scores = self._scores(cls_score)
        bboxes = self.bbox_coder.decode(rois[..., 1:], bbox_pred.float(), max_shape=img_shape)
        rbboxes = self.fix_coder.decode(bboxes, fix_pred.float())
        n = ratio_pred.size(0)
        bboxes = bboxes.view(*ratio_pred.size(), 4)
        rbboxes = rbboxes.view(*ratio_pred.size(), 5).clone()
        horizontal = ratio_pred > self.ratio_thr
        if horizontal.any():
            rbboxes[horizontal] = hbb2obb(bboxes[horizontal], self.version).to(rbboxes.dtype)
        if rescale and n > 0:
            rbboxes = rescale_rboxes(rbboxes, scale_factor, self.version)
        return rbboxes.view(n, -1), scores

    # MMRotate's GVBBoxHead.get_bboxes takes the four outputs, not the base's two
    def get_bboxes(  # type: ignore[override]
        self,
        rois: torch.Tensor,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        fix_pred: torch.Tensor,
        ratio_pred: torch.Tensor,
        img_shape: Sequence[int] | None,
        scale_factor: Any,
        rescale: bool = False,
        cfg: Any = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """MMRotate's signature: one image -> (dets (k, 6), labels (k,)) after NMS (``cfg=None``:
        boxes (n, 5[C]), scores)."""
        preds = dict(cls_score=cls_score, bbox_pred=bbox_pred, fix_pred=fix_pred, ratio_pred=ratio_pred)
        bboxes, scores = self.decode_rois(rois, preds, img_shape, scale_factor, rescale)
        if cfg is None:
            return bboxes, scores
        return detections_as_pairs([self._nms(bboxes, scores, cfg)])[0]
