"""Training works: a small Rotated RetinaNet learns a synthetic oriented-object set on the CPU.

Images 128 x 128, 1-3 filled rotated rectangles of 2 classes (red / green) on noise; the
model is MMRotate's rotated_retinanet_obb_le90 config with a ResNet-18 at 1/4 width,
trained from scratch (BN trained, nothing frozen) with AdamW for 200 iterations of 8 images.
Bounds are loose: the loss falls to under half, mAP@0.5 on 24 held-out images > 0.4
(0.69 when written, loss 2.02 -> 0.43; 300 iterations reach about 0.84).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import rdet_models
from rbox_geometry import obb2poly
from rdet_core import Config
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta, detections_to_result

cv2 = pytest.importorskip("cv2")
rdet_eval = pytest.importorskip("rdet_eval")

SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[4] / "shared"))
CONFIG = (
    SHARED
    / "configs"
    / "mmrotate-0.3.4"
    / "rotated_retinanet"
    / "rotated_retinanet_obb_r50_fpn_1x_dota_le90.py"
)
SIZE = 128
COLORS = ((200, 60, 60), (60, 200, 60))


def make_images(n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n images (H, W, 3) float32 with le90 boxes (k, 5) and labels (k,)."""
    data = []
    for _ in range(n):
        img = rng.uniform(0, 60, (SIZE, SIZE, 3)).astype(np.float32)
        boxes: list[list[float]] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, 4))):
            for _ in range(20):  # keep objects apart
                w, h, th = rng.uniform(28, 56), rng.uniform(10, 22), rng.uniform(-math.pi / 2, math.pi / 2)
                cx, cy = rng.uniform(w / 2, SIZE - w / 2), rng.uniform(w / 2, SIZE - w / 2)
                if all(np.hypot(cx - b[0], cy - b[1]) > 40 for b in boxes):
                    break
            c = int(rng.integers(0, 2))
            poly = obb2poly(np.array([[cx, cy, w, h, th]]), "le90").reshape(4, 2)
            cv2.fillPoly(img, [np.round(poly).astype(np.int32)], COLORS[c])
            boxes.append([cx, cy, w, h, th])
            labels.append(c)
        data.append((img, np.array(boxes, np.float32), np.array(labels, np.int64)))
    return data


def to_batch(items: list) -> DetBatch:
    images = torch.stack([torch.from_numpy((it[0] - 100) / 60).permute(2, 0, 1) for it in items]).float()
    metas = [ImageMeta(None, (SIZE, SIZE, 3), (SIZE, SIZE, 3)) for _ in items]
    gts = [GroundTruth(torch.from_numpy(it[1]), torch.from_numpy(it[2])) for it in items]
    return DetBatch(images, metas, gts)


