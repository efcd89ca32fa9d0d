"""Boxes back to the original image (``rdet_models.rescale.rescale_rboxes``): an isotropic resize
divides ``(cx, cy, w, h)`` as MMRotate (bit for bit), an anisotropic one (``RResize(keep_ratio=
False)``) maps the corners and takes the rectangle as ``RResize`` does to the ground truth. Every
head's ``rescale`` and test-time augmentation's ``rescale=False`` go through it."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import rbox_geometry as rg
import rdet_models
from rdet_core import Config
from rdet_core.structures import Detections, ImageMeta
from rdet_models.rescale import ISOTROPIC_RTOL, rescale_rboxes, scale_pair
from rdet_models.tta import merge_aug_detections

SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[4] / "shared"))
CONFIGS = SHARED / "configs" / "mmrotate-0.3.4"
needs_configs = pytest.mark.skipif(not CONFIGS.is_dir(), reason="MMRotate's config files are absent")

SX, SY = 0.8, 1.6  # RResize(keep_ratio=False): 120 x 40 -> 96 x 64


def _boxes(version: str, n: int = 60, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    b = np.stack(
        [
            rng.uniform(0, 96, n),
            rng.uniform(0, 64, n),
            rng.uniform(2, 40, n),
            rng.uniform(2, 40, n),
            rng.uniform(-math.pi, math.pi, n),
        ],
        1,
    )
    return torch.as_tensor(np.asarray(rg.regularize(b, version)), dtype=torch.float32)


def _corners(boxes: torch.Tensor, sx: float, sy: float, version: str) -> np.ndarray:
    """What ``RResize(keep_ratio=False)`` does to a box, by the factors given (numpy, float64)."""
    poly = np.asarray(rg.obb2poly(boxes.detach().numpy().astype(np.float64), version)) * np.array(
        [sx, sy] * 4
    )
    return np.asarray(rg.poly2obb_np(poly, version, min_side=0.0))


def _close(ours: torch.Tensor, expected: np.ndarray, atol: float = 2e-3) -> None:
    np.testing.assert_allclose(ours.detach().numpy().astype(np.float64), expected, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("version", ["oc", "le135", "le90"])
def test_anisotropic_scale_maps_the_corners_back(version: str) -> None:
    boxes = _boxes(version)
    back = rescale_rboxes(boxes, np.array([SX, SY, SX, SY], np.float32), version)
    _close(back, _corners(boxes, 1 / SX, 1 / SY, version))
    # not what dividing (cx, cy, w, h) gives, whatever the angle (the old rescale)
    divided = boxes[:, :4] / torch.tensor([SX, SY, SX, SY])
    assert (back[:, 2:4] - divided[:, 2:4]).abs().max() > 1
    # the centre is the parallelogram's: divided exactly
    _close(back[:, :2], divided[:, :2].numpy().astype(np.float64))
    # and forward (TTA's rescale=False) is RResize's own mapping; a score column is kept
    scored = torch.cat([back, torch.rand(len(back), 1)], 1)
    forward = rescale_rboxes(scored, [SX, SY, SX, SY], version, inverse=False)
    assert torch.equal(forward[:, 5], scored[:, 5])
    _close(forward[:, :5], _corners(back, SX, SY, version))


def test_isotropic_scale_divides_bit_for_bit_and_keeps_the_angle() -> None:
    boxes = _boxes("le90")
    factor = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    out = rescale_rboxes(boxes, factor, None)  # no version needed
    assert torch.equal(out[:, :4], boxes[:, :4] / boxes.new_tensor(factor)) and torch.equal(
        out[:, 4], boxes[:, 4]
    )
    assert torch.equal(rescale_rboxes(boxes, 0.5, None), out) and torch.equal(
        rescale_rboxes(boxes, (0.5,), None), out
    )
    # keep_ratio=True rounds each side to whole pixels: 1333 x 1000 -> 1067 x 800
    sx, sy = 1067 / 1333, 800 / 1000
    assert abs(sx - sy) <= ISOTROPIC_RTOL * max(sx, sy)
    near = rescale_rboxes(boxes, [sx, sy, sx, sy], "le90")
    assert torch.equal(near[:, :4], boxes[:, :4] / boxes.new_tensor([sx, sy, sx, sy]))
    # ... where the corner mapping differs by under 0.1% of the box
    exact = _corners(boxes, 1 / sx, 1 / sy, "le90")
    size = np.maximum(exact[:, 2], exact[:, 3])
    assert (np.abs(near[:, :4].numpy() - exact[:, :4]).max(1) / size).max() < 1e-3
    empty = torch.zeros(0, 5)
    assert rescale_rboxes(empty, [SX, SY, SX, SY], "le90").shape == (0, 5)


def test_bad_scale_factors_and_a_missing_version_are_named() -> None:
    boxes = _boxes("le90", n=3)
    with pytest.raises(ValueError, match=r"scale_factor must be \(w_scale, h_scale, w_scale, h_scale\)"):
        rescale_rboxes(boxes, [0.5, 0.6, 0.7, 0.6], "le90")
    with pytest.raises(ValueError, match="scale_factor must have 1, 2 or 4 values, got 3"):
        scale_pair([1, 2, 3])
    for bad in ([0.0] * 4, [-1.0] * 4, [float("nan")] * 4):
        with pytest.raises(ValueError, match="scale_factor must be positive and finite"):
            rescale_rboxes(boxes, bad, "le90")
    with pytest.raises(ValueError, match="without an angle version"):
        rescale_rboxes(boxes, [SX, SY, SX, SY], None)
    assert scale_pair(torch.tensor([SX, SY])) == pytest.approx((SX, SY))


# -- every head's rescale ---------------------------------------------------------------------------


def _detector(path: str, **over: object) -> torch.nn.Module:
    cfg = Config.fromfile(CONFIGS / path)
    small = {
        "model.backbone.depth": 18,
        "model.backbone.base_channels": 8,
        "model.backbone.init_cfg": None,
        "model.neck.in_channels": [8, 16, 32, 64],
        "model.neck.out_channels": 16,
    }
    cfg.merge_from_dict({**small, **over})
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    return model.eval()


def _meta(h: int = 64, w: int = 96) -> ImageMeta:
    return ImageMeta("a.png", (round(h / SY), round(w / SX), 3), (h, w, 3), scale_factor=[SX, SY, SX, SY])


DENSE = {
    "retina": (
        "rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py",
        "le90",
        {"model.bbox_head.stacked_convs": 1, "model.test_cfg.nms_pre": 50},
    ),
    "fcos": (
        "rotated_fcos/rotated_fcos_r50_fpn_1x_dota_le90.py",
        "le90",
        {"model.bbox_head.stacked_convs": 1, "model.test_cfg.nms_pre": 50},
    ),
    "reppoints": (
        "rotated_reppoints/rotated_reppoints_r50_fpn_1x_dota_oc.py",
        "oc",
        {"model.bbox_head.stacked_convs": 1, "model.test_cfg.nms_pre": 50},
    ),
}


@needs_configs
@pytest.mark.parametrize("name", sorted(DENSE))
def test_dense_heads_map_boxes_back_through_the_corners(name: str) -> None:
    path, version, over = DENSE[name]
    head_over = {  # GroupNorm's 32 groups (FCOS, RepPoints): 32 channels
        "model.neck.out_channels": 32,
        "model.bbox_head.in_channels": 32,
        "model.bbox_head.feat_channels": 32,
        **over,
    }
    model = _detector(path, **head_over)
    head = model.bbox_head
    with torch.no_grad():
        outs = head(model.extract_feat(torch.randn(1, 3, 160, 256)))  # GroupNorm: P7 over 1 x 1
        ((raw, _),) = head._batch_get_bboxes(outs, [_meta(160, 256)], None, False, False)
        ((back, _),) = head._batch_get_bboxes(outs, [_meta(160, 256)], None, True, False)
    assert len(raw) > 0
    _close(back, _corners(raw, 1 / SX, 1 / SY, version))


@needs_configs
def test_rpn_and_roi_heads_map_boxes_back_through_the_corners() -> None:
    model = _detector(
        "oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py",
        **{
            "model.rpn_head.in_channels": 16,
            "model.rpn_head.feat_channels": 16,
            "model.test_cfg.rpn.nms_pre": 50,
            "model.test_cfg.rpn.max_per_img": 30,
            "model.roi_head.bbox_roi_extractor.out_channels": 16,
            "model.roi_head.bbox_head.in_channels": 16,
            "model.roi_head.bbox_head.fc_out_channels": 32,
            "model.roi_head.bbox_head.num_classes": 3,
            "model.roi_head.bbox_head.reg_class_agnostic": False,
        },
    )
    with torch.no_grad():
        outs = model.rpn_head(model.extract_feat(torch.randn(1, 3, 64, 96)))
        raw = model.rpn_head.predict_by_feat(outs, [_meta()], rescale=False)[0]
        back = model.rpn_head.predict_by_feat(outs, [_meta()], rescale=True)[0]
    assert len(raw) > 0
    _close(back.boxes, _corners(raw.boxes, 1 / SX, 1 / SY, "le90"))

    head = model.roi_head.bbox_head
    rois = torch.cat([torch.zeros(20, 1), _boxes("le90", n=20)], 1)
    preds = {"cls_score": torch.randn(20, 4), "bbox_pred": 0.1 * torch.randn(20, 15)}
    raw, _ = head.decode_rois(rois, preds, (64, 96, 3), [SX, SY, SX, SY], False)
    back, _ = head.decode_rois(rois, preds, (64, 96, 3), [SX, SY, SX, SY], True)
    assert back.shape == (20, 15)
    _close(back.view(-1, 5), _corners(raw.view(-1, 5), 1 / SX, 1 / SY, "le90"))


@needs_configs
def test_gliding_vertex_head_maps_boxes_back_through_the_corners() -> None:
    model = _detector("gliding_vertex/gliding_vertex_r50_fpn_1x_dota_le90.py")
    head = model.roi_head.bbox_head
    torch.manual_seed(0)
    xy = torch.rand(20, 2) * torch.tensor([60.0, 40.0])
    rois = torch.cat([torch.zeros(20, 1), xy, xy + 5 + 30 * torch.rand(20, 2)], 1)
    c = head.num_classes
    preds = {
        "cls_score": torch.randn(20, c + 1),
        "bbox_pred": 0.1 * torch.randn(20, 4),
        "fix_pred": torch.rand(20, 4),
        "ratio_pred": 0.5 * torch.rand(20, 1),
    }
    raw, _ = head.decode_rois(rois, preds, (64, 96, 3), [SX, SY, SX, SY], False)
    back, _ = head.decode_rois(rois, preds, (64, 96, 3), [SX, SY, SX, SY], True)
    _close(back.view(-1, 5), _corners(raw.view(-1, 5), 1 / SX, 1 / SY, head.version))


def test_tta_rescale_false_maps_into_the_first_copys_pixels_through_the_corners() -> None:
    boxes = _boxes("le90", n=5) * torch.tensor([3.0, 3.0, 1.0, 1.0, 1.0])  # apart: NMS keeps all
    dets = Detections(boxes, torch.linspace(0.9, 0.5, 5), torch.arange(5))
    merged = merge_aug_detections([dets], [_meta()], "le90", rescale=False)
    order = merged.labels.argsort()
    _close(merged.boxes[order], _corners(boxes, SX, SY, "le90"))
