"""Single-stage RoI heads of MMRotate 0.3.x: ``RotatedStandardRoIHead`` (horizontal proposals,
Rotated Faster R-CNN), ``OrientedStandardRoIHead`` (rotated proposals, Oriented R-CNN) and
``GVRatioRoIHead`` (Gliding Vertex)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from rbox_geometry import obb2xyxy
from rdet_models.builder import build_assigner, build_head, build_sampler
from rdet_models.init import BaseModule
from rdet_models.postprocess import rbbox2result
from rdet_models.registry import MODELS
from rdet_models.roi_heads.transforms import bbox2roi, rbbox2roi
from rdet_models.utils import to_config

__all__ = ["GVRatioRoIHead", "OrientedStandardRoIHead", "RotatedStandardRoIHead", "assign_and_sample"]


def _empty_dets(ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return ref.new_zeros(0, 6), ref.new_zeros((0,), dtype=torch.long)


def _all_empty_dets(rois: torch.Tensor, num_imgs: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    empty = _empty_dets(rois)
    return [empty[0]] * num_imgs, [empty[1]] * num_imgs


def _dets_per_image(
    bbox_head: Any,
    rois_per_img: Sequence[torch.Tensor],
    preds_per_img: Sequence[Sequence[torch.Tensor]],
    img_metas: Sequence[dict],
    cfg: Any,
    rescale: bool,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``bbox_head.get_bboxes`` on each image's rois and predictions (``preds_per_img``: per
    output, per image); no detections for an image without rois."""
    det_bboxes, det_labels = [], []
    for i, meta in enumerate(img_metas):
        if rois_per_img[i].shape[0] == 0:
            det_bbox, det_label = _empty_dets(rois_per_img[i])
        else:
            det_bbox, det_label = bbox_head.get_bboxes(
                rois_per_img[i],
                *(p[i] for p in preds_per_img),
                meta["img_shape"],
                meta["scale_factor"],
                rescale=rescale,
                cfg=cfg,
            )
        det_bboxes.append(det_bbox)
        det_labels.append(det_label)
    return det_bboxes, det_labels


def assign_and_sample(
    x: Sequence[torch.Tensor],
    proposal_list: Sequence[torch.Tensor],
    gt_bboxes: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor],
    gt_bboxes_ignore: Sequence[torch.Tensor | None] | None,
    assigner: Any,
    sampler: Any,
    assign_gt: Callable[[torch.Tensor], torch.Tensor],
) -> list[Any]:
    """Assign and sample each image's proposals against ``assign_gt(gt)``; the positives then
    regress the rotated ground truths (``pos_gt_bboxes``), as MMRotate's RoI heads."""
    if gt_bboxes_ignore is None:
        gt_bboxes_ignore = [None] * len(proposal_list)
    results = []
    for j, proposals in enumerate(proposal_list):
        gt = assign_gt(gt_bboxes[j])
        assign_result = assigner.assign(proposals, gt, gt_bboxes_ignore[j], gt_labels[j])
        res = sampler.sample(assign_result, proposals, gt, gt_labels[j], feats=[lvl[j][None] for lvl in x])
        if gt_bboxes[j].numel() == 0:
            res.pos_gt_bboxes = gt_bboxes[j].new_zeros((0, gt_bboxes[j].size(-1)))
        else:
            res.pos_gt_bboxes = gt_bboxes[j][res.pos_assigned_gt_inds.long(), :]
        results.append(res)
    return results


