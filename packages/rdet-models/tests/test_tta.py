"""Test-time augmentation (``rdet_models.tta``): augmented candidates (MMRotate 0.3.4's
``aug_test``) or detections (MMRotate 1.x's ``RotatedTTAModel``) mapped back to the original
image and merged by class-wise rotated NMS with the model's ``test_cfg``; the detectors'
``predict(list)``, ``detect_aug`` and MMDetection's ``aug_test``; bad settings named."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import rbox_geometry as rg
import rdet_models
from rbox_ops import nms_rotated
from rdet_core.structures import DetBatch, Detections, ImageMeta
from rdet_models.tta import (
    TTAConfig,
    TTAConfigError,
    merge_aug_candidates,
    merge_aug_detections,
    model_angle_version,
    resolve_tta_cfg,
    unmap_detections,
)

H, W = 96, 128


def small_retinanet() -> torch.nn.Module:
    """A tiny Rotated RetinaNet (le90) at random weights, score_thr 0: 20 detections per image."""
    cfg = dict(
        type="RotatedRetinaNet",
        backbone=dict(type="ResNet", depth=18, base_channels=8, frozen_stages=1, norm_eval=True),
        neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=16, start_level=1,
                  add_extra_convs="on_input", num_outs=5),
        bbox_head=dict(
            type="RotatedRetinaHead", num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
            anchor_generator=dict(type="RotatedAnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                                  ratios=[1.0, 0.5, 2.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type="DeltaXYWHAOBBoxCoder", angle_range="le90", edge_swap=True, proj_xy=True),
        ),
        test_cfg=dict(nms_pre=200, min_bbox_size=0, score_thr=0.0, nms=dict(iou_thr=0.1), max_per_img=20),
    )  # fmt: skip
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg)
    model.init_weights()
    return model


def _boxes(version: str, n: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b = np.stack(
        [
            rng.uniform(0, W, n),
            rng.uniform(0, H, n),
            rng.uniform(4, 40, n),
            rng.uniform(4, 40, n),
            rng.uniform(-math.pi, math.pi, n),
        ],
        1,
    )
    return np.asarray(rg.regularize(b, version))


def _same_rects(a: np.ndarray, b: np.ndarray, version: str) -> None:
    """Equal boxes after regularisation (1e-3 px / rad)."""
    a, b = np.asarray(rg.regularize(a, version)), np.asarray(rg.regularize(b, version))
    d = np.abs(a - b)
    d[:, 4] = np.minimum(d[:, 4], math.pi - d[:, 4])  # a square's angle is defined mod pi/2 only... and pi
    assert d.max() <= 1e-3, d.max()


@pytest.mark.parametrize("version", ["oc", "le135", "le90"])
@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_unmap_undoes_the_flip_of_rrandomflip(version: str, direction: str) -> None:
    """The boxes of a flipped image, unmapped, are the original boxes (the flip of a rotated box:
    cx -> W - cx, theta -> -theta horizontally; cy -> H - cy, theta -> -theta vertically; both
    for diagonal), regularised to the version."""
    boxes = _boxes(version)
    flipped = np.asarray(rg.flip_rboxes(boxes, (H, W), direction, version, pixel_offset=0.0))
    expect = boxes.copy()
    if direction in ("horizontal", "diagonal"):
        expect[:, 0] = W - boxes[:, 0]
    if direction in ("vertical", "diagonal"):
        expect[:, 1] = H - boxes[:, 1]
    if direction != "diagonal":
        expect[:, 4] = -boxes[:, 4]
    _same_rects(flipped, expect, version)
    meta = ImageMeta("a.png", (H, W, 3), (H, W, 3), flip=True, flip_direction=direction)
    n = len(boxes)
    back = unmap_detections(Detections(flipped, np.ones(n, np.float32), np.zeros(n, np.int64)), meta, version)
    assert bool(np.all(rg.angles.in_range(back.boxes, version)))
    _same_rects(back.boxes, boxes, version)


def test_merge_is_classwise_nms_in_score_order_and_capped() -> None:
    boxes = _boxes("le90", n=6, seed=1).astype(np.float32)
    scores = np.linspace(0.9, 0.4, 6).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    meta = ImageMeta("a.png", (H, W, 3), (H, W, 3))
    flip_meta = ImageMeta("a.png", (H, W, 3), (H, W, 3), flip=True, flip_direction="horizontal")
    seen_flipped = np.asarray(rg.flip_rboxes(boxes, (H, W), "horizontal", "le90", 0.0), np.float32)
    # the flipped copy sees every box again, a little less sure, and one more box of another class
    aug = [
        Detections(boxes, scores, labels),
        Detections(seen_flipped, scores - 0.05, labels),
        Detections(seen_flipped[:1], np.array([0.95], np.float32), np.array([1])),
    ]
    merged = merge_aug_detections(aug, [meta, flip_meta, flip_meta], "le90")
    assert isinstance(merged.boxes, np.ndarray) and len(merged) == 7
    assert np.all(np.diff(merged.scores) <= 0) and merged.scores[0] == np.float32(0.95)
    assert sorted(merged.labels.tolist()) == [0, 0, 1, 1, 1, 2, 2]  # class-wise: label 1 keeps box 0 too
    _same_rects(merged.boxes[1:][np.argsort(-merged.scores[1:])], boxes, "le90")
    capped = merge_aug_detections(aug, [meta, flip_meta, flip_meta], "le90", dict(max_per_img=3))
    assert len(capped) == 3 and np.array_equal(capped.scores, merged.scores[:3])
    # a looser threshold keeps the duplicates
    assert len(merge_aug_detections(aug[:2], [meta, flip_meta], "le90", dict(nms=dict(iou_thr=1.0)))) >= 6
    scaled = merge_aug_detections(aug[:1], [ImageMeta("a.png", (H, W, 3), (2 * H, 2 * W, 3), scale_factor=2)],
                                  "le90", rescale=False)  # fmt: skip
    np.testing.assert_allclose(np.sort(scaled.boxes[:, 2]), np.sort(boxes[:, 2] * 2), rtol=1e-6)


def test_tta_config_defaults_forms_and_named_errors() -> None:
    assert TTAConfig.from_cfg(None) == TTAConfig()  # nothing set: the model's test_cfg decides
    mmrotate1 = dict(
        type="RotatedTTAModel", tta_cfg=dict(nms=dict(type="nms_rotated", iou_threshold=0.2), max_per_img=50)
    )
    assert TTAConfig.from_cfg(mmrotate1) == TTAConfig(iou_thr=0.2, max_per_img=50, merge="detections")
    assert TTAConfig.from_cfg(dict(type="RotatedTTAModel")) == TTAConfig(0.1, 2000, merge="detections")
    assert TTAConfig.from_cfg(dict(nms=dict(iou_thr=0.3), version="oc")) == TTAConfig(0.3, version="oc")
    test_cfg = dict(nms_pre=2000, score_thr=0.05, nms=dict(iou_thr=0.4), max_per_img=100)
    assert TTAConfig.from_test_cfg(test_cfg) == TTAConfig(iou_thr=0.4, max_per_img=100, score_thr=0.05)
    assert TTAConfig.from_test_cfg(dict(test_cfg, max_per_img=-1)).max_per_img == -1  # all
    partial = TTAConfig.from_cfg(dict(max_per_img=7)).resolved(test_cfg, "candidates")
    assert partial == TTAConfig(iou_thr=0.4, max_per_img=7, score_thr=0.05, merge="candidates")
    # MMRotate 1.x's tta_model does not read test_cfg
    assert TTAConfig.from_cfg(mmrotate1).resolved(test_cfg, "candidates") == TTAConfig(
        0.2, 50, merge="detections"
    )
    bad = {
        "tta nms: unknown key 'iou_thresh'": dict(nms=dict(iou_thresh=0.1)),
        re.escape("'max_per_image' (did you mean 'max_per_img'?)"): dict(max_per_image=10),
        "nms type must be nms_rotated": dict(nms=dict(type="nms", iou_thr=0.5)),
        r"iou_thr must be in \(0, 1\]": dict(nms=dict(iou_thr=0.0)),
        "max_per_img must be a positive integer": dict(max_per_img=0),
        r"score_thr must be a number in \[0, 1\]": dict(score_thr=1.5),
        "tta_model tta_cfg: unknown key 'score_thr'": dict(
            type="RotatedTTAModel", tta_cfg=dict(score_thr=0.1)
        ),
        "version must be one of": dict(version="le45"),
        "tta_model type must be RotatedTTAModel": dict(type="SegTTAModel", tta_cfg={}),
    }
    for message, cfg in bad.items():
        with pytest.raises(TTAConfigError, match=message):
            TTAConfig.from_cfg(cfg)
    with pytest.raises(TTAConfigError, match=r"configured twice \(tta, tta_model\)"):
        resolve_tta_cfg(tta=dict(max_per_img=5), tta_model=mmrotate1)
    meta = ImageMeta("a.png", (H, W, 3), (H, W, 3))
    with pytest.raises(TTAConfigError, match="angle version must be one of"):
        merge_aug_detections([Detections.empty()], [meta], "xy")


def _augmented(scale: float = 1.0) -> list[DetBatch]:
    """Two images; augmentations: as they are, flipped horizontally, flipped vertically."""
    torch.manual_seed(1)
    h, w = round(H * scale), round(W * scale)
    img = torch.randn(2, 3, h, w)
    out = []
    for direction, flipped in ((None, img), ("horizontal", img.flip(-1)), ("vertical", img.flip(-2))):
        metas = [
            ImageMeta(f"img{i}.png", (H, W, 3), (h, w, 3), scale_factor=[scale] * 4,
                      flip=direction is not None, flip_direction=direction)
            for i in range(2)
        ]  # fmt: skip
        out.append(DetBatch(flipped, metas, None))
    return out


def test_detector_predict_of_augmentations_and_aug_test() -> None:
    model = small_retinanet().eval()
    assert model_angle_version(model) == "le90"
    assert model.tta_config() == TTAConfig(0.1, 20, 0.0, merge="candidates")  # its test_cfg
    augs = _augmented(scale=2.0)
    merged = model.predict(augs)
    assert len(merged) == 2 and all(isinstance(d.boxes, torch.Tensor) for d in merged)
    candidates = [model.detect_candidates(b.images, b.metas) for b in augs]
    for i, dets in enumerate(merged):
        assert 0 < len(dets) <= 20
        assert bool((dets.scores[:-1] >= dets.scores[1:]).all())
        assert bool(rg.angles.in_range(dets.boxes, "le90").all())
        expect = merge_aug_candidates(
            [c[i] for c in candidates], [b.metas[i] for b in augs], "le90", model.tta_config()
        )
        assert torch.equal(dets.boxes, expect.boxes) and torch.equal(dets.scores, expect.scores)
    # one augmentation is no augmentation
    one = model.predict([augs[0]])
    assert all(torch.equal(a.boxes, b.boxes) for a, b in zip(one, model.predict(augs[0])))
    # MMDetection's face: forward_test with several augmentations -> aug_test
    img_metas = [[m.as_mmrotate() for m in b.metas] for b in augs]
    results = model(return_loss=False, rescale=True, img=[b.images for b in augs], img_metas=img_metas)
    for res, dets in zip(results, merged):
        flat = np.concatenate(res)
        assert len(flat) == len(dets)
        np.testing.assert_allclose(np.sort(flat[:, 5]), np.sort(dets.scores.numpy()), rtol=1e-6)
    # rescale=False: in the first augmentation's pixels (MMDetection's aug_test)
    raw = model.aug_test([b.images for b in augs], img_metas, rescale=False)
    flat = np.concatenate(raw[0])
    np.testing.assert_allclose(np.sort(flat[:, 2]), np.sort(merged[0].boxes[:, 2].numpy() * 2), rtol=1e-5)
    # the dense head's aug_test, on features: the same merge
    feats = [model.extract_feat(b.images) for b in augs]
    pairs = model.bbox_head.aug_test(feats, img_metas, rescale=True)
    assert torch.allclose(pairs[0][0][:, 5], merged[0].scores) and torch.equal(pairs[0][1], merged[0].labels)


def test_settings_reach_the_merge_and_bad_input_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_retinanet().eval()
    augs = _augmented()
    model.tta_cfg = dict(max_per_img=3)
    assert all(len(d) == 3 for d in model.predict(augs))
    model.test_cfg["tta"] = dict(max_per_img=4)
    with pytest.raises(TTAConfigError, match="configured twice"):
        model.predict(augs)
    model.tta_cfg = None
    assert all(len(d) == 4 for d in model.predict(augs))
    del model.test_cfg["tta"]
    model.test_cfg["max_per_img"] = 5  # no tta settings: test_cfg drives the merge
    assert all(len(d) == 5 for d in model.predict(augs))
    model.test_cfg["max_per_img"] = 20
    # MMRotate 1.x's tta_model: the augmentations' final detections, merged at its settings
    model.tta_cfg = dict(type="RotatedTTAModel", tta_cfg=dict(nms=dict(iou_threshold=0.1), max_per_img=2000))
    singles = [model.predict(b) for b in augs]
    assert model.tta_config() == TTAConfig(0.1, 2000, merge="detections")
    for i, dets in enumerate(model.predict(augs)):
        expect = merge_aug_detections([s[i] for s in singles], [b.metas[i] for b in augs], "le90")
        assert torch.equal(dets.boxes, expect.boxes) and torch.equal(dets.scores, expect.scores)
    other = _augmented()
    other[1].metas[0] = ImageMeta("other.png", (H, W, 3), (H, W, 3), flip=True, flip_direction="horizontal")
    with pytest.raises(ValueError, match="every augmentation must hold the same images"):
        model.predict(other)
    with pytest.raises(TypeError, match="DetBatch or a non-empty list"):
        model.predict([])
    assert model_angle_version(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))) is None
    monkeypatch.setattr(
        "rdet_models.tta.model_angle_version", lambda model: None
    )  # a model that does not say
    with pytest.raises(TTAConfigError, match="tta=dict\\(version="):
        model.predict(augs)
    model.tta_cfg = dict(version="le90")
    assert len(model.predict(augs)) == 2


# -- MMRotate 0.3.4's aug_test, transcribed --------------------------------------------------------


def mmrotate034_aug_merge(  # type: ignore[no-untyped-def]
    aug_bboxes, aug_scores, metas, score_thr, iou_thr, max_num, num_classes, version
):
    """MMRotate 0.3.4's ``RotatedAnchorHead.aug_test`` after ``get_bboxes(..., rescale=False,
    with_nms=False)``: ``merge_aug_bboxes`` (``bbox_mapping_back``: the flip undone in the copy's
    ``img_shape``, then divided by its ``scale_factor``), ``torch.max`` over the foreground
    scores, ``aug_multiclass_nms_rotated`` (score > score_thr, ``nms_rotated`` per class, the
    ``max_num`` best when there are more). Kept from rdet on purpose: the flip is the exact
    mirror (MMRotate's ``bbox_flip`` puts the centre at ``W - cx - 1`` and turns a diagonal flip's
    angle), and the boxes are regularised to ``version`` (rotated IoU does not change)."""
    recovered = []
    for bboxes, meta in zip(aug_bboxes, metas):
        b = bboxes.clone()
        if meta.flip:
            b = torch.as_tensor(
                rg.flip_rboxes(b, meta.img_shape, meta.flip_direction, version, pixel_offset=0.0)
            )
        b[:, :4] = b[:, :4] / b.new_tensor(meta.scale_factor)
        recovered.append(b)
    bboxes, scores = torch.cat(recovered, dim=0), torch.cat(aug_scores, dim=0)
    merged_scores, merged_labels = torch.max(scores[:, :-1], dim=1)
    merged_bboxes = torch.cat([bboxes, merged_scores[:, None]], -1)
    out_bboxes, out_labels = [], []
    for cls in range(num_classes):
        cls_bboxes = merged_bboxes[merged_labels == cls]
        inds = cls_bboxes[:, -1] > score_thr
        if len(inds) == 0:
            continue
        cur_bboxes = cls_bboxes[inds, :]
        cls_dets, _ = nms_rotated(cur_bboxes[:, :5], cur_bboxes[:, -1], iou_thr)
        if cls_dets.size()[0] == 0:
            continue
        out_bboxes.append(cls_dets)
        out_labels.append(merged_bboxes.new_full((cls_dets.shape[0],), cls, dtype=torch.long))
    if not out_bboxes:
        return merged_bboxes.new_zeros((0, 6)), merged_bboxes.new_zeros((0,), dtype=torch.long)
    dets, labels = torch.cat(out_bboxes), torch.cat(out_labels)
    if dets.shape[0] > max_num:
        _, order = dets[:, -1].sort(descending=True)
        dets, labels = dets[order[:max_num]], labels[order[:max_num]]
    dets = torch.cat([torch.as_tensor(rg.regularize(dets[:, :5], version)), dets[:, 5:]], 1)
    return dets, labels


def _by_score(dets: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = dets[:, 5].sort(descending=True, stable=True).indices
    return dets[order], labels[order]


def test_candidates_merge_is_mmrotate_034s_and_not_the_detections_merge() -> None:
    """Two copies of one image (as it is; flipped horizontally), candidates before NMS with 2
    classes + background: each candidate counts for its best class only, low scores go, NMS per
    class at the test_cfg's 0.4 (not 0.1), at most 3 kept (not 2000)."""
    meta = ImageMeta("a.png", (H, W, 3), (H, W, 3))
    flipped = ImageMeta("a.png", (H, W, 3), (H, W, 3), flip=True, flip_direction="horizontal")
    boxes = torch.tensor(
        [
            [30.0, 30.0, 20.0, 10.0, 0.2],  # A: class 0 (0.9), also 0.8 for class 1
            [38.0, 31.0, 20.0, 10.0, 0.2],  # B: IoU with A ~0.3 (kept at 0.4, not at 0.1)
            [80.0, 60.0, 16.0, 12.0, -0.5],  # C: class 1
            [100.0, 20.0, 10.0, 10.0, 0.0],  # D: under score_thr
        ]
    )
    scores = torch.tensor([[0.9, 0.8, 0.0], [0.7, 0.1, 0.0], [0.5, 0.6, 0.0], [0.03, 0.02, 0.0]])
    seen_flipped = torch.as_tensor(rg.flip_rboxes(boxes[:1] + 0.5, (H, W), "horizontal", "le90", 0.0))
    aug_boxes = [boxes, seen_flipped]
    aug_scores = [scores, torch.tensor([[0.85, 0.1, 0.0]])]
    cfg = TTAConfig.from_test_cfg(dict(score_thr=0.05, nms=dict(iou_thr=0.4), max_per_img=3))
    got = merge_aug_candidates(list(zip(aug_boxes, aug_scores)), [meta, flipped], "le90", cfg)
    dets, labels = _by_score(
        *mmrotate034_aug_merge(aug_boxes, aug_scores, [meta, flipped], 0.05, 0.4, 3, 2, "le90")
    )
    assert labels.tolist() == [0, 0, 1] and dets[:, 5].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert got.labels.tolist() == labels.tolist() and torch.equal(got.scores, dets[:, 5])
    assert torch.allclose(got.boxes, dets[:, :5], rtol=0, atol=1e-5)
    # what rdet did before: each copy's detections (multiclass NMS: A also as class 1), merged at 0.1
    per_copy = []
    for b, sc in zip(aug_boxes, aug_scores):
        d, lab = rdet_models.multiclass_nms_rotated(b, sc, 0.05, dict(iou_thr=0.4), 100)
        per_copy.append(Detections(d[:, :5], d[:, 5], lab))
    old = merge_aug_detections(per_copy, [meta, flipped], "le90", TTAConfig(0.1, 2000))
    assert old.labels.tolist() == [0, 1, 1, 0]  # A and C twice, B suppressed: not MMRotate 0.3.4's
    assert old.scores.tolist() == pytest.approx([0.9, 0.8, 0.6, 0.5])