def fit_and_map(
    model: torch.nn.Module,
    train: list,
    test: list,
    rng: np.random.Generator,
    iters: int,
    batch: int,
    lr: float,
    lr_at: Callable[[int], float] | None = None,
) -> tuple[float, float, float]:
    """Train ``model`` on random batches of ``train`` (AdamW, gradient clipping at 35, the loss
    checked finite each step; ``lr_at(it)`` sets the learning rate of step ``it``), then score
    it on ``test``: (mean loss of the first 10 steps, of the last 10, mAP@0.5 over 2 classes)."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    history = []
    for it in range(iters):
        idx = rng.choice(len(train), batch, replace=False)
        losses = model.loss(to_batch([train[i] for i in idx]))
        rdet_models.check_finite_losses(losses, iteration=it)
        loss, log_vars = rdet_models.parse_losses(losses)
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(it)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        opt.step()
        history.append(log_vars["loss"])
    model.eval()
    results = []
    for i in range(0, len(test), 8):
        results += [detections_to_result(d, 2) for d in model.predict(to_batch(test[i : i + 8]))]
    annotations = [dict(bboxes=it[1], labels=it[2]) for it in test]
    mean_ap, _ = rdet_eval.eval_rbbox_map(results, annotations, iou_thr=0.5, logger="silent")
    return float(np.mean(history[:10])), float(np.mean(history[-10:])), float(mean_ap)


@pytest.mark.skipif(not CONFIG.is_file(), reason="MMRotate's config files (../shared/configs) are absent")
def test_rotated_retinanet_learns_synthetic_set(small_overrides: dict) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = make_images(64, rng), make_images(24, rng)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        {
            **small_overrides,
            "model.backbone.frozen_stages": -1,
            "model.backbone.norm_eval": False,
            "model.bbox_head.num_classes": 2,
            "model.test_cfg.score_thr": 0.05,
            "model.test_cfg.max_per_img": 50,
        }
    )
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    first, last, mean_ap = fit_and_map(model, train, test, rng, iters=200, batch=8, lr=2e-3)
    assert last < 0.5 * first, (first, last)
    print(f"training: loss {first:.3f} -> {last:.3f} in 200 iterations, mAP@0.5 {mean_ap:.3f}")
    assert mean_ap > 0.4, mean_ap


ORIENTED_RCNN = (
    SHARED / "configs" / "mmrotate-0.3.4" / "oriented_rcnn" / "oriented_rcnn_r50_fpn_1x_dota_le90.py"
)
#: the Oriented R-CNN golden case's small backbone, trained from scratch, fewer proposals
ORIENTED_SMALL = {
    "model.backbone.depth": 18,
    "model.backbone.base_channels": 16,
    "model.backbone.init_cfg": None,
    "model.backbone.frozen_stages": -1,
    "model.backbone.norm_eval": False,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 32,
    "model.rpn_head.in_channels": 32,
    "model.rpn_head.feat_channels": 32,
    "model.roi_head.bbox_roi_extractor.out_channels": 32,
    "model.roi_head.bbox_head.in_channels": 32,
    "model.roi_head.bbox_head.fc_out_channels": 64,
    "model.roi_head.bbox_head.num_classes": 2,
    "model.train_cfg.rpn_proposal.nms_pre": 300,
    "model.train_cfg.rpn_proposal.max_per_img": 200,
    "model.train_cfg.rcnn.sampler.num": 128,
    "model.test_cfg.rpn.nms_pre": 300,
    "model.test_cfg.rpn.max_per_img": 200,
    "model.test_cfg.rcnn.score_thr": 0.05,
    "model.test_cfg.rcnn.max_per_img": 50,
}
ORIENTED_ITERS = 120


@pytest.mark.skipif(
    not ORIENTED_RCNN.is_file(), reason="MMRotate's config files (../shared/configs) are absent"
)
def test_oriented_rcnn_learns_synthetic_set() -> None:
    """The two-stage path trains: MMRotate's Oriented R-CNN config (small backbone, from scratch)
    on the same synthetic set, AdamW, ORIENTED_ITERS iterations of 4 images; the loss (RPN +
    RoI head; its background-classification part plateaus early) falls by over 40% and mAP@0.5
    on 24 held-out images exceeds 0.3 (0.81 when written, loss 0.99 -> 0.46)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = make_images(64, rng), make_images(24, rng)
    cfg = Config.fromfile(ORIENTED_RCNN)
    cfg.merge_from_dict(ORIENTED_SMALL)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=1e-4)
    history = []
    for it in range(ORIENTED_ITERS):
        idx = rng.choice(len(train), 4, replace=False)
        losses = model.loss(to_batch([train[i] for i in idx]))
        rdet_models.check_finite_losses(losses, iteration=it)
        loss, log_vars = rdet_models.parse_losses(losses)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        opt.step()
        history.append(log_vars["loss"])
    first, last = np.mean(history[:10]), np.mean(history[-10:])
    model.eval()
    results = []
    for i in range(0, len(test), 8):
        results += [detections_to_result(d, 2) for d in model.predict(to_batch(test[i : i + 8]))]
    annotations = [dict(bboxes=it[1], labels=it[2]) for it in test]
    mean_ap, _ = rdet_eval.eval_rbbox_map(results, annotations, iou_thr=0.5, logger="silent")
    print(
        f"oriented r-cnn: loss {first:.3f} -> {last:.3f} in {ORIENTED_ITERS} iterations, mAP@0.5 {mean_ap:.3f}"
    )
    assert last < 0.6 * first, (first, last)
    assert mean_ap > 0.3, mean_ap
