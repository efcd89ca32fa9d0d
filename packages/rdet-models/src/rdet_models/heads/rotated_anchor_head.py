"""``RotatedAnchorHead``: anchor-based dense head on rotated boxes (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rbox_geometry import obb2hbb
from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.anchors.utils import rotated_anchor_inside_flags
from rdet_models.builder import (
    build_assigner,
    build_bbox_coder,
    build_loss,
    build_prior_generator,
    build_sampler,
)
from rdet_models.heads.dense_adapters import DenseHeadAdapters
from rdet_models.heads.topk import needs_topk, topk_indices
from rdet_models.init import BaseModule
from rdet_models.mmdet_compat import as_metas
from rdet_models.postprocess import multiclass_nms_rotated
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.samplers import SamplingResult
from rdet_models.targets import AnchorTargets, ImageAnchorTargets, LevelTargets
from rdet_models.utils import multi_apply, to_config

__all__ = ["RotatedAnchorHead", "check_rois"]

_NO_SAMPLING_LOSSES = ("FocalLoss", "GHMC", "QualityFocalLoss")


def check_rois(
    rois: Sequence[Sequence[torch.Tensor]],
    featmap_sizes: Sequence[Sequence[int]],
    num_imgs: int,
    num_anchors: int,
    owner: str,
) -> None:
    """Raise a ValueError naming ``owner`` unless ``rois`` holds, per image (``num_imgs``) and per
    level, ``num_anchors`` boxes per position: (H_l * W_l * num_anchors, 5)."""
    if len(rois) != num_imgs:
        raise ValueError(f"{owner}: rois for {len(rois)} images, outputs for {num_imgs}")
    for img_id, image_rois in enumerate(rois):
        if len(image_rois) != len(featmap_sizes):
            raise ValueError(
                f"{owner}: rois of image {img_id} have {len(image_rois)} levels, outputs {len(featmap_sizes)}"
            )
        for lvl, (r, (h, w)) in enumerate(zip(image_rois, featmap_sizes)):
            rows = int(h) * int(w) * num_anchors
            if tuple(r.shape) != (rows, 5):
                raise ValueError(
                    f"{owner}: rois of image {img_id}, level {lvl} must be ({rows}, 5) ({num_anchors} box per "
                    f"position of the {int(h)}x{int(w)} map), got {tuple(r.shape)}"
                )


@MODELS.register_module()
class RotatedAnchorHead(DenseHeadAdapters, BaseModule):
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
    #: names of ``forward``'s outputs, in order (each a list over levels)
    pred_names: tuple[str, ...] = ("cls_score", "bbox_pred")
    #: one foreground class whatever the ground truth's labels (the RPN)
    class_agnostic = False
    #: the assigner needs the number of anchors (inside the image) of each level (ATSS)
    assign_per_level = False
    #: a refine head: its anchors are the previous stage's boxes, ``rois`` is required
    needs_rois = False

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
        metas: Sequence[ImageMeta],
        device: str | torch.device = "cuda",
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """Per image, per level: anchors (H*W*A, 5) and valid flags (H*W*A,).

        ``rois``: per image, per level, boxes (H*W*A, 5) of an earlier stage that serve as this
        head's anchors (refine heads: S2A-Net's ODM, R3Det's refine stages; detached here).
        """
        if self._checked_rois(rois, featmap_sizes, len(metas)) is None:
            mlvl = self.anchor_generator.grid_priors(featmap_sizes, device=device)
            anchor_list = [mlvl for _ in metas]
        else:
            anchor_list = [[r.detach().clone() for r in image_rois] for image_rois in rois]
        valid_flag_list = [
            self.anchor_generator.valid_flags(featmap_sizes, m.pad_shape, device) for m in as_metas(metas)
        ]
        return anchor_list, valid_flag_list

    def _checked_rois(
        self,
        rois: Sequence[Sequence[torch.Tensor]] | None,
        featmap_sizes: Sequence[Sequence[int]],
        num_imgs: int,
    ) -> Sequence[Sequence[torch.Tensor]] | None:
        """``rois`` after :func:`check_rois`; None without them, which a refine head refuses."""
        if rois is None:
            if self.needs_rois:
                raise ValueError(
                    f"{type(self).__name__} needs rois: per image, per level, the previous stage's boxes "
                    "(H*W, 5) that are its anchors (S2A-Net: the FAM head's refine_bboxes; R3Det: "
                    "filter_bboxes, then refine_bboxes); pass rois="
                )
            return None
        check_rois(rois, featmap_sizes, num_imgs, self.num_anchors, type(self).__name__)
        return rois

    def _gts_to_assign(self, gt_bboxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gt boxes the assigner compares with the anchors, and those the sampler keeps."""
        if self.assign_by_circumhbbox is None:
            return gt_bboxes, gt_bboxes
        return obb2hbb(gt_bboxes, self.assign_by_circumhbbox), gt_bboxes

    def _assign_and_sample(
        self, anchors: torch.Tensor, gt: GroundTruth, num_level_anchors: list[int] | None = None
    ) -> SamplingResult:
        """Assign the anchors inside the image (A, 5) to ``gt`` and sample them;
        ``num_level_anchors``: how many of them each level has (given when
        ``assign_per_level``; ATSS's assigners take it)."""
        gt_assign, gt_sample = self._gts_to_assign(gt.boxes)
        gt_labels = None if self.sampling or self.class_agnostic else gt.labels
        assign_result = self.assigner.assign(anchors, gt_assign, gt.boxes_ignore, gt_labels)
        return self.sampler.sample(assign_result, anchors, gt_sample)

    def _pos_regression_gt(self, sampling_result: SamplingResult, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """What the positives regress to (before encoding)."""
        return sampling_result.pos_gt_bboxes

    def _extra_targets(
        self, anchors: torch.Tensor, sampling_result: SamplingResult, pos_targets: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Per-anchor targets of a subclass, by name (one row per anchor of ``anchors``);
        ``pos_targets``: the positives' box targets, None without any."""
        return {}

    def _get_targets_single(
        self,
        flat_anchors: torch.Tensor,
        valid_flags: torch.Tensor,
        gt: GroundTruth,
        meta: ImageMeta,
        num_level_anchors: Sequence[int] | None = None,
    ) -> ImageAnchorTargets | None:
        """One image's targets for all its anchors (``flat_anchors`` (A, 5), levels
        concatenated, ``num_level_anchors`` A_l each); None when no anchor lies inside the image."""
        inside_flags = rotated_anchor_inside_flags(
            flat_anchors, valid_flags, meta.img_shape[:2], self.train_cfg.allowed_border
        )
        if not inside_flags.any():
            return None
        anchors = flat_anchors[inside_flags, :]
        if self.assign_per_level:
            if num_level_anchors is None:
                raise ValueError(f"{type(self).__name__} needs num_level_anchors (anchors per level)")
            level_inside = [int(f.sum()) for f in inside_flags.split(list(num_level_anchors))]
            sampling_result = self._assign_and_sample(anchors, gt, level_inside)
        else:
            sampling_result = self._assign_and_sample(anchors, gt)
        n = anchors.shape[0]
        bbox_targets = anchors.new_zeros((n, self.reg_dim))
        bbox_weights = anchors.new_zeros((n, self.reg_dim))
        labels = anchors.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(n, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        pos_targets = None
        if len(pos_inds) > 0:
            pos_gt = self._pos_regression_gt(sampling_result, gt.boxes)
            if not self.reg_decoded_bbox:
                pos_targets = self.bbox_coder.encode(sampling_result.pos_bboxes, pos_gt)
            else:
                pos_targets = pos_gt
            bbox_targets[pos_inds, :] = pos_targets.to(bbox_targets.dtype)
            bbox_weights[pos_inds, :] = 1.0
            if self.class_agnostic:  # the RPN: foreground is class 0
                labels[pos_inds] = 0
            else:
                labels[pos_inds] = gt.labels[sampling_result.pos_assigned_gt_inds]
            label_weights[pos_inds] = 1.0 if self.train_cfg.pos_weight <= 0 else self.train_cfg.pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        targets = ImageAnchorTargets(
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            sampling_result,
            self._extra_targets(anchors, sampling_result, pos_targets),
        )
        return targets.unmapped(flat_anchors.size(0), inside_flags, background=self.num_classes)

    def get_targets(
        self,
        anchor_list: list[list[torch.Tensor]],
        valid_flag_list: list[list[torch.Tensor]],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
    ) -> AnchorTargets | None:
        """The batch's targets per level; None when an image has no anchor inside it.

        Args:
            anchor_list / valid_flag_list: per image, per level (A_l, 5) anchors and (A_l,) flags
                (``get_anchors``; S2A-Net's refine head passes its refined boxes as anchors).
            gts: per image, the ground truth (tensors on the anchors' device).
            metas: per image, its meta (``img_shape`` bounds the anchors inside).
        """
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        concat_anchors = [torch.cat(a) for a in anchor_list]
        per_image = [
            self._get_targets_single(anchors, torch.cat(flags), gt, meta, num_level_anchors)
            for anchors, flags, gt, meta in zip(concat_anchors, valid_flag_list, gts, metas)
        ]
        if any(t is None for t in per_image):
            return None
        return AnchorTargets.from_images(per_image, concat_anchors, num_level_anchors, self.sampling)  # type: ignore[arg-type]

    # -- losses --------------------------------------------------------------------------------

    def loss_level(self, preds: Mapping[str, torch.Tensor], t: LevelTargets) -> dict[str, torch.Tensor]:
        """The losses of one level: ``preds`` holds the head's outputs of that level by
        ``pred_names`` ((N, A*C, H, W) maps); returns ``loss_cls`` and ``loss_bbox``."""
        cls_score = preds["cls_score"].permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(
            cls_score, t.labels.reshape(-1), t.label_weights.reshape(-1), avg_factor=t.avg_factor
        )
        loss_bbox = self._bbox_loss(
            preds["bbox_pred"].permute(0, 2, 3, 1).reshape(-1, self.reg_dim),
            t.anchors.reshape(-1, t.anchors.size(-1)),
            t.bbox_targets.reshape(-1, self.reg_dim),
            t.bbox_weights.reshape(-1, self.reg_dim),
            t.avg_factor,
        )
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)

    def _bbox_loss(
        self,
        bbox_pred: torch.Tensor,
        anchors: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
        avg_factor: int,
    ) -> torch.Tensor:
        """The box loss of one level, all arguments flattened to one row per anchor."""
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors, bbox_pred)
        return self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=avg_factor)

    def loss_by_feat(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        """Losses from the head's outputs (``forward``'s lists per level): each name maps to one
        tensor per level; None when an image has no anchor inside it. ``rois``: per image, per
        level, the earlier stage's boxes that are this head's anchors (``get_anchors``)."""
        cls_scores = outs[0]
        featmap_sizes = [f.size()[-2:] for f in cls_scores]
        if len(featmap_sizes) != self.anchor_generator.num_levels:
            raise ValueError(
                f"{len(featmap_sizes)} feature levels for {self.anchor_generator.num_levels} anchor levels"
            )
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, metas, device=cls_scores[0].device, rois=rois
        )
        targets = self.get_targets(anchor_list, valid_flag_list, gts, metas)
        if targets is None:
            return None
        per_level = [self.loss_level(p, targets.level(i)) for i, p in enumerate(self._named(outs))]
        return {name: [losses[name] for losses in per_level] for name in per_level[0]}

    def losses(
        self,
        x: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> dict[str, list[torch.Tensor]]:
        """Forward the features and return the losses (one tensor per level each); ``rois`` as
        in ``loss_by_feat``."""
        losses = self.loss_by_feat(self(x), gts, metas, rois=rois)
        if losses is None:
            raise RuntimeError(
                "no anchor lies inside an image of the batch (img_shape smaller than every anchor centre); "
                "check the pipeline's resize and the anchor strides"
            )
        return losses

    # -- inference -----------------------------------------------------------------------------

    def _batch_get_bboxes(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None,
        rescale: bool,
        with_nms: bool,
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Split per-level batch outputs per image and decode each image (against ``rois``, per
        image and level, instead of the grid's anchors when given)."""
        levels = self._named(outs)
        featmap_sizes = [level["cls_score"].shape[-2:] for level in levels]
        if self._checked_rois(rois, featmap_sizes, len(metas)) is None:
            mlvl_anchors = self.anchor_generator.grid_priors(
                featmap_sizes, device=levels[0]["cls_score"].device
            )
        cfg = self.test_cfg if cfg is None else to_config(cfg)
        results = []
        for img_id, meta in enumerate(metas):
            mlvl_bboxes, mlvl_scores = [], []
            image_anchors = mlvl_anchors if rois is None else [r.detach() for r in rois[img_id]]
            for level, anchors in zip(levels, image_anchors):
                preds = {name: t[img_id].detach() for name, t in level.items()}
                bboxes, scores = self._decode_level(preds, anchors, meta.img_shape, cfg)
                mlvl_bboxes.append(bboxes)
                mlvl_scores.append(scores)
            results.append(
                self._finish_bboxes(mlvl_bboxes, mlvl_scores, meta.scale_factor, cfg, rescale, with_nms)
            )
        return results

    @property
    def supports_aug_candidates(self) -> bool:
        """Whether :meth:`predict_candidates` works: a detection head on the grid's anchors (not
        a refine head's rois, not the RPN)."""
        return not self.needs_rois and not self.class_agnostic

    def predict_candidates(
        self, x: Sequence[torch.Tensor], metas: Sequence[ImageMeta]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image, the candidates before NMS in original-image pixels: boxes (n, 5) and scores
        (n, C + 1) (background last), ``get_bboxes(..., rescale=True, with_nms=False)``: what
        MMRotate 0.3.4's ``aug_test`` merges (``rdet_models.tta.merge_aug_candidates``)."""
        if not self.supports_aug_candidates:
            raise TypeError(
                f"{type(self).__name__} (a refine head or the RPN) has no candidates of its own to merge"
            )
        return self._batch_get_bboxes(self(x), as_metas(metas), None, True, False)

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
        if not needs_topk(scores.shape[0], nms_pre):
            return scores, flat
        max_scores = scores.max(dim=1)[0] if self.use_sigmoid_cls else scores[:, :-1].max(dim=1)[0]
        topk = topk_indices(max_scores, nms_pre)
        return scores[topk, :], tuple(t[topk, :] for t in flat)

    def _decode_level(
        self, preds: Mapping[str, torch.Tensor], anchors: torch.Tensor, img_shape: Sequence[int], cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's level: ``preds`` by ``pred_names`` ((A*C, H, W) maps), ``anchors``
        (H*W*A, 5) -> the ``nms_pre`` best anchors' boxes (k, 5) and scores (k, C[+1])."""
        scores, (anchors, bbox_pred) = self._level_topk(
            preds["cls_score"], cfg, anchors, preds["bbox_pred"].permute(1, 2, 0).reshape(-1, self.reg_dim)
        )
        return self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape), scores

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
        if rescale:  # to the original image (an anisotropic resize through the corners)
            bboxes = rescale_rboxes(bboxes, scale_factor, self)
        scores = torch.cat(mlvl_scores)
        if self.use_sigmoid_cls:
            scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
        if with_nms:
            return multiclass_nms_rotated(bboxes, scores, cfg.score_thr, cfg.nms, cfg.max_per_img)
        return bboxes, scores