def test_detector_tta_follows_test_cfg_as_mmrotate_034() -> None:
    """A Rotated RetinaNet whose test_cfg says nms iou_thr 0.4, max_per_img 7, score_thr 0.5:
    ``tta_config()`` reads them (it said IoU 0.1, 2000), and ``predict`` of (none, h, v)
    flips equals MMRotate 0.3.4's ``aug_test`` merge of the head's candidates, transcribed."""
    model = small_retinanet().eval()
    model.test_cfg.update(nms=dict(iou_thr=0.4), max_per_img=7, score_thr=0.5)
    with torch.no_grad():  # scores spread around 0.5, so that score_thr matters
        model.bbox_head.retina_cls.bias.zero_()
        model.bbox_head.retina_cls.weight.normal_(0.0, 0.5)
    assert model.tta_config() == TTAConfig(iou_thr=0.4, max_per_img=7, score_thr=0.5, merge="candidates")
    augs = [DetBatch(b.images[:1], b.metas[:1], None) for b in _augmented()]  # 0.3.4: one image
    merged = model.predict(augs)[0]
    with torch.no_grad():
        aug_bboxes, aug_scores = [], []
        for b in augs:
            outs = model.bbox_head(model.extract_feat(b.images))
            bboxes, scores = model.bbox_head.get_bboxes(
                *outs, img_metas=[m.as_mmrotate() for m in b.metas], cfg=model.test_cfg, rescale=False,
                with_nms=False,
            )[0]  # fmt: skip
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
    dets, labels = _by_score(
        *mmrotate034_aug_merge(aug_bboxes, aug_scores, [b.metas[0] for b in augs], 0.5, 0.4, 7, 3, "le90")
    )
    assert len(merged) == len(dets) == 7
    assert torch.equal(merged.labels, labels)
    assert torch.equal(merged.scores, dets[:, 5])
    assert torch.allclose(merged.boxes, dets[:, :5], rtol=0, atol=1e-4)
    # the former merge (final detections, IoU 0.1, 2000) gives another answer
    model.tta_cfg = dict(type="RotatedTTAModel")
    assert not torch.equal(model.predict(augs)[0].scores[:7], merged.scores)
