"""The plugin's dataset follows rdet's dataset contract: a loader over it feeds a detector
built by config (with the plugin's backbone) through a training step. Nothing imports the plugin."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import rdet_models
from rdet_core import Config
from rdet_core.structures import DetBatch, DetSample
from rdet_data import build_dataloader, build_dataloaders, build_dataset

#: a Rotated RetinaNet as MMRotate's rotated_retinanet_obb_le90 config, on the plugin's backbone
MODEL = dict(
    type="RotatedRetinaNet",
    backbone=dict(type="TinyConvBackbone", base_channels=8, out_indices=(1, 2, 3)),  # strides 4, 8, 16
    neck=dict(type="FPN", in_channels=[16, 32, 64], out_channels=16, start_level=0,
              add_extra_convs="on_input", num_outs=5),
    bbox_head=dict(
        type="RotatedRetinaHead", num_classes=2, in_channels=16, feat_channels=16, stacked_convs=1,
        assign_by_circumhbbox=None,
        anchor_generator=dict(type="RotatedAnchorGenerator", octave_base_scale=2, scales_per_octave=3,
                              ratios=[1.0, 0.5, 2.0], strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(type="DeltaXYWHAOBBoxCoder", angle_range="le90", norm_factor=None, edge_swap=True,
                        proj_xy=True, target_means=(0.0, 0.0, 0.0, 0.0, 0.0), target_stds=(1.0, 1.0, 1.0, 1.0, 1.0)),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1,
                      iou_calculator=dict(type="RBboxOverlaps2D")),
        allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=200, min_bbox_size=0, score_thr=0.05, nms=dict(iou_thr=0.1), max_per_img=20),
)  # fmt: skip

#: MMRotate's dotav1.py training pipeline, smaller: it runs unchanged on the in-memory images
TRAIN_PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="RResize", img_scale=(96, 96)),
    dict(type="RRandomFlip", flip_ratio=0.5, version="le90"),
    dict(type="Normalize", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    dict(type="Pad", size_divisor=32),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels"]),
]


def _train_step(model: torch.nn.Module, batch: DetBatch) -> float:
    """One SGD step; returns the loss and checks that every trainable parameter it reached moved."""
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    losses = model.loss(batch)
    assert {"loss_cls", "loss_bbox"} <= set(losses)
    loss, log_vars = rdet_models.parse_losses(losses)
    assert torch.isfinite(loss) and np.isfinite(log_vars["loss"]) and loss.item() > 0
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert any(name.startswith("backbone.") for name in changed)  # the plugin's backbone learns
    assert any(name.startswith("bbox_head.") for name in changed)
    return float(loss.detach())


def test_toy_dataset_trains_a_step():
    torch.manual_seed(0)
    ds = build_dataset(dict(type="ToyShapesDataset", num_images=4, img_size=64, max_objects=3))
    assert isinstance(ds[0], DetSample)
    loader = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, dist=False, seed=0)
    batch = next(iter(loader))
    assert isinstance(batch, DetBatch) and batch.images.shape == (2, 3, 64, 64)
    assert batch.images.dtype == torch.float32 and len(batch.gts) == 2
    assert batch.gts[0].boxes.dtype == torch.float32 and batch.gts[0].labels.dtype == torch.int64
    model = rdet_models.build_detector(copy.deepcopy(MODEL))
    model.init_weights()
    first = _train_step(model, batch)
    model.eval()
    dets = model.predict(batch)
    assert len(dets) == 2 and all(d.boxes.shape[1] == 5 for d in dets)
    assert first > 0


def test_config_with_the_toy_dataset_and_an_mmrotate_pipeline(tmp_path):
    """``data.train = dict(type='ToyShapesDataset', ...)`` in a config file, through
    ``build_dataloaders`` (val built with test_mode=True), with and without a pipeline."""
    cfg_file = tmp_path / "toy.py"
    cfg_file.write_text(
        f"model = {MODEL!r}\n"
        f"train_pipeline = {TRAIN_PIPELINE!r}\n"
        "data = dict(samples_per_gpu=2, workers_per_gpu=1,\n"
        "            train=dict(type='ToyShapesDataset', num_images=4, img_size=80, pipeline=train_pipeline),\n"
        "            val=dict(type='ToyShapesDataset', num_images=2, img_size=64, seed=1))\n"
    )
    cfg = Config.fromfile(str(cfg_file))
    loaders = build_dataloaders(cfg.data, splits=("train", "val"), seed=0)
    batch = next(iter(loaders["train"]))
    assert batch.images.shape == (2, 3, 96, 96)
    np.testing.assert_allclose(batch.metas[0].scale_factor, [1.2] * 4)
    assert batch.metas[0].filename is None and len(batch.gts) == 2
    val = next(iter(loaders["val"]))
    assert val.gts is None and loaders["val"].dataset.test_mode
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    _train_step(model, batch)


def test_evaluate_with_a_scorer():
    rdet_eval = pytest.importorskip("rdet_eval")
    ds = build_dataset(dict(type="ToyShapesDataset", num_images=3, img_size=64, test_mode=True))
    assert ds[0].gt is None
    perfect = []
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        rows = np.hstack([ann["bboxes"], np.ones((len(ann["bboxes"]), 1), np.float32)])
        perfect.append([rows[ann["labels"] == c] for c in range(2)])
    metrics = ds.evaluate(perfect, scorer=rdet_eval.eval_rbbox_map, logger="silent")
    assert metrics["mAP"] == pytest.approx(1.0)
