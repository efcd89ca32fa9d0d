"""``RotatedAnchorHead``: anchor-based dense head on rotated boxes (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rbox_geometry import obb2hbb
from rdet_models.anchors.utils import images_to_levels, rotated_anchor_inside_flags, unmap
from rdet_models.builder import (
    build_assigner,
    build_bbox_coder,
    build_loss,
    build_prior_generator,
    build_sampler,
)
from rdet_models.init import BaseModule
from rdet_models.postprocess import multiclass_nms_rotated
from rdet_models.registry import MODELS
from rdet_models.utils import multi_apply, to_config

__all__ = ["RotatedAnchorHead"]

_NO_SAMPLING_LOSSES = ("FocalLoss", "GHMC", "QualityFocalLoss")


@MODELS.register_module()
class RotatedAnchorHead(BaseModule):
    """Anchor head predicting, per anchor, class scores and 5 box deltas ``(dx, dy, dw, dh, da)``.

    Args:
        num_classes: classes without background.
        in_channels: channels of each input level.
        anchor_generator / bbox_coder / loss_cls / loss_bbox: component configs.
        reg_decoded_bbox: apply the box loss to decoded boxes (GWD / KLD) instead of deltas.
        assign_by_circumhbbox: None assigns by the rotated IoU with the gt (RetinaNet-OBB);
            an angle version assigns by the IoU with the gt's enclosing horizontal box
            (RetinaNet-HBB).
        train_cfg: ``assigner``, optional ``sampler``, ``allowed_border``, ``pos_weight``.
        test_cfg: ``nms_pre``, ``score_thr``, ``nms=dict(iou_thr=...)``, ``max_per_img``.

    Forward: levels (N, C, H_l, W_l) -> (cls_scores [(N, A*num_classes, H_l, W_l)],
    bbox_preds [(N, A*5, H_l, W_l)]).
    """

    #: deltas per anchor
    reg_dim = 5

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        anchor_generator: dict = dict(  # noqa: B006 - never mutated
            type="RotatedAnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[1.0, 0.5, 2.0],
            strides=[8, 16, 32, 64, 128],
        ),
        bbox_coder: dict = dict(type="DeltaXYWHAOBBoxCoder", target_means=(0.0,) * 5, target_stds=(1.0,) * 5),  # noqa: B006
        reg_decoded_bbox: bool = False,
        assign_by_circumhbbox: str | None = "oc",
        loss_cls: dict = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="L1Loss", loss_weight=1.0),  # noqa: B006
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        init_cfg: dict | list[dict] | None = dict(type="Normal", layer="Conv2d", std=0.01),  # noqa: B006
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels, self.num_classes, self.feat_channels = in_channels, num_classes, feat_channels
        self.use_sigmoid_cls = loss_cls.get("use_sigmoid", False)
        self.sampling = loss_cls["type"] not in _NO_SAMPLING_LOSSES
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        if self.cls_out_channels <= 0:
            raise ValueError(f"num_classes={num_classes} is too small")
        self.reg_decoded_bbox = reg_decoded_bbox
        self.assign_by_circumhbbox = assign_by_circumhbbox
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)
        self.train_cfg = to_config(train_cfg)
        self.test_cfg = to_config(test_cfg)
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg.assigner)
            if self.sampling and "sampler" in self.train_cfg:
                sampler_cfg = self.train_cfg.sampler
            else:
                sampler_cfg = dict(type="PseudoSampler")
            self.sampler = build_sampler(sampler_cfg)
        self.anchor_generator = build_prior_generator(anchor_generator)
        self.prior_generator = self.anchor_generator
        self.num_anchors = self.anchor_generator.num_base_anchors[0]
        self._init_layers()

    # -- network --------------------------------------------------------------------------------

    def _init_layers(self) -> None:
        self.conv_cls = nn.Conv2d(self.in_channels, self.num_anchors * self.cls_out_channels, 1)
        self.conv_reg = nn.Conv2d(self.in_channels, self.num_anchors * self.reg_dim, 1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.conv_cls(x), self.conv_reg(x)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        return multi_apply(self.forward_single, feats)

    # -- anchors and targets ---------------------------------------------------------------------

    def get_anchors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        img_metas: Sequence[dict],
        device: str | torch.device = "cuda",
    ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """Per image, per level: anchors (H*W*A, 5) and valid flags (H*W*A,)."""
        mlvl = self.anchor_generator.grid_priors(featmap_sizes, device=device)
        anchor_list = [mlvl for _ in img_metas]
        valid_flag_list = [
            self.anchor_generator.valid_flags(featmap_sizes, m["pad_shape"], device) for m in img_metas
        ]
        return anchor_list, valid_flag_list

    def _gts_to_assign(self, gt_bboxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gt boxes the assigner compares with the anchors, and those the sampler keeps."""
        if self.assign_by_circumhbbox is None:
            return gt_bboxes, gt_bboxes
        return obb2hbb(gt_bboxes, self.assign_by_circumhbbox), gt_bboxes

    def _assign_and_sample(
        self,
        anchors: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None,
        gt_labels: torch.Tensor | None,
    ) -> Any:
        gt_assign, gt_sample = self._gts_to_assign(gt_bboxes)
        assign_result = self.assigner.assign(
            anchors, gt_assign, gt_bboxes_ignore, None if self.sampling else gt_labels
        )
        return self.sampler.sample(assign_result, anchors, gt_sample)

    def _pos_regression_gt(self, sampling_result: Any, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """What the positives regress to (before encoding)."""
        return sampling_result.pos_gt_bboxes

    def _extra_targets(
        self, anchors: torch.Tensor, sampling_result: Any, pos_targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        """Per-anchor targets a subclass appends to the 7 outputs of ``_get_targets_single``
        (unmapped as the others); ``pos_targets``: the positives' box targets, None without any."""
        return ()

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
        sampling_result = self._assign_and_sample(anchors, gt_bboxes, gt_bboxes_ignore, gt_labels)
        n = anchors.shape[0]
        bbox_targets = anchors.new_zeros((n, self.reg_dim))
        bbox_weights = anchors.new_zeros((n, self.reg_dim))
        labels = anchors.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(n, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        pos_targets = None
        if len(pos_inds) > 0:
            pos_gt = self._pos_regression_gt(sampling_result, gt_bboxes)
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
        extra = self._extra_targets(anchors, sampling_result, pos_targets)
        if unmap_outputs:
            total = flat_anchors.size(0)
            labels = unmap(labels, total, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside_flags)
            bbox_targets = unmap(bbox_targets, total, inside_flags)
            bbox_weights = unmap(bbox_weights, total, inside_flags)
            extra = tuple(unmap(t, total, inside_flags) for t in extra)
        return (
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            pos_inds,
            neg_inds,
            sampling_result,
            *extra,
        )

    def get_targets(
        self,
        anchor_list: list[list[torch.Tensor]],
        valid_flag_list: list[list[torch.Tensor]],
        gt_bboxes_list: list[torch.Tensor],
        img_metas: Sequence[dict],
        gt_bboxes_ignore_list: list[torch.Tensor] | None = None,
        gt_labels_list: list[torch.Tensor] | None = None,
        label_channels: int = 1,
        unmap_outputs: bool = True,
        return_sampling_results: bool = False,
    ) -> tuple[Any, ...] | None:
        """Per-level (N_img, A_l, ...) labels, label weights, box targets, box weights, #pos, #neg."""
        num_imgs = len(img_metas)
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        concat_anchors = [torch.cat(a) for a in anchor_list]
        concat_flags = [torch.cat(f) for f in valid_flag_list]
        if gt_bboxes_ignore_list is None:
            gt_bboxes_ignore_list = [None] * num_imgs
        if gt_labels_list is None:
            gt_labels_list = [None] * num_imgs
        results = multi_apply(
            self._get_targets_single,
            concat_anchors,
            concat_flags,
            gt_bboxes_list,
            gt_bboxes_ignore_list,
            gt_labels_list,
            img_metas,
            label_channels=label_channels,
            unmap_outputs=unmap_outputs,
        )
        (
            all_labels,
            all_label_weights,
            all_bbox_targets,
            all_bbox_weights,
            pos_inds_list,
            neg_inds_list,
            sampling_results,
        ) = results[:7]
        rest = list(results[7:])
        if any(lbl is None for lbl in all_labels):
            return None
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds_list)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds_list)
        res: tuple[Any, ...] = (
            images_to_levels(all_labels, num_level_anchors),
            images_to_levels(all_label_weights, num_level_anchors),
            images_to_levels(all_bbox_targets, num_level_anchors),
            images_to_levels(all_bbox_weights, num_level_anchors),
            num_total_pos,
            num_total_neg,
        )
        if return_sampling_results:
            res = res + (sampling_results,)
        return res + tuple(images_to_levels(r, num_level_anchors) for r in rest)

    # -- losses --------------------------------------------------------------------------------

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
        loss_bbox = self._bbox_loss(
            bbox_pred.permute(0, 2, 3, 1).reshape(-1, self.reg_dim),
            anchors.reshape(-1, anchors.size(-1)),
            bbox_targets.reshape(-1, self.reg_dim),
            bbox_weights.reshape(-1, self.reg_dim),
            num_total_samples,
        )
        return loss_cls, loss_bbox

    def _bbox_loss(
        self,
        bbox_pred: torch.Tensor,
        anchors: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        num_total_samples: int,
    ) -> torch.Tensor:
        """The box loss of one level, all arguments flattened to one row per anchor."""
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors, bbox_pred)
        return self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=num_total_samples)

    def _prepare_loss(
        self,
        cls_scores: list[torch.Tensor],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor] | None,
        img_metas: Sequence[dict],
        gt_bboxes_ignore: list[torch.Tensor] | None,
    ) -> tuple[Any, ...] | None:
        featmap_sizes = [f.size()[-2:] for f in cls_scores]
        if len(featmap_sizes) != self.anchor_generator.num_levels:
            raise ValueError(
                f"{len(featmap_sizes)} feature levels for {self.anchor_generator.num_levels} anchor levels"
            )
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, img_metas, device=device)
        label_channels = self.cls_out_channels if self.use_sigmoid_cls else 1
        targets = self.get_targets(
            anchor_list,
            valid_flag_list,
            gt_bboxes,
            img_metas,
            gt_bboxes_ignore_list=gt_bboxes_ignore,
            gt_labels_list=gt_labels,
            label_channels=label_channels,
        )
        if targets is None:
            return None
        num_total_pos, num_total_neg = targets[4], targets[5]
        num_total_samples = num_total_pos + num_total_neg if self.sampling else num_total_pos
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        all_anchor_list = images_to_levels([torch.cat(a) for a in anchor_list], num_level_anchors)
        return targets, num_total_samples, all_anchor_list

    def loss(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor] | None,
        img_metas: Sequence[dict],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        """``dict(loss_cls=[per level], loss_bbox=[per level])``; gt boxes (k, 5) per image."""
        prepared = self._prepare_loss(cls_scores, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore)
        if prepared is None:
            return None
        targets, num_total_samples, all_anchor_list = prepared
        losses_cls, losses_bbox = multi_apply(
            self.loss_single,
            cls_scores,
            bbox_preds,
            all_anchor_list,
            targets[0],
            targets[1],
            targets[2],
            targets[3],
            num_total_samples=num_total_samples,
        )
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)

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
        """Forward and loss (MMDetection's ``BaseDenseHead.forward_train``)."""
        outs = self(x)
        losses = self.loss(*outs, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        if proposal_cfg is None:
            return losses
        return losses, self.get_bboxes(*outs, img_metas=img_metas, cfg=proposal_cfg)

    # -- inference -----------------------------------------------------------------------------

    def get_bboxes(
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        img_metas: Sequence[dict],
        cfg: dict | None = None,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image: (dets (k, 6) ``(cx, cy, w, h, theta, score)``, labels (k,)); ``rescale`` maps
        boxes back to the original image (dividing by ``scale_factor``)."""
        return self._batch_get_bboxes([cls_scores, bbox_preds], img_metas, cfg, rescale, with_nms)

    def _batch_get_bboxes(
        self,
        outputs: list[list[torch.Tensor]],
        img_metas: Sequence[dict],
        cfg: dict | None,
        rescale: bool,
        with_nms: bool,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Split per-level batch outputs (first: class scores) per image and decode each image."""
        num_levels = len(outputs[0])
        featmap_sizes = [outputs[0][i].shape[-2:] for i in range(num_levels)]
        mlvl_anchors = self.anchor_generator.grid_priors(featmap_sizes, device=outputs[0][0].device)
        results = []
        for img_id, meta in enumerate(img_metas):
            per_img = [[t[i][img_id].detach() for i in range(num_levels)] for t in outputs]
            results.append(
                self._get_bboxes_single(
                    *per_img, mlvl_anchors, meta["img_shape"], meta["scale_factor"], cfg, rescale, with_nms
                )
            )
        return results

    def _scores_of(self, cls_score: torch.Tensor) -> torch.Tensor:
        cls_score = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
        return cls_score.sigmoid() if self.use_sigmoid_cls else cls_score.softmax(-1)

    def _level_topk(
        self, cls_score: torch.Tensor, cfg: Any, *flat: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One level's scores (rows: anchors) and the rows of ``flat`` (per-anchor tensors) of
        its ``nms_pre`` best anchors (all of them when there are fewer)."""
        scores = self._scores_of(cls_score)
        nms_pre = cfg.get("nms_pre", -1)
        if not (nms_pre > 0 and scores.shape[0] > nms_pre):
            return scores, flat
        max_scores = scores.max(dim=1)[0] if self.use_sigmoid_cls else scores[:, :-1].max(dim=1)[0]
        topk = max_scores.topk(nms_pre)[1]
        return scores[topk, :], tuple(t[topk, :] for t in flat)

    def _finish_bboxes(
        self,
        mlvl_bboxes: list[torch.Tensor],
        mlvl_scores: list[torch.Tensor],
        scale_factor: Any,
        cfg: Any,
        rescale: bool,
        with_nms: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        bboxes = torch.cat(mlvl_bboxes)
        if rescale:  # the angle is not rescaled
            bboxes[:, :4] = bboxes[:, :4] / bboxes.new_tensor(scale_factor)
        scores = torch.cat(mlvl_scores)
        if self.use_sigmoid_cls:
            scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
        if with_nms:
            return multiclass_nms_rotated(bboxes, scores, cfg.score_thr, cfg.nms, cfg.max_per_img)
        return bboxes, scores

    def _get_bboxes_single(
        self,
        cls_score_list: list[torch.Tensor],
        bbox_pred_list: list[torch.Tensor],
        mlvl_anchors: list[torch.Tensor],
        img_shape: Sequence[int],
        scale_factor: Any,
        cfg: Any,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.test_cfg if cfg is None else to_config(cfg)
        mlvl_bboxes, mlvl_scores = [], []
        for cls_score, bbox_pred, anchors in zip(cls_score_list, bbox_pred_list, mlvl_anchors):
            scores, (anchors, bbox_pred) = self._level_topk(
                cls_score, cfg, anchors, bbox_pred.permute(1, 2, 0).reshape(-1, self.reg_dim)
            )
            mlvl_bboxes.append(self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape))
            mlvl_scores.append(scores)
        return self._finish_bboxes(mlvl_bboxes, mlvl_scores, scale_factor, cfg, rescale, with_nms)

    def simple_test(
        self, feats: Sequence[torch.Tensor], img_metas: Sequence[dict], rescale: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.get_bboxes(*self(feats), img_metas=img_metas, rescale=rescale)

    def aug_test(self, feats: Any, img_metas: Any, rescale: bool = False) -> Any:
        raise NotImplementedError("test-time augmentation (aug_test) is not supported yet")
