"""RotatedRetinaNet through rdet's interface (DetBatch -> loss / predict) and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rdet_models
from rdet_core.structures import DetBatch, Detections, GroundTruth, ImageMeta


def small_retinanet(head: str = "RotatedRetinaHead", **head_kw: object) -> torch.nn.Module:
    cfg = dict(
        type="RotatedRetinaNet",
        backbone=dict(type="ResNet", depth=18, base_channels=8, frozen_stages=1, norm_eval=True),
        neck=dict(
            type="FPN",
            in_channels=[8, 16, 32, 64],
            out_channels=16,
            start_level=1,
            add_extra_convs="on_input",
            num_outs=5,
        ),
        bbox_head=dict(
            type=head,
            num_classes=3,
            in_channels=16,
            feat_channels=16,
            stacked_convs=1,
            assign_by_circumhbbox=None,
            anchor_generator=dict(
                type="RotatedAnchorGenerator",
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[1.0, 0.5, 2.0],
                strides=[8, 16, 32, 64, 128],
            ),
            bbox_coder=dict(type="DeltaXYWHAOBBoxCoder", angle_range="le90", edge_swap=True, proj_xy=True),
            loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type="L1Loss", loss_weight=1.0),
            **head_kw,
        ),
        train_cfg=dict(
            assigner=dict(
                type="MaxIoUAssigner",
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1,
                iou_calculator=dict(type="RBboxOverlaps2D"),
            ),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        ),
        test_cfg=dict(nms_pre=200, min_bbox_size=0, score_thr=0.0, nms=dict(iou_thr=0.1), max_per_img=20),
    )
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg)
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


def test_loss_names_and_levels() -> None:
    model = small_retinanet().train()
    losses = model.loss(batch([gt(GOOD, [0, 2]), gt(GOOD[:1], [1])]))
    assert set(losses) == {"loss_cls", "loss_bbox"}
    assert len(losses["loss_cls"]) == 5 and all(v.dim() == 0 for v in losses["loss_cls"])
    total, log_vars = rdet_models.parse_losses(losses)
    assert set(log_vars) == {"loss_cls", "loss_bbox", "loss"} and log_vars["loss"] == pytest.approx(
        float(total.detach())
    )
    total.backward()


def test_image_without_ground_truth() -> None:
    model = small_retinanet().train()
    losses = model.loss(batch([gt([], []), gt([], [])]))
    total, log_vars = rdet_models.parse_losses(losses)
    assert np.isfinite(log_vars["loss"]) and log_vars["loss_bbox"] == 0 and log_vars["loss_cls"] > 0
    total.backward()
    csl = small_retinanet(
        "CSLRRetinaHead",
        angle_coder=dict(type="CSLCoder", angle_version="le90", omega=4, window="gaussian", radius=3),
    )
    losses = csl.train().loss(batch([gt([], []), gt(GOOD, [0, 1])]))
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_angle"}
    rdet_models.check_finite_losses(losses, iteration=3)


def test_invalid_ground_truth_is_filtered() -> None:
    model = small_retinanet().train()
    bad = [[60.0, 50.0, 0.0, 10.0, 0.1], [20.0, 20.0, 10.0, 0.3, 0.0], [30.0, 30.0, float("nan"), 5.0, 0.0]]
    with_bad = model.loss(batch([gt(GOOD + bad, [0, 2, 1, 1, 1]), gt(bad, [0, 0, 0])]))
    clean = model.loss(batch([gt(GOOD, [0, 2]), gt([], [])]))
    rdet_models.check_finite_losses(with_bad, iteration=0)
    for name in clean:
        for a, b in zip(with_bad[name], clean[name]):
            assert torch.allclose(a, b), name


def test_nan_loss_check_names_iteration_and_term() -> None:
    losses = {
        "loss_cls": [torch.tensor(0.5), torch.tensor(float("nan"))],
        "loss_bbox": torch.tensor(float("inf")),
        "acc": 1.0,
    }
    with pytest.raises(
        rdet_models.NonFiniteLossError, match=r"iteration 17: loss_cls\[level 1\], loss_bbox"
    ) as err:
        rdet_models.check_finite_losses(losses, iteration=17)
    assert err.value.iteration == 17 and err.value.terms == ["loss_cls[level 1]", "loss_bbox"]
    assert isinstance(err.value, FloatingPointError)
    rdet_models.check_finite_losses({"loss_cls": torch.tensor(1.0)}, iteration=0)


def test_predict_in_original_image_coordinates() -> None:
    model = small_retinanet().eval()
    dets = model.predict(batch(None, scale=2.0))
    raw = model.predict(batch(None, scale=2.0), rescale=False)
    assert len(dets) == 2 and all(isinstance(d, Detections) for d in dets)
    d, r = dets[0], raw[0]
    assert len(d) == 20 and d.boxes.shape == (20, 5)
    assert torch.allclose(d.boxes[:, :4], r.boxes[:, :4] / 2) and torch.equal(d.boxes[:, 4], r.boxes[:, 4])
    assert bool(((d.labels >= 0) & (d.labels < 3)).all()) and bool((d.scores[:-1] >= d.scores[1:]).all())
    # MMDetection's face gives the same, as a list per class of (k, 6) arrays
    metas = [m.as_mmrotate() for m in batch(None, scale=2.0).metas]
    results = model(return_loss=False, rescale=True, img=[batch(None, scale=2.0).images], img_metas=[metas])
    assert sum(len(a) for a in results[0]) == 20 and all(a.dtype == np.float32 for a in results[0])


def test_train_step_and_kfiou_head() -> None:
    model = small_retinanet("KFIoURRetinaHead").train()
    model.bbox_head.loss_bbox = rdet_models.build(dict(type="KFLoss", fun="ln", loss_weight=5.0))
    b = batch([gt(GOOD, [0, 2]), gt(GOOD[1:], [1])])
    data = dict(
        img=b.images,
        img_metas=[m.as_mmrotate() for m in b.metas],
        gt_bboxes=[g.boxes for g in b.gts],
        gt_labels=[g.labels for g in b.gts],
    )
    out = model.train_step(data, None)
    assert out["num_samples"] == 2 and np.isfinite(out["log_vars"]["loss_bbox"]) and out["loss"].requires_grad


def test_hbb_variant_assigns_by_enclosing_box() -> None:
    model = small_retinanet()
    model.bbox_head.assign_by_circumhbbox = "oc"
    losses = model.train().loss(batch([gt(GOOD, [0, 1]), gt([], [])]))
    rdet_models.check_finite_losses(losses)
