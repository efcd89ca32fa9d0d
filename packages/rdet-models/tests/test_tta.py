"""Test-time augmentation (``rdet_models.tta``): augmented detections mapped back to the
original image and merged by class-wise rotated NMS; the detectors' ``predict(list)``,
``detect_aug`` and MMDetection's ``aug_test``; bad settings named."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import rbox_geometry as rg
import rdet_models
from rdet_core.structures import DetBatch, Detections, ImageMeta
from rdet_models.tta import (
    TTAConfig,
    TTAConfigError,
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
    assert TTAConfig.from_cfg(None) == TTAConfig(iou_thr=0.1, max_per_img=2000)  # MMRotate 1.x's
    mmrotate1 = dict(
        type="RotatedTTAModel", tta_cfg=dict(nms=dict(type="nms_rotated", iou_threshold=0.2), max_per_img=50)
    )
    assert TTAConfig.from_cfg(mmrotate1) == TTAConfig(iou_thr=0.2, max_per_img=50)
    assert TTAConfig.from_cfg(dict(nms=dict(iou_thr=0.3), version="oc")) == TTAConfig(0.3, 2000, "oc")
    bad = {
        "tta nms: unknown key 'iou_thresh'": dict(nms=dict(iou_thresh=0.1)),
        re.escape("'max_per_image' (did you mean 'max_per_img'?)"): dict(max_per_image=10),
        "nms type must be nms_rotated": dict(nms=dict(type="nms", iou_thr=0.5)),
        r"iou_thr must be in \(0, 1\]": dict(nms=dict(iou_thr=0.0)),
        "max_per_img must be a positive integer": dict(max_per_img=0),
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
    augs = _augmented(scale=2.0)
    merged = model.predict(augs)
    assert len(merged) == 2 and all(isinstance(d.boxes, torch.Tensor) for d in merged)
    singles = [model.predict(b) for b in augs]
    for i, dets in enumerate(merged):
        assert 0 < len(dets) <= sum(len(s[i]) for s in singles)
        assert bool((dets.scores[:-1] >= dets.scores[1:]).all())
        assert bool(rg.angles.in_range(dets.boxes, "le90").all())
        expect = merge_aug_detections([s[i] for s in singles], [b.metas[i] for b in augs], "le90")
        assert torch.equal(dets.boxes, expect.boxes) and torch.equal(dets.scores, expect.scores)
    # one augmentation is no augmentation
    one = model.predict([augs[0]])
    assert all(torch.equal(a.boxes, b.boxes) for a, b in zip(one, singles[0]))
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
