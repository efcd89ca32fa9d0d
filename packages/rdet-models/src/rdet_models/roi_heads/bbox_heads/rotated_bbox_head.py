"""``RotatedBBoxHead``: the RoI box head of rotated two-stage detectors (MMRotate 0.3.x).

Per RoI: class scores (num_classes + 1, background last) and 5 deltas (per class, or one
set with ``reg_class_agnostic``) decoded by the head's coder against the RoI
(``DeltaXYWHAHBBoxCoder`` for horizontal rois, ``DeltaXYWHAOBBoxCoder`` for rotated ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rdet_core.structures import Detections, ImageMeta
from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.init import BaseModule
from rdet_models.losses.accuracy import accuracy
from rdet_models.mmdet_compat import as_metas, detections_as_pairs
from rdet_models.postprocess import multiclass_nms_rotated
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.samplers import SamplingResult
from rdet_models.targets import RoITargets
from rdet_models.utils import to_config

__all__ = ["RotatedBBoxHead", "build_linear_layer"]


def build_linear_layer(cfg: dict | None, in_features: int, out_features: int) -> nn.Module:
    """MMDetection's ``build_linear_layer``: ``dict(type='Linear')`` (the only type) -> ``nn.Linear``."""
    cfg = dict(cfg or dict(type="Linear"))
    if cfg.pop("type", "Linear") != "Linear":
        raise KeyError(f"linear layer type must be 'Linear', got {cfg!r}")
    return nn.Linear(in_features, out_features, **cfg)


def _pair(x: int | Sequence[int]) -> tuple[int, int]:
    return (int(x[0]), int(x[1])) if isinstance(x, (list, tuple)) else (int(x), int(x))