@MODELS.register_module()
class RotatedStandardRoIHead(BaseModule):
    """RoI extractor + box head on horizontal proposals ``(x1, y1, x2, y2[, score])``.

    Training assigns and samples the proposals against the ground truths' enclosing boxes
    (``obb2xyxy``), then regresses the rotated ground truths. Test: per image, the box
    head's decoded boxes after ``multiclass_nms_rotated`` (``test_cfg``: score_thr, nms,
    max_per_img).

    Args:
        bbox_roi_extractor, bbox_head: component configs.
        train_cfg: ``assigner``, ``sampler``, ``pos_weight``.
        version: angle version (for the enclosing boxes).
    """

    #: the RoI-tensor builder of the proposals
    to_rois = staticmethod(bbox2roi)
    #: names of the box head's outputs, in order
    pred_names: tuple[str, ...] = ("cls_score", "bbox_pred")

    def __init__(
        self,
        bbox_roi_extractor: dict | None = None,
        bbox_head: dict | None = None,
        shared_head: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
        version: str = "oc",
    ) -> None:
        super().__init__(init_cfg)
        if shared_head is not None:
            raise NotImplementedError("shared_head (ResNet C4 RoI heads) is not supported")
        self.train_cfg, self.test_cfg = to_config(train_cfg), to_config(test_cfg)
        self.version = version
        if bbox_head is not None:
            self.init_bbox_head(bbox_roi_extractor, bbox_head)
        self.init_assigner_sampler()
        self.with_bbox = bbox_head is not None
        self.with_shared_head = False

    def init_assigner_sampler(self) -> None:
        self.bbox_assigner = self.bbox_sampler = None
        if self.train_cfg:
            self.bbox_assigner = build_assigner(self.train_cfg.assigner)
            self.bbox_sampler = build_sampler(self.train_cfg.sampler, context=self)

    def init_bbox_head(self, bbox_roi_extractor: dict | None, bbox_head: dict) -> None:
        if bbox_roi_extractor is None:
            raise ValueError(f"{type(self).__name__} needs a bbox_roi_extractor")
        self.bbox_roi_extractor = build_head(bbox_roi_extractor)
        self.bbox_head = build_head(bbox_head)

    # -- forward -------------------------------------------------------------------------------

    def _bbox_forward(self, x: Sequence[torch.Tensor], rois: torch.Tensor) -> dict[str, torch.Tensor]:
        bbox_feats = self.bbox_roi_extractor(x[: self.bbox_roi_extractor.num_inputs], rois)
        outs = self.bbox_head(bbox_feats)
        return dict(zip(self.pred_names, outs), bbox_feats=bbox_feats)

    def forward_dummy(self, x: Sequence[torch.Tensor], proposals: torch.Tensor) -> tuple[torch.Tensor, ...]:
        res = self._bbox_forward(x, self.to_rois([proposals]))
        return tuple(res[n] for n in self.pred_names)

    # -- training ------------------------------------------------------------------------------

    def _assign_gt(self, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """The ground truths the proposals are matched against (here: enclosing boxes)."""
        return obb2xyxy(gt_bboxes, self.version)

    def forward_train(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        proposal_list: Sequence[torch.Tensor],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
        gt_masks: Any = None,
        **kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        """``loss_cls``, ``acc``, ``loss_bbox`` (and the box head's other terms)."""
        if not self.with_bbox:
            return {}
        sampling_results = assign_and_sample(
            x,
            proposal_list,
            gt_bboxes,
            gt_labels,
            gt_bboxes_ignore,
            self.bbox_assigner,
            self.bbox_sampler,
            self._assign_gt,
        )
        return self._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas)["loss_bbox"]

    def _bbox_forward_train(
        self,
        x: Sequence[torch.Tensor],
        sampling_results: Sequence[Any],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
    ) -> dict[str, Any]:
        rois = self.to_rois([res.bboxes for res in sampling_results])
        bbox_results = self._bbox_forward(x, rois)
        targets = self.bbox_head.get_targets(sampling_results, gt_bboxes, gt_labels, self.train_cfg)
        preds = [bbox_results[n] for n in self.pred_names]
        bbox_results.update(loss_bbox=self.bbox_head.loss(*preds, rois, *targets))
        return bbox_results

    # -- inference -----------------------------------------------------------------------------

    def simple_test_bboxes(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        proposals: Sequence[torch.Tensor],
        rcnn_test_cfg: Any,
        rescale: bool = False,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image: dets (k, 6) ``(cx, cy, w, h, theta, score)`` and labels (k,)."""
        rois = self.to_rois(proposals)
        if rois.shape[0] == 0:
            return _all_empty_dets(rois, len(proposals))
        bbox_results = self._bbox_forward(x, rois)
        num_per_img = tuple(len(p) for p in proposals)
        preds = [bbox_results[n].split(num_per_img, 0) for n in self.pred_names]
        return _dets_per_image(
            self.bbox_head, rois.split(num_per_img, 0), preds, img_metas, rcnn_test_cfg, rescale
        )

    def simple_test(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        rescale: bool = False,
    ) -> list[list[Any]]:
        """Per image, MMRotate's result: a list per class of (k, 6) arrays."""
        det_bboxes, det_labels = self.simple_test_bboxes(
            x, img_metas, proposal_list, self.test_cfg, rescale=rescale
        )
        return [rbbox2result(b, lbl, self.bbox_head.num_classes) for b, lbl in zip(det_bboxes, det_labels)]

    def aug_test(self, x: Any, proposal_list: Any, img_metas: Any, rescale: bool = False) -> Any:
        raise NotImplementedError("test-time augmentation (aug_test) is not supported yet")


@MODELS.register_module()
class OrientedStandardRoIHead(RotatedStandardRoIHead):
    """Oriented R-CNN's RoI head: rotated proposals ``(cx, cy, w, h, theta[, score])``, matched
    against the rotated ground truths (``RBboxOverlaps2D``), rotated rois (``RoIAlignRotated``)."""

    to_rois = staticmethod(rbbox2roi)

    def _assign_gt(self, gt_bboxes: torch.Tensor) -> torch.Tensor:
        return gt_bboxes


@MODELS.register_module()
class GVRatioRoIHead(RotatedStandardRoIHead):
    """Gliding Vertex's RoI head: horizontal proposals, ``GVBBoxHead``'s four outputs."""

    pred_names = ("cls_score", "bbox_pred", "fix_pred", "ratio_pred")

    def simple_test_bboxes(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        proposals: Sequence[torch.Tensor],
        rcnn_test_cfg: Any,
        rescale: bool = False,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # MMRotate passes the head's own test_cfg here, whatever the caller gives
        return super().simple_test_bboxes(x, img_metas, proposals, self.test_cfg, rescale)
