"""Single-stage RoI heads of MMRotate 0.3.x: ``RotatedStandardRoIHead`` (horizontal proposals,
Rotated Faster R-CNN), ``OrientedStandardRoIHead`` (rotated proposals, Oriented R-CNN) and
``GVRatioRoIHead`` (Gliding Vertex)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from rbox_geometry import obb2xyxy
from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_assigner, build_head, build_sampler
from rdet_models.init import BaseModule
from rdet_models.mmdet_compat import as_metas
from rdet_models.registry import MODELS
from rdet_models.roi_heads.mmdet_adapters import RoIHeadAdapters
from rdet_models.roi_heads.transforms import bbox2roi, rbbox2roi
from rdet_models.samplers import SamplingResult
from rdet_models.utils import to_config

__all__ = [
    "GVRatioRoIHead",
    "OrientedStandardRoIHead",
    "RotatedStandardRoIHead",
    "assign_and_sample",
    "dets_per_image",
]


def _empty_dets(ref: torch.Tensor) -> Detections:
    return Detections(ref.new_zeros(0, 5), ref.new_zeros(0), ref.new_zeros((0,), dtype=torch.long))


def dets_per_image(
    bbox_head: Any,
    rois_per_img: Sequence[torch.Tensor],
    preds_per_img: Mapping[str, Sequence[torch.Tensor]],
    metas: Sequence[ImageMeta],
    cfg: Any,
    rescale: bool,
) -> list[Detections]:
    """``bbox_head.predict_rois`` on each image's rois and predictions (``preds_per_img``: by
    name, per image); no detections for an image without rois."""
    dets = []
    for i, meta in enumerate(metas):
        if rois_per_img[i].shape[0] == 0:
            dets.append(_empty_dets(rois_per_img[i]))
        else:
            preds = {name: p[i] for name, p in preds_per_img.items()}
            dets.append(bbox_head.predict_rois(rois_per_img[i], preds, meta, cfg, rescale))
    return dets


def assign_and_sample(
    x: Sequence[torch.Tensor],
    proposal_list: Sequence[torch.Tensor],
    gts: Sequence[GroundTruth],
    assigner: Any,
    sampler: Any,
    assign_gt: Callable[[torch.Tensor], torch.Tensor],
) -> list[SamplingResult]:
    """Assign and sample each image's proposals against ``assign_gt(gt.boxes)``; the positives
    then regress the rotated ground truths (``pos_gt_bboxes``), as MMRotate's RoI heads."""
    results = []
    for j, (proposals, gt) in enumerate(zip(proposal_list, gts)):
        assign_boxes = assign_gt(gt.boxes)
        assign_result = assigner.assign(proposals, assign_boxes, gt.boxes_ignore, gt.labels)
        res = sampler.sample(
            assign_result, proposals, assign_boxes, gt.labels, feats=[lvl[j][None] for lvl in x]
        )
        if gt.boxes.numel() == 0:
            res.pos_gt_bboxes = gt.boxes.new_zeros((0, gt.boxes.size(-1)))
        else:
            res.pos_gt_bboxes = gt.boxes[res.pos_assigned_gt_inds.long(), :]
        results.append(res)
    return results


@MODELS.register_module()
class RotatedStandardRoIHead(RoIHeadAdapters, BaseModule):
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
        """The box head's outputs on ``rois`` by its ``pred_names``, and the pooled ``bbox_feats``."""
        bbox_feats = self.bbox_roi_extractor(x[: self.bbox_roi_extractor.num_inputs], rois)
        outs = self.bbox_head(bbox_feats)
        return dict(zip(self.bbox_head.pred_names, outs), bbox_feats=bbox_feats)

    def forward_dummy(self, x: Sequence[torch.Tensor], proposals: torch.Tensor) -> tuple[torch.Tensor, ...]:
        res = self._bbox_forward(x, self.to_rois([proposals]))
        return tuple(res[n] for n in self.bbox_head.pred_names)

    # -- training ------------------------------------------------------------------------------

    def _assign_gt(self, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """The ground truths the proposals are matched against (here: enclosing boxes)."""
        return obb2xyxy(gt_bboxes, self.version)

    def losses(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
    ) -> dict[str, torch.Tensor]:
        """``loss_cls``, ``acc``, ``loss_bbox`` (and the box head's other terms) of the sampled
        proposals (per image (k, 4[+1]) horizontal or (k, 5[+1]) rotated)."""
        if not self.with_bbox:
            return {}
        sampling_results = assign_and_sample(
            x, proposal_list, gts, self.bbox_assigner, self.bbox_sampler, self._assign_gt
        )
        rois = self.to_rois([res.bboxes for res in sampling_results])
        preds = self._bbox_forward(x, rois)
        targets = self.bbox_head.get_targets(sampling_results, self.train_cfg)
        return self.bbox_head.loss_by_targets(preds, rois, targets)

    # -- inference -----------------------------------------------------------------------------

    def _test_cfg(self, cfg: Any) -> Any:
        """The NMS settings of the test: ``cfg`` when given, else ``test_cfg``."""
        return self.test_cfg if cfg is None else cfg

    def predict(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        metas: Sequence[ImageMeta],
        rescale: bool = True,
        cfg: Any = None,
    ) -> list[Detections]:
        """Per image, the box head's decoded boxes after ``multiclass_nms_rotated`` (``test_cfg``
        or ``cfg``: score_thr, nms, max_per_img), in original-image pixels with ``rescale``."""
        metas = as_metas(metas)
        rois = self.to_rois(proposal_list)
        if rois.shape[0] == 0:
            return [_empty_dets(rois) for _ in proposal_list]
        preds = self._bbox_forward(x, rois)
        num_per_img = tuple(len(p) for p in proposal_list)
        per_img = {n: preds[n].split(num_per_img, 0) for n in self.bbox_head.pred_names}
        return dets_per_image(
            self.bbox_head, rois.split(num_per_img, 0), per_img, metas, self._test_cfg(cfg), rescale
        )

    @property
    def num_classes(self) -> int:
        return self.bbox_head.num_classes


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

    def _test_cfg(self, cfg: Any) -> Any:
        # MMRotate passes the head's own test_cfg here, whatever the caller gives
        return self.test_cfg
