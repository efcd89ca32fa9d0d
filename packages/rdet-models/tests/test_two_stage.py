"""Two-stage detectors: strict loading of the Oriented R-CNN golden checkpoint (its detections are
compared with MMRotate's in rdet-apps' test_apis_inference.py, through the test pipeline), RoI
helpers, and rdet's DetBatch interface on Rotated Faster R-CNN / Oriented R-CNN / RoI Transformer /
Gliding Vertex."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

import rdet_models
from rdet_core import Config
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta
from rdet_models.roi_heads import RotatedSingleRoIExtractor, SingleRoIExtractor, bbox2roi, rbbox2roi

SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[4] / "shared"))
CONFIGS = SHARED / "configs" / "mmrotate-0.3.4"
MODELS_DIR = SHARED / "golden" / "mmrotate-0.3.4" / "models"
DETECTORS = {
    "RotatedFasterRCNN": "rotated_faster_rcnn/rotated_faster_rcnn_r50_fpn_1x_dota_le90.py",
    "OrientedRCNN": "oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py",
    "RoITransformer": "roi_trans/roi_trans_r50_fpn_1x_dota_le90.py",
    "GlidingVertex": "gliding_vertex/gliding_vertex_r50_fpn_1x_dota_le90.py",
}
needs_configs = pytest.mark.skipif(not CONFIGS.is_dir(), reason="MMRotate's config files are absent")


@pytest.fixture(scope="module")
def oriented_case() -> dict:
    if not (MODELS_DIR / "cases.json").is_file() or not CONFIGS.is_dir():
        pytest.skip("golden model cases or MMRotate configs absent")
    case = json.loads((MODELS_DIR / "cases.json").read_text())["oriented_rcnn_le90"]
    overrides = dict(case["overrides"])
    # JSON has no tuples: the test img_scale is the pair (320, 320), a tuple in the config
    overrides["data.test.pipeline.1.img_scale"] = tuple(overrides["data.test.pipeline.1.img_scale"])
    return dict(case, overrides=overrides)


def test_oriented_rcnn_checkpoint_loads_strictly(oriented_case: dict) -> None:
    cfg = Config.fromfile(CONFIGS / oriented_case["config"])
    cfg.merge_from_dict({k: v for k, v in oriented_case["overrides"].items() if k.startswith("model.")})
    model = rdet_models.build_detector(cfg.model)
    ckpt = torch.load(MODELS_DIR / oriented_case["checkpoint"], map_location="cpu", weights_only=False)
    assert len(ckpt["state_dict"]) == oriented_case["state_dict_keys"] == len(model.state_dict())
    model.load_state_dict(ckpt["state_dict"], strict=True)


# -- RoI helpers ------------------------------------------------------------------------------


def test_roi_tensors_and_level_mapping() -> None:
    rois = bbox2roi(
        [torch.tensor([[0.0, 0, 10, 10, 0.9]]), torch.zeros(0, 5), torch.tensor([[1.0, 1, 3, 3, 0.1]])]
    )
    assert rois.tolist() == [[0, 0, 0, 10, 10], [2, 1, 1, 3, 3]]
    rrois = rbbox2roi([torch.zeros(0, 6), torch.tensor([[5.0, 5, 4, 2, 0.3, 0.8]])])
    assert rrois.shape == (1, 6) and rrois[0].tolist() == pytest.approx([1, 5, 5, 4, 2, 0.3])
    ext = RotatedSingleRoIExtractor(
        dict(type="RoIAlignRotated", out_size=7, sample_num=2, clockwise=True), 8, [4, 8, 16, 32]
    )
    sides = torch.tensor([50.0, 111.9, 112.0, 223.0, 224.0, 447.0, 448.0, 2000.0])
    r = torch.stack([torch.zeros(8), sides, sides, sides, sides, torch.zeros(8)], 1)
    assert ext.map_roi_levels(r, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    hext = SingleRoIExtractor(dict(type="RoIAlign", output_size=7, sampling_ratio=0), 8, [4, 8, 16, 32])
    h = torch.stack([torch.zeros(8), torch.zeros(8), torch.zeros(8), sides, sides], 1)
    assert hext.map_roi_levels(h, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_rotated_extractor_pools_each_roi_on_its_level() -> None:
    from rbox_ops import roi_align_rotated

    torch.manual_seed(0)
    feats = [torch.randn(2, 8, 64 // 2**i, 64 // 2**i) for i in range(4)]
    ext = RotatedSingleRoIExtractor(
        dict(type="RoIAlignRotated", out_size=7, sample_num=2, clockwise=True), 8, [4, 8, 16, 32]
    )
    rois = torch.tensor([[0, 100.0, 120, 60, 30, 0.4], [1, 128.0, 128, 200, 150, -1.0]])
    out = ext(feats, rois)
    assert out.shape == (2, 8, 7, 7)
    for k, level in enumerate([0, 1]):  # scales 42 and 173 px
        ref = roi_align_rotated(feats[level], rois[k : k + 1], (7, 7), 1 / 4 / 2**level, 2, True, True)
        assert torch.allclose(out[k : k + 1], ref)


# -- detectors through rdet's interface ------------------------------------------------------


def small_detector(name: str, **extra: object) -> torch.nn.Module:
    cfg = Config.fromfile(CONFIGS / DETECTORS[name])
    roi = cfg.model.roi_head
    over: dict = {
        "model.backbone.depth": 18,
        "model.backbone.base_channels": 8,
        "model.backbone.init_cfg": None,
        "model.neck.in_channels": [8, 16, 32, 64],
        "model.neck.out_channels": 16,
        "model.rpn_head.in_channels": 16,
        "model.rpn_head.feat_channels": 16,
        "model.train_cfg.rpn_proposal.nms_pre": 200,
        "model.train_cfg.rpn_proposal.max_per_img": 100,
        "model.test_cfg.rpn.nms_pre": 200,
        "model.test_cfg.rpn.max_per_img": 100,
        "model.test_cfg.rcnn.score_thr": 0.0,
        "model.test_cfg.rcnn.max_per_img": 20,
        **extra,
    }
    for i in range(len(roi.bbox_head)) if isinstance(roi.bbox_head, list) else [None]:
        s = "" if i is None else f".{i}"
        over[f"model.roi_head.bbox_roi_extractor{s}.out_channels"] = 16
        over[f"model.roi_head.bbox_head{s}.in_channels"] = 16
        over[f"model.roi_head.bbox_head{s}.fc_out_channels"] = 32
        over[f"model.roi_head.bbox_head{s}.num_classes"] = 3
    cfg.merge_from_dict(over)
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    return model


def batch(gts: list[GroundTruth] | None, scale: float = 1.0) -> DetBatch:
    torch.manual_seed(1)
    h, w = 96, 128
    ori = (round(h / scale), round(w / scale), 3)
    metas = [ImageMeta(f"img{i}.png", ori, (h, w, 3), scale_factor=[scale] * 4) for i in range(2)]
    return DetBatch(torch.randn(2, 3, h, w), metas, gts)


def gt(boxes: list[list[float]], labels: list[int]) -> GroundTruth:
    return GroundTruth(
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 5), torch.tensor(labels, dtype=torch.long)
    )


GOOD = [[40.0, 30.0, 40.0, 14.0, 0.3], [90.0, 60.0, 30.0, 20.0, -1.0]]
BAD = [[60.0, 50.0, 0.0, 10.0, 0.1], [30.0, 30.0, float("nan"), 5.0, 0.0]]


@needs_configs
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_loss_and_predict(name: str) -> None:
    model = small_detector(name).train()
    losses = model.loss(batch([gt(GOOD + BAD, [0, 2, 1, 1]), gt([], [])]))
    assert len(losses["loss_rpn_cls"]) == 5 and len(losses["loss_rpn_bbox"]) == 5
    rdet_models.check_finite_losses(losses, iteration=0)
    total, log_vars = rdet_models.parse_losses(losses)
    total.backward()
    acc = [v for k, v in log_vars.items() if k.endswith("acc")]
    assert acc and all(0 <= a <= 100 for a in acc)
    model.eval()
    dets = model.predict(batch(None, scale=2.0))
    raw = model.predict(batch(None, scale=2.0), rescale=False)
    assert len(dets) == 2
    d, r = dets[0], raw[0]
    assert 0 < len(d) <= 20 and d.boxes.shape[1] == 5 and bool((d.scores[:-1] >= d.scores[1:]).all())
    assert bool(((d.labels >= 0) & (d.labels < 3)).all())
    assert torch.allclose(d.boxes[:, :4], r.boxes[:, :4] / 2) and torch.equal(d.boxes[:, 4], r.boxes[:, 4])
    assert bool((d.boxes[:, 4] >= -math.pi / 2).all() and (d.boxes[:, 4] < math.pi / 2).all())  # le90


@needs_configs
def test_rpn_proposals_and_roi_trans_stage_names() -> None:
    model = small_detector("RoITransformer").eval()
    b = batch(None)
    img, metas = b.images, [m.as_mmrotate() for m in b.metas]
    for m in metas:
        m["batch_input_shape"] = tuple(img.shape[-2:])
    with torch.no_grad():
        x = model.extract_feat(img)
        proposals = model.rpn_head.simple_test_rpn(x, metas)
    assert len(proposals) == 2 and proposals[0].shape[1] == 5 and 0 < len(proposals[0]) <= 100
    assert bool((proposals[0][:-1, 4] >= proposals[0][1:, 4]).all())
    assert bool((proposals[0][:, 2] >= proposals[0][:, 0]).all() and (proposals[0][:, 2] <= 128).all())
    losses = model.train().loss(batch([gt(GOOD, [0, 1]), gt(GOOD[:1], [2])]))
    assert {k for k in losses if k.startswith("s")} == {
        f"s{i}.{t}" for i in (0, 1) for t in ("loss_cls", "acc", "loss_bbox")
    }
    oriented = small_detector("OrientedRCNN").eval()
    with torch.no_grad():
        rot = oriented.rpn_head.simple_test_rpn(oriented.extract_feat(img), metas)
    assert rot[0].shape[1] == 6 and bool((rot[0][:-1, 5] >= rot[0][1:, 5]).all())


@needs_configs
def test_gliding_vertex_outputs_horizontal_boxes_above_ratio_thr() -> None:
    head = small_detector("GlidingVertex").roi_head.bbox_head.eval()
    rois = torch.tensor([[0, 10.0, 10, 50, 30], [0, 20.0, 20, 60, 80]])
    cls_score = torch.zeros(2, 4)
    bbox_pred = torch.zeros(2, 4)
    fix_pred = torch.tensor([[0.3, 0.3, 0.3, 0.3], [0.2, 0.4, 0.2, 0.4]])
    ratio_pred = torch.tensor([[0.9], [0.5]])
    boxes, _ = head.get_bboxes(rois, cls_score, bbox_pred, fix_pred, ratio_pred, (100, 100, 3), [1.0] * 4)
    assert boxes.shape == (2, 5)
    assert boxes[0].tolist() == pytest.approx([30.0, 20.0, 40.0, 20.0, 0.0])  # the roi itself
    assert abs(float(boxes[1, 4])) > 0.1  # a rotated box from the gliding offsets
