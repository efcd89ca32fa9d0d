"""Losses (MMDetection's weight / avg_factor / reduction), assigner, samplers, anchors, build()."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import rdet_models
from rdet_core import UnknownTypeError

EPS = torch.finfo(torch.float32).eps


def test_build_dispatches_to_every_registry() -> None:
    assert type(rdet_models.build(dict(type="FocalLoss"))).__name__ == "FocalLoss"
    assert type(rdet_models.build(dict(type="CSLCoder", angle_version="le90"))).__name__ == "CSLCoder"
    assert (
        type(rdet_models.build(dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4))).__name__
        == "MaxIoUAssigner"
    )
    assert type(rdet_models.build(dict(type="PseudoSampler"))).__name__ == "PseudoSampler"
    assert type(rdet_models.build(dict(type="RBboxOverlaps2D"))).__name__ == "RBboxOverlaps2D"
    assert (
        type(rdet_models.build(dict(type="AnchorGenerator", strides=[8], ratios=[1.0], scales=[4]))).__name__
        == "AnchorGenerator"
    )
    with pytest.raises(UnknownTypeError, match="RotatedRetinaHed"):
        rdet_models.build(dict(type="RotatedRetinaHed"))
    with pytest.raises(KeyError, match="type"):
        rdet_models.build(dict(num_classes=3))


def test_focal_loss_matches_formula_and_avg_factor() -> None:
    torch.manual_seed(0)
    pred, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 3, 1])  # 3 = background
    weight = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 2.0])
    loss = rdet_models.build(dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0))
    t = F.one_hot(labels, 4)[:, :3].float()
    p = pred.sigmoid()
    pt = (1 - p) * t + p * (1 - t)
    ref = F.binary_cross_entropy_with_logits(pred, t, reduction="none") * (0.25 * t + 0.75 * (1 - t)) * pt**2
    ref = ref * weight[:, None]
    assert torch.allclose(loss(pred, labels, weight, avg_factor=4), 2 * ref.sum() / (4 + EPS))
    assert torch.allclose(loss(pred, labels, weight), 2 * ref.mean())
    assert torch.allclose(loss(pred, labels, weight, reduction_override="sum"), 2 * ref.sum())
    assert loss(pred, labels, weight, reduction_override="none").shape == (6, 3)
    with pytest.raises(ValueError, match="avg_factor"):
        loss(pred, labels, weight, avg_factor=2, reduction_override="sum")


def test_l1_smooth_l1_cross_entropy_semantics() -> None:
    pred, target = torch.tensor([[0.0, 2.0], [1.0, 1.05]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    w = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    l1 = rdet_models.build(dict(type="L1Loss", loss_weight=0.5))
    assert torch.allclose(l1(pred, target, w, avg_factor=2), 0.5 * torch.tensor(3.05) / (2 + EPS))
    sl1 = rdet_models.build(dict(type="SmoothL1Loss", beta=1.0 / 9.0))
    d = torch.tensor([1.0, 2.0, 0.0, 0.05])
    ref = torch.where(d < 1 / 9, 0.5 * d * d * 9, d - 0.5 / 9)
    assert torch.allclose(sl1(pred, target, reduction_override="sum"), ref.sum())
    assert l1(pred[:0], target[:0]).item() == 0
    ce = rdet_models.build(dict(type="CrossEntropyLoss"))
    logits, labels = torch.randn(4, 5), torch.tensor([0, 4, 2, 1])
    assert torch.allclose(ce(logits, labels), F.cross_entropy(logits, labels))
    bce = rdet_models.build(dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=2.0))
    soft = torch.rand(4, 5)
    ref = (
        F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
        * torch.tensor([1.0, 0, 1, 1])[:, None]
    )
    assert torch.allclose(
        bce(logits, soft, weight=torch.tensor([[1.0], [0], [1], [1]]), avg_factor=3),
        2 * ref.sum() / (3 + EPS),
    )
    onehot_ref = F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, 5).float())
    assert torch.allclose(bce(logits, labels), 2 * onehot_ref)


def test_gd_losses_zero_weight_and_reductions() -> None:
    pred = torch.tensor([[10.0, 10.0, 20.0, 10.0, 0.1], [30.0, 30.0, 12.0, 8.0, -0.4]], requires_grad=True)
    target = torch.tensor([[11.0, 10.0, 22.0, 9.0, 0.2], [30.0, 30.0, 12.0, 8.0, -0.4]])
    for cfg in (
        dict(type="GDLoss", loss_type="gwd"),
        dict(type="GDLoss", loss_type="kld", fun="log1p", tau=1, sqrt=False),
        dict(type="GDLoss_v1", loss_type="kld", fun="log1p", tau=1),
        dict(type="GDLoss_v1", loss_type="bcd"),
        dict(type="GDLoss_v1", loss_type="gwd"),
    ):
        loss = rdet_models.build(cfg)
        zero = loss(pred, target, weight=torch.zeros(2, 5), avg_factor=1)
        assert zero.item() == 0 and zero.requires_grad
        value = loss(pred, target, weight=torch.ones(2, 5), avg_factor=2)
        assert torch.isfinite(value).all()
    sfl = rdet_models.build(dict(type="SmoothFocalLoss", loss_weight=0.8))
    assert sfl(torch.zeros(3, 4), torch.full((3, 4), 0.5)).item() > 0


def test_max_iou_assigner_and_pseudo_sampler() -> None:
    assigner = rdet_models.build(
        dict(
            type="MaxIoUAssigner",
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1,
            iou_calculator=dict(type="RBboxOverlaps2D"),
        )
    )
    anchors = torch.tensor(
        [
            [10.0, 10, 10, 10, 0],
            [12, 10, 10, 10, 0],
            [50, 50, 10, 10, 0],
            [53, 50, 10, 10, 0],
            [90, 90, 4, 4, 0],
        ]
    )
    gts = torch.tensor([[10.0, 10, 10, 10, 0], [52, 50, 10, 10, 0]])
    res = assigner.assign(anchors, gts, gt_labels=torch.tensor([3, 7]))
    assert res.gt_inds.tolist() == [1, 1, 2, 2, 0]
    assert res.labels.tolist() == [3, 3, 7, 7, -1]
    empty = assigner.assign(anchors, gts[:0])
    assert empty.gt_inds.tolist() == [0] * 5
    sampling = rdet_models.build(dict(type="PseudoSampler")).sample(res, anchors, gts)
    assert sampling.pos_inds.tolist() == [0, 1, 2, 3] and sampling.neg_inds.tolist() == [4]
    assert torch.equal(sampling.pos_gt_bboxes, gts[[0, 0, 1, 1]])
    # ignored boxes: anchors overlapping them (IoF > thr) get -1
    assigner.ignore_iof_thr = 0.5
    res = assigner.assign(anchors, gts[:1], gt_bboxes_ignore=torch.tensor([[90.0, 90, 10, 10, 0]]))
    assert res.gt_inds[4].item() == -1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(pos_iou_thr=1.5, neg_iou_thr=0.4), r"pos_iou_thr must be an IoU in \[0, 1\], got 1.5"),
        (dict(pos_iou_thr=-0.1, neg_iou_thr=0.0), r"pos_iou_thr must be an IoU in \[0, 1\], got -0.1"),
        (dict(pos_iou_thr=float("nan"), neg_iou_thr=0.4), r"pos_iou_thr must be an IoU in \[0, 1\], got nan"),
        (dict(pos_iou_thr="0.5", neg_iou_thr=0.4), r"pos_iou_thr must be an IoU in \[0, 1\], got '0.5'"),
        (dict(pos_iou_thr=0.5, neg_iou_thr=0.6), r"neg_iou_thr \(0.6\) must not exceed pos_iou_thr \(0.5\)"),
        (dict(pos_iou_thr=0.5, neg_iou_thr=-0.2), r"neg_iou_thr must be an IoU in \[0, 1\], got -0.2"),
        (dict(pos_iou_thr=0.5, neg_iou_thr=(0.4, 0.1)), r"neg_iou_thr \(low, high\) must have low < high"),
        (
            dict(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.6)),
            r"neg_iou_thr \(\(0.1, 0.6\)\) must not exceed pos_iou_thr",
        ),
        (
            dict(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.2, 0.3)),
            r"neg_iou_thr must be an IoU or a \(low, high\) pair",
        ),
        (
            dict(pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=2),
            r"min_pos_iou must be an IoU in \[0, 1\], got 2",
        ),
        (dict(pos_iou_thr=0.5, neg_iou_thr=0.4, ignore_iof_thr=1.5), r"ignore_iof_thr must be -1 \(off\)"),
        (dict(pos_iou_thr=0.5, neg_iou_thr=0.4, ignore_iof_thr=0), r"ignore_iof_thr must be -1 \(off\)"),
    ],
)
def test_max_iou_assigner_refuses_impossible_thresholds(kwargs: dict, message: str) -> None:
    """MMDetection builds these and trains with no positive (pos_iou_thr > 1), priors both negative and
    positive (neg_iou_thr > pos_iou_thr) or no negative (an inverted (low, high) pair)."""
    with pytest.raises(ValueError, match="MaxIoUAssigner: " + message):
        rdet_models.build(dict(type="MaxIoUAssigner", **kwargs))
    with pytest.raises(ValueError, match="MaxConvexIoUAssigner: " + message):
        rdet_models.build(dict(type="MaxConvexIoUAssigner", **kwargs))


def test_max_iou_assigner_accepts_mmdetections_thresholds() -> None:
    for kwargs in (
        dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5),  # RoI heads
        dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3),  # RPN
        dict(pos_iou_thr=0.5, neg_iou_thr=(0.0, 0.4), ignore_iof_thr=0.5),
        dict(pos_iou_thr=1, neg_iou_thr=0, min_pos_iou=1),
    ):
        rdet_models.build(dict(type="MaxIoUAssigner", **kwargs))
    rdet_models.build(
        dict(type="MaxConvexIoUAssigner", pos_iou_thr=0.1, neg_iou_thr=0.1)
    )  # Rotated RepPoints


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (dict(type="ATSSObbAssigner", topk=0), "topk must be a positive int, got 0"),
        (dict(type="ATSSKldAssigner", topk=-3), "topk must be a positive int, got -3"),
        (dict(type="ATSSKldAssigner", topk=9.5), "topk must be a positive int, got 9.5"),
        (dict(type="SASAssigner", topk=0), "SASAssigner: topk must be a positive int, got 0"),
        (dict(type="SASAssigner", topk=2.5), "SASAssigner: topk must be a positive int, got 2.5"),
        (dict(type="ConvexAssigner", scale=float("nan")), "ConvexAssigner: scale must be a positive finite"),
        (dict(type="ConvexAssigner", scale=0), "ConvexAssigner: scale must be a positive finite"),
        (dict(type="ConvexAssigner", pos_num=2.5), "ConvexAssigner: pos_num must be an int >= 1, got 2.5"),
        (dict(type="ConvexAssigner", pos_num=0), "ConvexAssigner: pos_num must be an int >= 1, got 0"),
    ],
)
def test_point_assigners_refuse_impossible_settings(cfg: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rdet_models.build(cfg)


def test_rrandom_sampler() -> None:
    torch.manual_seed(0)
    from rdet_models.assigners import AssignResult

    gt_inds = torch.tensor([0] * 20 + [1] * 5 + [-1] * 3)
    res = AssignResult(1, gt_inds, torch.rand(28), labels=torch.where(gt_inds > 0, 2, -1))
    sampler = rdet_models.build(
        dict(type="RRandomSampler", num=8, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True)
    )
    boxes = torch.rand(28, 5) * 10 + 1
    gt = torch.tensor([[5.0, 5, 4, 2, 0.3]])
    s = sampler.sample(res, boxes, gt, gt_labels=torch.tensor([2]))
    assert len(s.pos_inds) == 2 and len(s.neg_inds) == 6
    assert s.pos_bboxes.shape == (2, 5) and s.neg_bboxes.shape == (6, 5)
    assert s.pos_gt_labels.tolist() == [2, 2]
    arr = sampler.random_choice([1, 2, 3, 4], 2)
    assert arr.shape == (2,) and set(arr.tolist()) <= {1, 2, 3, 4}


def test_anchor_valid_and_inside_flags() -> None:
    gen = rdet_models.build(
        dict(
            type="RotatedAnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[1.0, 0.5, 2.0],
            strides=[8, 16],
        )
    )
    assert gen.num_base_anchors == [9, 9]
    flags = gen.valid_flags([(4, 4), (2, 2)], (20, 30, 3), device="cpu")
    assert flags[0].view(4, 4, 9)[:, :, 0].sum().item() == 3 * 4 and flags[1].all()
    from rdet_models.anchors import rotated_anchor_inside_flags

    anchors = gen.grid_priors([(4, 4), (2, 2)], device="cpu")[0]
    inside = rotated_anchor_inside_flags(anchors, flags[0], (16, 16), allowed_border=0)
    # centres at 0 and 8 are inside a 16-px image (16 may round to just under 16, as in MMRotate)
    assert inside.sum().item() >= 4 * 9 and bool((anchors[inside][:, :2] < 16).all())
    assert rotated_anchor_inside_flags(anchors, flags[0], (16, 16), allowed_border=-1).equal(flags[0])
    hgen = rdet_models.build(
        dict(type="AnchorGenerator", strides=[4], ratios=[1.0], scales=[2], center_offset=0.5)
    )
    assert hgen.grid_priors([(1, 2)], device="cpu")[0].tolist() == [
        [-2.0, -2.0, 6.0, 6.0],
        [2.0, -2.0, 10.0, 6.0],
    ]


def test_coders_round_trip_and_csl() -> None:
    coder = rdet_models.build(
        dict(
            type="DeltaXYWHAOBBoxCoder",
            angle_range="le90",
            edge_swap=True,
            proj_xy=True,
            target_stds=(0.1, 0.1, 0.2, 0.2, 0.1),
        )
    )
    anchors = torch.tensor([[50.0, 40, 32, 32, 0], [10, 10, 16, 8, 0]])
    gts = torch.tensor([[52.0, 38, 40, 12, 0.4], [11, 12, 20, 6, -1.2]])
    assert torch.allclose(coder.decode(anchors, coder.encode(anchors, gts)), gts, atol=1e-4)
    hcoder = rdet_models.build(dict(type="DeltaXYWHAHBBoxCoder", angle_range="le90", edge_swap=True))
    hanchors = torch.tensor([[34.0, 24, 66, 56], [2, 6, 18, 14]])
    assert torch.allclose(hcoder.decode(hanchors, hcoder.encode(hanchors, gts)), gts, atol=1e-4)
    csl = rdet_models.build(dict(type="CSLCoder", angle_version="le90", omega=4, window="gaussian", radius=3))
    assert csl.coding_len == 45
    angles = torch.tensor([[0.3], [-1.0]])
    assert torch.allclose(csl.decode(csl.encode(angles)), angles.view(-1), atol=math.radians(4))
