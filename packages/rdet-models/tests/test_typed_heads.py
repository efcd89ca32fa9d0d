"""The typed internals: heads take ``ImageMeta`` / ``GroundTruth`` and return named targets; the
MMDetection-style signatures are thin adapters that give the same numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

import rdet_models
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta, detections_to_result
from rdet_models.heads import RotatedRetinaHead
from rdet_models.mmdet_compat import as_metas, gts_from_lists, meta_from_dict
from rdet_models.registry import MODELS
from rdet_models.targets import AnchorTargets, LevelTargets, RoITargets


def _sibling(name: str) -> ModuleType:
    """A test module beside this one (pytest runs with --import-mode=importlib: no sibling imports)."""
    spec = importlib.util.spec_from_file_location(
        f"_typed_heads_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_detector = _sibling("test_detector")
GOOD, batch, gt, small_retinanet = _detector.GOOD, _detector.batch, _detector.gt, _detector.small_retinanet


def _typed_inputs(model: torch.nn.Module) -> tuple[list[torch.Tensor], list[GroundTruth], list[ImageMeta]]:
    b = batch([gt(GOOD, [0, 1]), gt(GOOD[:1], [2])])
    return model.extract_feat(b.images), list(b.gts or []), b.metas


def test_anchor_targets_are_named_and_split_per_level() -> None:
    model = small_retinanet()
    x, gts, metas = _typed_inputs(model)
    head = model.bbox_head
    cls_scores, _ = head(x)
    anchors, flags = head.get_anchors([c.shape[-2:] for c in cls_scores], metas, device="cpu")
    targets = head.get_targets(anchors, flags, gts, metas)
    assert isinstance(targets, AnchorTargets) and targets.num_levels == 5
    for lvl, score in enumerate(cls_scores):
        t = targets.level(lvl)
        assert isinstance(t, LevelTargets)
        num = score.shape[-2] * score.shape[-1] * head.num_anchors
        assert t.labels.shape == (2, num) and t.bbox_targets.shape == (2, num, 5)
        assert t.anchors.shape == (2, num, 5) and t.avg_factor == targets.avg_factor
    positives = sum(int((lbl < head.num_classes).sum()) for lbl in targets.labels)
    assert positives == sum(len(r.pos_inds) for r in targets.sampling_results) > 0
    assert targets.avg_factor == targets.num_total_pos  # focal loss: no sampling
    assert targets.extra == {}


def test_csl_head_returns_its_angle_targets_by_name() -> None:
    model = small_retinanet(
        "CSLRRetinaHead",
        angle_coder=dict(type="CSLCoder", angle_version="le90", omega=4, window="gaussian", radius=3),
    )
    x, gts, metas = _typed_inputs(model)
    head = model.bbox_head
    outs = head(x)
    anchors, flags = head.get_anchors([c.shape[-2:] for c in outs[0]], metas, device="cpu")
    targets = head.get_targets(anchors, flags, gts, metas)
    assert set(targets.extra) == {"angle_targets", "angle_weights"}
    assert targets.extra["angle_targets"][0].shape[-1] == head.coding_len
    assert targets.extra["angle_weights"][0].shape[-1] == 1
    losses = head.loss_by_feat(outs, gts, metas)
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_angle"} and len(losses["loss_angle"]) == 5


def test_mmdetection_adapters_give_the_typed_numbers() -> None:
    model = small_retinanet()
    b = batch([gt(GOOD, [0, 1]), gt(GOOD[:1], [2])])
    typed = model.loss(b)
    metas = [m.as_mmrotate() for m in b.metas]
    untyped = model.forward_train(b.images, metas, [g.boxes for g in b.gts], [g.labels for g in b.gts])
    assert set(typed) == set(untyped)
    for name in typed:
        assert all(torch.equal(a, c) for a, c in zip(typed[name], untyped[name]))
    x = model.extract_feat(b.images)
    head_losses = model.bbox_head.loss(
        *model.bbox_head(x), [g.boxes for g in b.gts], [g.labels for g in b.gts], metas
    )
    assert all(torch.equal(a, c) for a, c in zip(typed["loss_cls"], head_losses["loss_cls"]))
    model.eval()
    dets = model.predict(DetBatch(b.images, b.metas))
    with torch.no_grad():
        results = model.simple_test(b.images, [m.as_mmrotate() for m in b.metas], rescale=True)
    for d, r in zip(dets, results):
        for a, c in zip(detections_to_result(d, 3), r):
            np.testing.assert_array_equal(a, c)


def test_roi_targets_name_the_gliding_vertex_extras(configs_dir) -> None:  # type: ignore[no-untyped-def]
    model = _sibling("test_two_stage").small_detector("GlidingVertex")
    b = batch([gt(GOOD, [0, 1]), gt(GOOD[:1], [2])])
    x = model.extract_feat(b.images)
    gts = [model._gt_on_device(g) for g in b.gts]
    proposals = model.rpn_head.proposals(x, b.metas)
    from rdet_models.roi_heads.standard_roi_head import assign_and_sample

    roi_head = model.roi_head
    results = assign_and_sample(
        x, proposals, gts, roi_head.bbox_assigner, roi_head.bbox_sampler, roi_head._assign_gt
    )
    targets = roi_head.bbox_head.get_targets(results, roi_head.train_cfg)
    assert isinstance(targets, RoITargets)
    total = sum(len(r.bboxes) for r in results)
    assert targets.labels.shape == (total,) and targets.bbox_targets.shape == (total, 4)
    assert {k: tuple(v.shape) for k, v in targets.extra.items()} == {
        "fix_targets": (total, 4),
        "fix_weights": (total, 4),
        "ratio_targets": (total, 1),
        "ratio_weights": (total, 1),
    }


def test_meta_dicts_round_trip_and_bad_gt_lists_are_named() -> None:
    meta = ImageMeta(
        "a.png", (50, 60, 3), (100, 120, 3), (128, 128, 3), [2.0] * 4, True, "vertical", {"k": 1}
    )
    back = meta_from_dict(meta.as_mmrotate())
    assert back.filename == "a.png" and back.pad_shape == (128, 128, 3) and back.flip_direction == "vertical"
    np.testing.assert_array_equal(back.scale_factor, meta.scale_factor)
    assert back.extra == {"k": 1}
    assert as_metas([meta])[0] is meta
    with pytest.raises(KeyError, match="img_shape"):
        meta_from_dict({"filename": "x.png"})
    with pytest.raises(ValueError, match="gt_labels"):
        gts_from_lists([torch.zeros(2, 5)], [])
    gts = gts_from_lists([torch.zeros(2, 5)], None, [torch.ones(1, 5)])
    assert gts[0].labels.tolist() == [0, 0] and gts[0].labels_ignore.tolist() == [-1]


class _QualityRetinaHead(RotatedRetinaHead):
    """The README's example: a third output (a per-anchor quality logit) with a target of its own."""

    pred_names = ("cls_score", "bbox_pred", "quality")

    def _init_layers(self) -> None:
        super()._init_layers()
        self.retina_quality = nn.Conv2d(self.feat_channels, self.num_anchors, 3, padding=1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cls_feat, reg_feat = self._towers(x)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat), self.retina_quality(reg_feat)

    def _extra_targets(self, anchors, sampling_result, pos_targets):  # type: ignore[no-untyped-def]
        quality = anchors.new_zeros(anchors.shape[0])
        quality[sampling_result.pos_inds] = 1.0
        return {"quality": quality}

    def loss_level(self, preds, t):  # type: ignore[no-untyped-def]
        losses = super().loss_level(preds, t)
        logits = preds["quality"].permute(0, 2, 3, 1).reshape(-1)
        losses["loss_quality"] = (
            nn.functional.binary_cross_entropy_with_logits(
                logits, t.extra["quality"].reshape(-1), reduction="sum"
            )
            / t.avg_factor
        )
        return losses


def test_a_new_head_adds_an_output_and_a_target_by_name() -> None:
    MODELS.register_module(name="_QualityRetinaHead", module=_QualityRetinaHead)
    try:
        model = small_retinanet("_QualityRetinaHead")
        b = batch([gt(GOOD, [0, 1]), gt(GOOD[:1], [2])])
        losses = model.loss(b)
        assert set(losses) == {"loss_cls", "loss_bbox", "loss_quality"}
        total, _ = rdet_models.parse_losses(losses)
        total.backward()
        assert model.bbox_head.retina_quality.weight.grad.abs().sum() > 0
        model.eval()
        dets = model.predict(DetBatch(b.images, b.metas))
        assert len(dets) == 2 and dets[0].boxes.shape[1] == 5
    finally:
        MODELS._module_dict.pop("_QualityRetinaHead", None)
