"""The Rotated FCOS family on the typed internals: strict loading of MMRotate's checkpoint,
``PointTargets`` by name, the MMDetection adapters, ``RotatedIoULoss`` (value, gradcheck,
edge cases), ``IoULoss`` / ``GIoULoss``, and a short training run on the synthetic set.

Checkpoint parity (init_detector + inference_detector, 100/100 detections) is in
rdet-apps' test_apis_inference.py (``test_checkpoint_parity[rotated_fcos_le90]``); the
coder's golden case in test_golden.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import rdet_models
from rbox_geometry import rbbox_overlaps
from rdet_core import Config
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta
from rdet_models.heads import CSLRFCOSHead, RotatedFCOSHead
from rdet_models.losses import GIoULoss, IoULoss, RotatedIoULoss
from rdet_models.targets import PointTargets

FCOS = "rotated_fcos/rotated_fcos_r50_fpn_1x_dota_le90.py"
CSL_FCOS = "rotated_fcos/rotated_fcos_csl_gaussian_r50_fpn_1x_dota_le90.py"


def small_fcos(
    configs_dir: Path, small_overrides: dict, config: str = FCOS, **extra: object
) -> torch.nn.Module:
    cfg = Config.fromfile(configs_dir / config)
    cfg.merge_from_dict({**small_overrides, **extra})
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    return model


def _batch() -> DetBatch:
    torch.manual_seed(1)
    metas = [ImageMeta(None, (128, 160, 3), (128, 160, 3)) for _ in range(2)]
    gts = [
        GroundTruth(
            torch.tensor([[50.0, 40.0, 40.0, 16.0, 0.3], [100.0, 90.0, 24.0, 30.0, -0.7]]),
            torch.tensor([0, 14]),
        ),
        GroundTruth(torch.tensor([[80.0, 64.0, 60.0, 20.0, 1.2]]), torch.tensor([3])),
    ]
    return DetBatch(torch.randn(2, 3, 128, 160), metas, gts)


# -- MMRotate's checkpoint ----------------------------------------------------------------------


def test_fcos_checkpoint_loads_strictly(golden_dir: Path, configs_dir: Path) -> None:
    case = json.loads((golden_dir / "models" / "cases.json").read_text())["rotated_fcos_le90"]
    cfg = Config.fromfile(configs_dir / case["config"])
    cfg.merge_from_dict({k: v for k, v in case["overrides"].items() if k.startswith("model.")})
    model = rdet_models.build_detector(cfg.model)
    assert type(model).__name__ == "RotatedFCOS" and type(model.bbox_head) is RotatedFCOSHead
    ckpt = torch.load(golden_dir / "models" / case["checkpoint"], map_location="cpu", weights_only=False)
    assert len(ckpt["state_dict"]) == case["state_dict_keys"] == 162 == len(model.state_dict())
    model.load_state_dict(ckpt["state_dict"], strict=True)


# -- typed internals ----------------------------------------------------------------------------


def test_point_targets_are_named_and_split_per_level(configs_dir: Path, small_overrides: dict) -> None:
    model = small_fcos(configs_dir, small_overrides)
    head, b = model.bbox_head, _batch()
    x = model.extract_feat(b.images)
    sizes = [f.shape[-2:] for f in x]
    points = head.get_points(sizes, torch.float32, "cpu")
    t = head.get_targets(points, b.gts)
    assert isinstance(t, PointTargets) and t.num_levels == 5 and t.num_imgs == 2
    for lvl, (h, w) in enumerate(sizes):
        n = 2 * h * w
        assert points[lvl].shape == (h * w, 2)
        assert t.labels[lvl].shape == (n,) and t.bbox_targets[lvl].shape == (n, 4)
        assert t.angle_targets[lvl].shape == (n, 1) and t.centerness[lvl].shape == (n,)
    pos = t.pos_inds()
    assert len(pos) > 0
    assert set(t.flat("labels")[pos].tolist()) <= {0, 3, 14}
    c = t.flat("centerness")
    assert ((c[pos] > 0) & (c[pos] <= 1)).all() and (c.sum() == c[pos].sum())
    # a positive's distances, back in pixels, decode to its gt (norm_on_bbox: in strides)
    strides = torch.cat([torch.full((2 * h * w,), float(s)) for (h, w), s in zip(sizes, head.strides)])
    i = int(pos[0])
    dist = torch.cat([t.flat("bbox_targets")[i] * strides[i], t.flat("angle_targets")[i]])
    box = head.bbox_coder.decode(t.flat_points()[i : i + 1], dist[None])
    gts = torch.cat([g.boxes for g in b.gts])
    assert torch.isclose(box[:, :4], gts[:, :4], atol=1e-3).all(-1).any()


def test_csl_fcos_encodes_angle_targets_by_name(configs_dir: Path, small_overrides: dict) -> None:
    model = small_fcos(configs_dir, small_overrides, CSL_FCOS)
    head, b = model.bbox_head, _batch()
    assert isinstance(head, CSLRFCOSHead) and head.conv_angle.out_channels == head.coding_len == 180
    losses = model.loss(b)
    assert list(losses) == ["loss_cls", "loss_bbox", "loss_angle", "loss_centerness"]
    sizes = [f.shape[-2:] for f in model.extract_feat(b.images)]
    t = head.get_targets(head.get_points(sizes, torch.float32, "cpu"), b.gts)
    assert t.angle_targets[0].shape[1] == 180


def test_mmdetection_adapters_give_the_typed_numbers(configs_dir: Path, small_overrides: dict) -> None:
    model = small_fcos(configs_dir, small_overrides)
    head, b = model.bbox_head, _batch()
    x = model.extract_feat(b.images)
    outs = head(x)
    assert len(outs) == len(head.pred_names) == 4
    typed = head.loss_by_feat(outs, b.gts, b.metas)
    metas = [m.as_mmrotate() for m in b.metas]
    legacy = head.loss(*outs, [g.boxes for g in b.gts], [g.labels for g in b.gts], metas)
    assert list(typed) == ["loss_cls", "loss_bbox", "loss_centerness"]
    for k in typed:
        torch.testing.assert_close(typed[k], legacy[k], rtol=0, atol=0)
    model.eval()
    with torch.no_grad():
        x = model.extract_feat(b.images)
        dets = head.predict(x, b.metas, rescale=False)
        pairs = head.simple_test(x, metas, rescale=False)
        bboxes = head.get_bboxes(*head(x), img_metas=metas)
    for d, (p, lab), (q, lab2) in zip(dets, pairs, bboxes):
        torch.testing.assert_close(torch.cat([d.boxes, d.scores[:, None]], 1), p, rtol=0, atol=0)
        torch.testing.assert_close(p, q, rtol=0, atol=0)
        assert torch.equal(d.labels, lab) and torch.equal(lab, lab2)


def test_image_without_ground_truth(configs_dir: Path, small_overrides: dict) -> None:
    model = small_fcos(configs_dir, small_overrides)
    b = _batch()
    empty = GroundTruth(torch.zeros((0, 5)), torch.zeros(0, dtype=torch.long))
    losses = model.loss(DetBatch(b.images, b.metas, [empty, empty]))
    assert (
        all(torch.isfinite(v).all() for v in losses.values()) and float(losses["loss_bbox"].detach()) == 0.0
    )
    sum(losses.values()).backward()  # the zero terms keep the graph


# -- losses -------------------------------------------------------------------------------------


def _random_pairs(
    n: int, dtype: torch.dtype = torch.float64, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, 5, generator=g, dtype=dtype)
    p[:, :2] *= 40
    p[:, 2:4] = p[:, 2:4] * 20 + 1
    p[:, 4] = (p[:, 4] - 0.5) * 2 * math.pi
    t = torch.rand(n, 5, generator=g, dtype=dtype)
    t[:, :2] = p[:, :2] + (t[:, :2] - 0.5) * 12
    t[:, 2:4] = t[:, 2:4] * 20 + 1
    t[:, 4] = (t[:, 4] - 0.5) * 2 * math.pi
    return p, t


def test_rotated_iou_loss_is_one_minus_the_exact_iou() -> None:
    p, t = _random_pairs(500, torch.float32)
    loss = RotatedIoULoss(mode="linear", reduction="none")(p, t)
    exact = 1 - rbbox_overlaps(p.double().numpy(), t.double().numpy(), is_aligned=True)
    assert loss.dtype == torch.float32 and (exact < 1).sum() > 300  # most pairs overlap
    np.testing.assert_allclose(loss.double().numpy(), exact, rtol=0, atol=1e-5)
    # 'log' (MMRotate's default): -log(max(IoU, eps)); reduction with weights and avg_factor
    iou = torch.from_numpy(1 - exact)
    log = RotatedIoULoss(reduction="none")(p.double(), t.double())
    torch.testing.assert_close(log, -iou.clamp(min=1e-6).log())
    w = torch.rand(500, dtype=torch.float64)
    mean = RotatedIoULoss(loss_weight=2.0)(p.double(), t.double(), weight=w, avg_factor=7.0)
    torch.testing.assert_close(mean, 2.0 * (log * w).sum() / (7.0 + torch.finfo(torch.float32).eps))
    zero = RotatedIoULoss()(
        p.double().requires_grad_(), t.double(), weight=torch.zeros(500, dtype=torch.float64)
    )
    assert float(zero.detach()) == 0.0 and zero.requires_grad


def test_rotated_iou_loss_gradcheck() -> None:
    p, t = _random_pairs(30)
    keep = (rbbox_overlaps(p, t, is_aligned=True) > 0.05) & (rbbox_overlaps(p, t, is_aligned=True) < 0.95)
    p, t = p[keep][:12].requires_grad_(), t[keep][:12].requires_grad_()
    assert len(p) >= 6
    for mode in ("log", "linear", "square"):
        loss = RotatedIoULoss(mode=mode, reduction="none")
        assert torch.autograd.gradcheck(lambda a, b: loss(a, b), (p, t))  # noqa: B023


def test_rotated_iou_loss_gradients_are_finite_at_the_edge_cases() -> None:
    box = [20.0, 20.0, 10.0, 6.0, 0.4]
    cases = {
        "identical": ([box], [box]),
        "disjoint": ([box], [[80.0, 80.0, 10.0, 6.0, 0.4]]),
        "zero width": ([[20.0, 20.0, 0.0, 6.0, 0.4]], [box]),
        "zero size": ([[20.0, 20.0, 0.0, 0.0, 0.0]], [box]),
        "both degenerate": ([[20.0, 20.0, 0.0, 6.0, 0.4]], [[20.0, 20.0, 0.0, 6.0, 0.4]]),
        "axis aligned, shared edge": ([[20.0, 20.0, 10.0, 6.0, 0.0]], [[25.0, 20.0, 10.0, 6.0, 0.0]]),
        "rotated by pi": ([box], [[20.0, 20.0, 10.0, 6.0, 0.4 + math.pi]]),
    }
    for name, (a, b) in cases.items():
        for dtype in (torch.float32, torch.float64):
            p = torch.tensor(a, dtype=dtype, requires_grad=True)
            t = torch.tensor(b, dtype=dtype, requires_grad=True)
            for mode in ("log", "linear"):
                loss = RotatedIoULoss(mode=mode)(p, t)
                gp, gt = torch.autograd.grad(loss, (p, t))
                assert torch.isfinite(loss) and torch.isfinite(gp).all() and torch.isfinite(gt).all(), name
    same = RotatedIoULoss(mode="linear", reduction="none")(torch.tensor([box, box]), torch.tensor([box, box]))
    assert same.abs().max() < 1e-6


def test_horizontal_iou_losses() -> None:
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [4.0, 4.0, 6.0, 6.0]])
    iou = torch.tensor([1.0, 50 / 150, 0.0])
    torch.testing.assert_close(IoULoss(reduction="none")(a, b), -iou.clamp(min=1e-6).log())
    torch.testing.assert_close(IoULoss(mode="linear", reduction="none")(a, b), 1 - iou)
    giou = iou - torch.tensor([0.0, 0.0, (36 - 8) / 36])
    torch.testing.assert_close(GIoULoss(reduction="none")(a, b), 1 - giou)
    w = torch.zeros(3)
    assert float(GIoULoss()(a.requires_grad_(), b, weight=w).detach()) == 0.0


# -- training -----------------------------------------------------------------------------------

TRAIN_ITERS = 60


def test_rotated_fcos_learns_synthetic_set(
    configs_dir: Path, small_overrides: dict, learning: ModuleType
) -> None:
    """MMRotate's rotated_fcos_le90 config (small backbone, from scratch) on learning.py's
    synthetic set: AdamW, TRAIN_ITERS iterations of 4 images; the loss falls to under half and
    mAP@0.5 on 24 held-out images exceeds 0.2 (0.41 when written, loss 3.38 -> 1.51 over the first
    and last 10 iterations)."""
    pytest.importorskip("cv2")
    pytest.importorskip("rdet_eval")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = learning.make_images(64, rng), learning.make_images(24, rng)
    model = small_fcos(
        configs_dir,
        small_overrides,
        **{
            "model.backbone.frozen_stages": -1,
            "model.backbone.norm_eval": False,
            "model.bbox_head.num_classes": 2,
            "model.test_cfg.score_thr": 0.05,
            "model.test_cfg.max_per_img": 50,
        },
    )
    first, last, mean_ap = learning.fit_and_map(model, train, test, rng, iters=TRAIN_ITERS, batch=4, lr=3e-3)
    assert last < 0.5 * first, (first, last)
    print(f"FCOS training: loss {first:.3f} -> {last:.3f} in {TRAIN_ITERS} iterations, mAP@0.5 {mean_ap:.3f}")
    assert mean_ap > 0.2, mean_ap