@MODELS.register_module()
class RotatedBBoxHead(BaseModule):
    """Two linear layers on the flattened (or average-pooled) RoI features: ``fc_cls`` and ``fc_reg``.

    Args:
        with_avg_pool / with_cls / with_reg: average-pool the RoI features; the two branches.
        roi_feat_size, in_channels: the RoI features' size and channels.
        num_classes: classes without background.
        bbox_coder, loss_cls, loss_bbox: component configs (MMRotate's defaults).
        reg_class_agnostic: one set of 5 deltas instead of one per class.
        reg_decoded_bbox: the box loss compares decoded boxes.
    """

    #: deltas per class
    reg_dim = 5
    #: names of ``forward``'s outputs, in order
    pred_names: tuple[str, ...] = ("cls_score", "bbox_pred")

    def __init__(
        self,
        with_avg_pool: bool = False,
        with_cls: bool = True,
        with_reg: bool = True,
        roi_feat_size: int | Sequence[int] = 7,
        in_channels: int = 256,
        num_classes: int = 80,
        bbox_coder: dict = dict(  # noqa: B006 - never mutated
            type="DeltaXYWHBBoxCoder",
            clip_border=True,
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2],
        ),
        reg_class_agnostic: bool = False,
        reg_decoded_bbox: bool = False,
        reg_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        cls_predictor_cfg: dict = dict(type="Linear"),  # noqa: B006
        loss_cls: dict = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),  # noqa: B006
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if not (with_cls or with_reg):
            raise ValueError("a bbox head needs with_cls or with_reg")
        self.with_avg_pool, self.with_cls, self.with_reg = with_avg_pool, with_cls, with_reg
        self.roi_feat_size = _pair(roi_feat_size)
        self.roi_feat_area = self.roi_feat_size[0] * self.roi_feat_size[1]
        self.in_channels, self.num_classes = in_channels, num_classes
        self.reg_class_agnostic, self.reg_decoded_bbox = reg_class_agnostic, reg_decoded_bbox
        self.reg_predictor_cfg, self.cls_predictor_cfg = reg_predictor_cfg, cls_predictor_cfg
        self.fp16_enabled = False
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)
        in_channels = self.in_channels
        if self.with_avg_pool:
            self.avg_pool = nn.AvgPool2d(self.roi_feat_size)
        else:
            in_channels *= self.roi_feat_area
        if self.with_cls:
            self.fc_cls = build_linear_layer(cls_predictor_cfg, in_channels, self.cls_channels)
        if self.with_reg:
            self.fc_reg = build_linear_layer(reg_predictor_cfg, in_channels, self.reg_out_dim)
        if init_cfg is None:
            self.init_cfg = []
            if self.with_cls:
                self.init_cfg.append(dict(type="Normal", std=0.01, override=dict(name="fc_cls")))
            if self.with_reg:
                self.init_cfg.append(dict(type="Normal", std=0.001, override=dict(name="fc_reg")))

    @property
    def cls_channels(self) -> int:
        if self.custom_cls_channels:
            return self.loss_cls.get_cls_channels(self.num_classes)
        return self.num_classes + 1

    @property
    def reg_out_dim(self) -> int:
        return self.reg_dim if self.reg_class_agnostic else self.reg_dim * self.num_classes

    @property
    def custom_cls_channels(self) -> bool:
        return getattr(self.loss_cls, "custom_cls_channels", False)

    @property
    def custom_activation(self) -> bool:
        return getattr(self.loss_cls, "custom_activation", False)

    @property
    def custom_accuracy(self) -> bool:
        return getattr(self.loss_cls, "custom_accuracy", False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """(k, C, h, w) RoI features -> (cls_score (k, num_classes + 1), bbox_pred (k, 5 or 5 * num_classes))."""
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        return (self.fc_cls(x) if self.with_cls else None, self.fc_reg(x) if self.with_reg else None)

    # -- targets and losses ----------------------------------------------------------------------

    def _encode_targets(self, pos_bboxes: torch.Tensor, pos_gt_bboxes: torch.Tensor) -> torch.Tensor:
        if self.reg_decoded_bbox:
            return pos_gt_bboxes
        return self.bbox_coder.encode(pos_bboxes, pos_gt_bboxes)

    def _get_target_single(
        self,
        pos_bboxes: torch.Tensor,
        neg_bboxes: torch.Tensor,
        pos_gt_bboxes: torch.Tensor,
        pos_gt_labels: torch.Tensor,
        cfg: Any,
    ) -> RoITargets:
        num_pos, num_neg = pos_bboxes.size(0), neg_bboxes.size(0)
        num_samples = num_pos + num_neg
        labels = pos_bboxes.new_full((num_samples,), self.num_classes, dtype=torch.long)
        label_weights = pos_bboxes.new_zeros(num_samples)
        bbox_targets = pos_bboxes.new_zeros(num_samples, self.reg_dim)
        bbox_weights = pos_bboxes.new_zeros(num_samples, self.reg_dim)
        if num_pos > 0:
            labels[:num_pos] = pos_gt_labels
            label_weights[:num_pos] = 1.0 if cfg.pos_weight <= 0 else cfg.pos_weight
            bbox_targets[:num_pos, :] = self._encode_targets(pos_bboxes, pos_gt_bboxes)
            bbox_weights[:num_pos, :] = 1
        if num_neg > 0:
            label_weights[-num_neg:] = 1.0
        extra = self._extra_targets(pos_bboxes, pos_gt_bboxes, num_samples)
        return RoITargets(labels, label_weights, bbox_targets, bbox_weights, extra)

    def _extra_targets(
        self, pos_bboxes: torch.Tensor, pos_gt_bboxes: torch.Tensor, num_samples: int
    ) -> dict[str, torch.Tensor]:
        """A subclass's per-sample targets by name, one row per sample (positives first)."""
        return {}

    def get_targets(self, sampling_results: Sequence[SamplingResult], rcnn_train_cfg: Any) -> RoITargets:
        """The sampled rois' targets, images concatenated (positives first in each)."""
        cfg = to_config(rcnn_train_cfg)
        return RoITargets.cat(
            [
                self._get_target_single(
                    res.pos_bboxes, res.neg_bboxes, res.pos_gt_bboxes, res.pos_gt_labels, cfg
                )
                for res in sampling_results
            ]
        )

    def _loss_cls(
        self,
        cls_score: torch.Tensor | None,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        reduction_override: str | None,
    ) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        if cls_score is None:
            return losses
        avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.0)
        if cls_score.numel() > 0:
            loss_cls = self.loss_cls(
                cls_score.float(),
                labels,
                label_weights,
                avg_factor=avg_factor,
                reduction_override=reduction_override,
            )
            if isinstance(loss_cls, dict):
                losses.update(loss_cls)
            else:
                losses["loss_cls"] = loss_cls
            if self.custom_activation:
                losses.update(self.loss_cls.get_accuracy(cls_score, labels))
            else:
                losses["acc"] = accuracy(cls_score, labels)
        return losses

    def _pos_pred(
        self, pred: torch.Tensor, pos: torch.Tensor, labels: torch.Tensor, dim: int
    ) -> torch.Tensor:
        """The positives' predictions (for their class unless class-agnostic), (num_pos, dim)."""
        if self.reg_class_agnostic:
            return pred.view(pred.size(0), dim)[pos]
        return pred.view(pred.size(0), -1, dim)[pos, labels[pos]]

    def loss_by_targets(
        self,
        preds: Mapping[str, torch.Tensor | None],
        rois: torch.Tensor,
        targets: RoITargets,
        reduction_override: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """``loss_cls``, ``acc`` (percent) and ``loss_bbox`` (averaged over all sampled rois) of
        the head's outputs by ``pred_names`` on ``rois`` (R, 5 or 6)."""
        cls_score, bbox_pred = preds["cls_score"], preds["bbox_pred"]
        labels = targets.labels
        losses = self._loss_cls(cls_score, labels, targets.label_weights, reduction_override)
        if bbox_pred is not None:
            pos = (labels >= 0) & (labels < self.num_classes)
            if pos.any():
                losses["loss_bbox"] = self._pos_loss_bbox(
                    bbox_pred.float(),
                    rois,
                    pos,
                    labels,
                    targets.bbox_targets,
                    targets.bbox_weights,
                    reduction_override,
                )
            else:
                losses["loss_bbox"] = bbox_pred[pos].sum()
        return losses

    def loss(
        self,
        cls_score: torch.Tensor | None,
        bbox_pred: torch.Tensor | None,
        rois: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        reduction_override: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """MMDetection's signature over ``loss_by_targets``."""
        targets = RoITargets(labels, label_weights, bbox_targets, bbox_weights)
        return self.loss_by_targets(
            dict(cls_score=cls_score, bbox_pred=bbox_pred), rois, targets, reduction_override
        )

    def _pos_loss_bbox(
        self,
        bbox_pred: torch.Tensor,
        rois: torch.Tensor,
        pos: torch.Tensor,
        labels: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        reduction_override: str | None,
    ) -> torch.Tensor:
        """The box loss over the positives ``pos`` (a mask; at least one), averaged over all rois."""
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(rois[:, 1:], bbox_pred)
        return self.loss_bbox(
            self._pos_pred(bbox_pred, pos, labels, self.reg_dim),
            bbox_targets[pos],
            bbox_weights[pos],
            avg_factor=bbox_targets.size(0),
            reduction_override=reduction_override,
        )

    # -- inference -----------------------------------------------------------------------------

    def _scores(self, cls_score: torch.Tensor | None) -> torch.Tensor | None:
        if cls_score is None:
            return None
        if self.custom_cls_channels:
            return self.loss_cls.get_activation(cls_score)
        return F.softmax(cls_score.float(), dim=-1)

    def decode_rois(
        self,
        rois: torch.Tensor,
        preds: Mapping[str, torch.Tensor | None],
        img_shape: Sequence[int] | None,
        scale_factor: Any,
        rescale: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One image's rois (k, 5 or 6) and the head's outputs on them -> decoded boxes
        (k, 5) or (k, 5 * num_classes) (original-image pixels with ``rescale``) and class
        probabilities (k, num_classes + 1)."""
        scores = self._scores(preds["cls_score"])
        bbox_pred = preds["bbox_pred"]
        if bbox_pred is None:
            raise ValueError(f"{type(self).__name__} needs box predictions (with_reg=True) to decode")
        bboxes = self.bbox_coder.decode(rois[..., 1:], bbox_pred.float(), max_shape=img_shape)
        if rescale and bboxes.size(0) > 0:
            n = bboxes.size(0)
            bboxes = rescale_rboxes(bboxes.view(n, -1, 5), scale_factor, self).view(n, -1)
        return bboxes, scores

    def predict_rois(
        self,
        rois: torch.Tensor,
        preds: Mapping[str, torch.Tensor | None],
        meta: ImageMeta,
        cfg: Any,
        rescale: bool = True,
    ) -> Detections:
        """One image's detections: ``decode_rois`` then ``multiclass_nms_rotated`` (``cfg``:
        score_thr, nms, max_per_img)."""
        bboxes, scores = self.decode_rois(rois, preds, meta.img_shape, meta.scale_factor, rescale)
        return self._nms(bboxes, scores, cfg)

    @staticmethod
    def _nms(bboxes: torch.Tensor, scores: torch.Tensor | None, cfg: Any) -> Detections:
        if scores is None:
            raise ValueError("detections need class scores (with_cls=True)")
        cfg = to_config(cfg)
        dets, labels = multiclass_nms_rotated(bboxes, scores, cfg.score_thr, cfg.nms, cfg.max_per_img)
        return Detections(dets[:, :5], dets[:, 5], labels)

    def get_bboxes(
        self,
        rois: torch.Tensor,
        cls_score: torch.Tensor | None,
        bbox_pred: torch.Tensor | None,
        img_shape: Sequence[int] | None,
        scale_factor: Any,
        rescale: bool = False,
        cfg: Any = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """MMDetection's signature: one image's rois -> (dets (k, 6) ``(cx, cy, w, h, theta, score)``,
        labels (k,)) after NMS; with ``cfg=None`` the decoded boxes (k, 5 or 5C) and the scores (k, C + 1)."""
        bboxes, scores = self.decode_rois(
            rois, dict(cls_score=cls_score, bbox_pred=bbox_pred), img_shape, scale_factor, rescale
        )
        if cfg is None:
            return bboxes, scores
        return detections_as_pairs([self._nms(bboxes, scores, cfg)])[0]

    def regress_by_class(
        self, rois: torch.Tensor, label: torch.Tensor, bbox_pred: torch.Tensor, img_meta: ImageMeta | dict
    ) -> torch.Tensor:
        """Decode each roi (n, 4) / (n, 5 with the image index) with its class's deltas (cascade stages)."""
        if rois.size(1) not in (4, 5):
            raise ValueError(f"regress_by_class needs rois (n, 4) or (n, 5), got {tuple(rois.shape)}")
        if not self.reg_class_agnostic:
            # MMRotate gathers 4 of the 5 columns here (and then fails); take the label's 5
            inds = (label * 5)[:, None] + torch.arange(5, device=label.device)
            bbox_pred = torch.gather(bbox_pred, 1, inds)
        img_shape = as_metas([img_meta])[0].img_shape
        if rois.size(1) == 4:
            return self.bbox_coder.decode(rois, bbox_pred, max_shape=img_shape)
        bboxes = self.bbox_coder.decode(rois[:, 1:], bbox_pred, max_shape=img_shape)
        return torch.cat((rois[:, [0]], bboxes), dim=1)

    def refine_bboxes(
        self,
        rois: torch.Tensor,
        labels: torch.Tensor,
        bbox_preds: torch.Tensor,
        pos_is_gts: Sequence[torch.Tensor],
        img_metas: Sequence[ImageMeta | dict],
    ) -> list[torch.Tensor]:
        """The rois of each image decoded with their deltas, ground truths added as proposals dropped."""
        img_ids = rois[:, 0].long().unique(sorted=True)
        if img_ids.numel() > len(img_metas):
            raise ValueError(f"rois of {img_ids.numel()} images for {len(img_metas)} metas")
        bboxes_list = []
        for i, meta in enumerate(img_metas):
            inds = torch.nonzero(rois[:, 0] == i, as_tuple=False).squeeze(dim=1)
            bboxes = self.regress_by_class(rois[inds, 1:], labels[inds], bbox_preds[inds], meta)
            pos_is_gts_ = pos_is_gts[i]
            keep = pos_is_gts_.new_ones(inds.numel())
            keep[: len(pos_is_gts_)] = 1 - pos_is_gts_
            bboxes_list.append(bboxes[keep.bool()])
        return bboxes_list
