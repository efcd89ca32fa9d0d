"""``RoITransRoIHead``: RoI Transformer's cascade (MMRotate 0.3.x).

Stage 0 pools horizontal proposals (``SingleRoIExtractor``) and regresses rotated boxes
(``DeltaXYWHAHBBoxCoder``); stage 1 pools those rotated rois (``RotatedSingleRoIExtractor``)
and refines them (``DeltaXYWHAOBBoxCoder``). At test time the class scores (logits) of the
stages are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rbox_geometry import obb2xyxy
from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.builder import build_assigner, build_head, build_sampler
from rdet_models.init import BaseModule, ModuleList
from rdet_models.mmdet_compat import as_metas
from rdet_models.registry import MODELS
from rdet_models.roi_heads.mmdet_adapters import RoIHeadAdapters
from rdet_models.roi_heads.standard_roi_head import _empty_dets, assign_and_sample, dets_per_image
from rdet_models.roi_heads.transforms import bbox2roi, rbbox2roi
from rdet_models.utils import to_config

__all__ = ["RoITransRoIHead"]


@MODELS.register_module()
class RoITransRoIHead(RoIHeadAdapters, BaseModule):
    """A cascade of ``num_stages`` (extractor, box head) pairs; stage 0 horizontal, the others rotated.

    Args:
        num_stages: stages (2 in every MMRotate config).
        stage_loss_weights: each stage's loss multiplier.
        bbox_roi_extractor / bbox_head: one config per stage (or one shared by all).
        train_cfg: a list, per stage, of ``assigner``, ``sampler``, ``pos_weight``.
        version: angle version (stage 0 assigns by the ground truths' enclosing boxes).

    Losses are named ``s{stage}.loss_cls``, ``s{stage}.acc``, ``s{stage}.loss_bbox``.
    """

    def __init__(
        self,
        num_stages: int,
        stage_loss_weights: Sequence[float],
        bbox_roi_extractor: dict | list[dict] | None = None,
        bbox_head: dict | list[dict] | None = None,
        shared_head: dict | None = None,
        train_cfg: list[dict] | None = None,
        test_cfg: dict | None = None,
        pretrained: str | None = None,
        version: str = "oc",
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if bbox_roi_extractor is None or bbox_head is None:
            raise ValueError("RoITransRoIHead needs bbox_roi_extractor and bbox_head")
        if shared_head is not None:
            raise ValueError("shared_head is not supported in cascade RoI heads")
        super().__init__(init_cfg)
        if len(stage_loss_weights) != num_stages:
            raise ValueError(f"{len(stage_loss_weights)} stage_loss_weights for {num_stages} stages")
        self.num_stages, self.stage_loss_weights = num_stages, list(stage_loss_weights)
        self.train_cfg = None if train_cfg is None else [to_config(c) for c in train_cfg]
        self.test_cfg = to_config(test_cfg)
        self.version = version
        self.init_bbox_head(bbox_roi_extractor, bbox_head)
        self.init_assigner_sampler()
        self.with_bbox = True

    def init_bbox_head(self, bbox_roi_extractor: dict | list[dict], bbox_head: dict | list[dict]) -> None:
        extractors = (
            bbox_roi_extractor
            if isinstance(bbox_roi_extractor, list)
            else [bbox_roi_extractor] * self.num_stages
        )
        heads = bbox_head if isinstance(bbox_head, list) else [bbox_head] * self.num_stages
        if not len(extractors) == len(heads) == self.num_stages:
            raise ValueError(
                f"{len(extractors)} extractors and {len(heads)} heads for {self.num_stages} stages"
            )
        self.bbox_roi_extractor = ModuleList(build_head(c) for c in extractors)
        self.bbox_head = ModuleList(build_head(c) for c in heads)

    def init_assigner_sampler(self) -> None:
        self.bbox_assigner: list[Any] = []
        self.bbox_sampler: list[Any] = []
        if self.train_cfg is not None:
            if len(self.train_cfg) != self.num_stages:
                raise ValueError(f"train_cfg has {len(self.train_cfg)} stages, the head {self.num_stages}")
            for idx, cfg in enumerate(self.train_cfg):
                self.bbox_assigner.append(build_assigner(cfg.assigner))
                self.current_stage = idx
                self.bbox_sampler.append(build_sampler(cfg.sampler, context=self))

    def _to_rois(self, stage: int, boxes: Sequence[torch.Tensor]) -> torch.Tensor:
        return bbox2roi(boxes) if stage == 0 else rbbox2roi(boxes)

    def _bbox_forward(
        self, stage: int, x: Sequence[torch.Tensor], rois: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        extractor = self.bbox_roi_extractor[stage]
        bbox_feats = extractor(x[: extractor.num_inputs], rois)
        cls_score, bbox_pred = self.bbox_head[stage](bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def forward_dummy(self, x: Sequence[torch.Tensor], proposals: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs: tuple[torch.Tensor, ...] = ()
        rois = bbox2roi([proposals])
        for i in range(self.num_stages):
            res = self._bbox_forward(i, x, rois if i == 0 else rbbox2roi([proposals]))
            outs = outs + (res["cls_score"], res["bbox_pred"])
        return outs

    def losses(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
    ) -> dict[str, torch.Tensor]:
        """``s{stage}.loss_cls``, ``s{stage}.acc``, ``s{stage}.loss_bbox`` of every stage; each
        stage's refined rois are the next stage's proposals."""
        if self.train_cfg is None:
            raise RuntimeError("RoITransRoIHead needs train_cfg (the model's train_cfg.rcnn) to train")
        losses: dict[str, torch.Tensor] = {}
        for i in range(self.num_stages):
            self.current_stage = i
            assign_gt = (lambda g: obb2xyxy(g, self.version)) if i == 0 else (lambda g: g)
            sampling_results = assign_and_sample(
                x, proposal_list, gts, self.bbox_assigner[i], self.bbox_sampler[i], assign_gt
            )
            rois = self._to_rois(i, [res.bboxes for res in sampling_results])
            preds = self._bbox_forward(i, x, rois)
            head = self.bbox_head[i]
            targets = head.get_targets(sampling_results, self.train_cfg[i])
            stage_losses = head.loss_by_targets(preds, rois, targets)
            lw = self.stage_loss_weights[i]
            for name, value in stage_losses.items():
                losses[f"s{i}.{name}"] = value * lw if "loss" in name else value
            if i < self.num_stages - 1:  # the next stage's proposals: this stage's refined rois
                pos_is_gts = [res.pos_is_gt for res in sampling_results]
                with torch.no_grad():
                    cls_score = preds["cls_score"]
                    if head.custom_activation:
                        cls_score = head.loss_cls.get_activation(cls_score)
                    roi_labels = torch.where(
                        targets.labels == head.num_classes, cls_score[:, :-1].argmax(1), targets.labels
                    )
                    proposal_list = head.refine_bboxes(
                        rois, roi_labels, preds["bbox_pred"], pos_is_gts, metas
                    )
        return losses

    def predict(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        metas: Sequence[ImageMeta],
        rescale: bool = True,
        cfg: Any = None,
    ) -> list[Detections]:
        """Per image, the last stage's boxes scored by the mean of the stages' class scores,
        after NMS (``test_cfg`` or ``cfg``)."""
        metas = as_metas(metas)
        num_imgs = len(proposal_list)
        rois = bbox2roi(proposal_list)
        if rois.shape[0] == 0:
            return [_empty_dets(rois) for _ in range(num_imgs)]
        num_per_img = tuple(len(p) for p in proposal_list)
        ms_scores = []
        for i in range(self.num_stages):
            preds = self._bbox_forward(i, x, rois)
            rois_per_img = rois.split(num_per_img, 0)
            cls_score = preds["cls_score"].split(num_per_img, 0)
            bbox_pred = preds["bbox_pred"].split(num_per_img, 0)
            ms_scores.append(cls_score)
            if i < self.num_stages - 1:
                head = self.bbox_head[i]
                act = (
                    [head.loss_cls.get_activation(s) for s in cls_score]
                    if head.custom_activation
                    else cls_score
                )
                rois = torch.cat(
                    [
                        head.regress_by_class(
                            rois_per_img[j], act[j][:, :-1].argmax(dim=1), bbox_pred[j], metas[j]
                        )
                        for j in range(num_imgs)
                    ]
                )
        mean_scores = [sum(s[j] for s in ms_scores) / float(len(ms_scores)) for j in range(num_imgs)]
        return dets_per_image(
            self.bbox_head[-1],
            rois_per_img,
            dict(cls_score=mean_scores, bbox_pred=bbox_pred),
            metas,
            self.test_cfg if cfg is None else cfg,
            rescale,
        )

    @property
    def num_classes(self) -> int:
        return self.bbox_head[-1].num_classes
