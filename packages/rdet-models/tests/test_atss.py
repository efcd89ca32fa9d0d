"""Rotated ATSS: ``ATSSObbAssigner`` / ``ATSSKldAssigner`` by hand and against a brute-force
reference, bad inputs, ``RotatedATSSHead`` on the typed internals (per-level anchor counts reach
the assigner) and strict loading of MMRotate's checkpoint.

Checkpoint parity (init_detector + inference_detector, 100/100 detections) is in rdet-apps'
test_apis_inference.py (``test_checkpoint_parity[rotated_atss_le90]``); the configs of
rotated_atss/ build, train a step and test in test_config_sweep.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import rdet_models
from rbox_geometry import obb2poly
from rdet_core import Config
from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.assigners import ATSSKldAssigner, ATSSObbAssigner, RBboxOverlaps2D
from rdet_models.assigners.atss_obb_assigner import atss_assign
from rdet_models.heads import RotatedATSSHead, RotatedRetinaHead
from rdet_models.registry import BBOX_ASSIGNERS

ATSS = "rotated_atss/rotated_atss_obb_r50_fpn_1x_dota_le90.py"


def square(cx: float, cy: float, half: float) -> list[float]:
    """The corners (8,) of an axis-aligned square of half side ``half`` around (cx, cy)."""
    cx, cy, half = float(cx), float(cy), float(half)
    return [cx - half, cy - half, cx + half, cy - half, cx + half, cy + half, cx - half, cy + half]


# -- atss_assign by hand ------------------------------------------------------------------------


def hand_case() -> dict:
    """6 priors on 2 levels (4 + 2), 2 gts (squares around (0, 0) and (9, 0)), topk 2."""
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [9.0, 0.0], [0.0, 0.0], [10.0, 0.0]])
    gt_points = torch.tensor([[0.0, 0.0], [9.0, 0.0]])
    polygons = torch.tensor([square(0, 0, 2), square(9, 0, 2)])
    # candidates (2 nearest per level): g0 -> p0, p1 | p4, p5; g1 -> p3, p2 | p5, p4
    overlaps = torch.tensor(
        [
            [0.5, 0.0],  # p0
            [0.3, 0.0],  # p1
            [0.9, 0.1],  # p2: g0's best IoU, but not among its 2 nearest on level 0
            [0.0, 0.2],  # p3
            [0.6, 0.9],  # p4: above g1's threshold, but its centre is outside g1
            [0.2, 0.15],  # p5
        ]
    )
    return dict(overlaps=overlaps, points=points, gt_points=gt_points, gt_polygons=polygons)


def test_atss_candidates_threshold_and_centre_inside_by_hand() -> None:
    c = hand_case()
    result = atss_assign(**c, num_level_bboxes=[4, 2], topk=2, gt_labels=torch.tensor([3, 7]))
    # g0's candidates p0, p1, p4, p5: IoUs 0.5, 0.3, 0.6, 0.2 -> mean 0.4 + std 0.1826 = 0.5826
    # -> only p4 (0.6); p0 (0.5) is below though at the gt's centre, p2 (0.9) is no candidate.
    # g1's candidates p3, p2, p5, p4: 0.2, 0.1, 0.15, 0.9 -> threshold 0.7147 -> p4, whose
    # centre (0, 0) is outside g1: no positive for g1.
    assert result.gt_inds.tolist() == [0, 0, 0, 0, 1, 0]
    assert result.labels.tolist() == [-1, -1, -1, -1, 3, -1]
    assert result.max_overlaps[4].item() == pytest.approx(0.6)
    assert (result.max_overlaps[[0, 1, 2, 3, 5]] == -1e8).all()
    assert result.num_gts == 2


def test_atss_threshold_is_mean_plus_unbiased_std() -> None:
    c = hand_case()
    cand = torch.tensor([0.5, 0.3, 0.6, 0.2])
    thr = (cand.mean() + cand.std()).item()
    assert thr == pytest.approx(0.4 + math.sqrt(0.1 / 3), abs=1e-6)
    # raise p0 just above the threshold of g0: it becomes positive too (candidates change the
    # mean and std, so recompute)
    c["overlaps"][0, 0] = 0.7
    cand = torch.tensor([0.7, 0.3, 0.6, 0.2])
    thr = (cand.mean() + cand.std()).item()
    result = atss_assign(**c, num_level_bboxes=[4, 2], topk=2)
    expect = [1 if v >= thr else 0 for v in (0.7, 0.3, 0.9, 0.0, 0.6, 0.2)]
    expect[2] = 0  # p2 is no candidate of g0
    assert result.gt_inds.tolist() == expect and result.labels is None


def test_atss_topk_per_level_limits_candidates() -> None:
    c = hand_case()
    # with 3 candidates per level, p2 (IoU 0.9 with g0) becomes one of g0's, but its centre
    # (5, 0) is outside g0 (|x| <= 2): still negative; topk larger than a level takes all.
    result = atss_assign(**c, num_level_bboxes=[4, 2], topk=3)
    assert result.gt_inds[2].item() == 0
    c["gt_polygons"][0] = torch.tensor(square(0, 0, 6))  # now p2's centre is inside g0
    result = atss_assign(**c, num_level_bboxes=[4, 2], topk=3)
    assert result.gt_inds[2].item() == 1


@pytest.mark.parametrize(("iou0", "iou1", "winner"), [(0.9, 0.95, 2), (0.95, 0.9, 1)])
def test_atss_prior_positive_for_two_gts_goes_to_the_higher_iou(
    iou0: float, iou1: float, winner: int
) -> None:
    points = torch.tensor([[0.0, 0.0], [3.0, 0.0], [6.0, 0.0]])
    polygons = torch.tensor([square(0, 0, 10), square(1, 0, 10)])
    overlaps = torch.tensor([[iou0, iou1], [0.1, 0.1], [0.1, 0.1]])
    result = atss_assign(overlaps, points, points[:2], polygons, [3], topk=3)
    assert result.gt_inds.tolist() == [winner, 0, 0]
    assert result.max_overlaps[0].item() == pytest.approx(max(iou0, iou1))


# -- ATSSObbAssigner against a brute-force reference ----------------------------------------------


def _inside_convex(p: torch.Tensor, poly: torch.Tensor) -> bool:
    """Strictly inside a convex quadrilateral (8,) (either orientation)."""
    q = poly.view(4, 2).double()
    signs = []
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        signs.append(float((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])))
    return all(s > 1e-9 for s in signs) or all(s < -1e-9 for s in signs)


def reference_atss(
    bboxes: torch.Tensor, levels: list[int], gts: torch.Tensor, topk: int, version: str
) -> list[int]:
    """ATSS written out per gt and prior with Python loops."""
    iou = RBboxOverlaps2D()(bboxes, gts)
    polys = obb2poly(gts, version)
    n, k = iou.shape
    best: list[tuple[float, int]] = [(-1.0, 0)] * n
    for g in range(k):
        cands: list[int] = []
        start = 0
        for size in levels:
            d = [float(torch.dist(bboxes[start + i, :2], gts[g, :2])) for i in range(size)]
            order = sorted(range(size), key=lambda i: (d[i], i))
            cands += [start + i for i in order[: min(topk, size)]]
            start += size
        vals = torch.tensor([float(iou[i, g]) for i in cands])
        thr = float(vals.mean() + vals.std())
        for i in cands:
            if float(iou[i, g]) >= thr and _inside_convex(bboxes[i, :2], polys[g]) and iou[i, g] > best[i][0]:
                best[i] = (float(iou[i, g]), g + 1)
    return [g for _, g in best]


@pytest.mark.parametrize("version", ["le90", "le135", "oc"])
def test_obb_assigner_matches_brute_force(version: str) -> None:
    g = torch.Generator().manual_seed(3)
    levels = [40, 12, 5]
    sizes = [6.0, 12.0, 24.0]
    bboxes = torch.cat(
        [
            torch.cat(
                [
                    torch.rand(n, 2, generator=g) * 60,
                    torch.full((n, 2), s) * (0.7 + 0.6 * torch.rand(n, 2, generator=g)),
                    (torch.rand(n, 1, generator=g) - 0.5) * math.pi / 2,
                ],
                1,
            )
            for n, s in zip(levels, sizes)
        ]
    )
    gts = torch.tensor(
        [[20.0, 20.0, 18.0, 8.0, 0.4], [40.0, 35.0, 30.0, 14.0, -0.6], [30.0, 30.0, 12.0, 10.0, 0.1]]
    )
    assigner = BBOX_ASSIGNERS.build(
        dict(
            type="ATSSObbAssigner", topk=4, angle_version=version, iou_calculator=dict(type="RBboxOverlaps2D")
        )
    )
    result = assigner.assign(bboxes, levels, gts, gt_labels=torch.tensor([0, 1, 2]))
    assert result.gt_inds.tolist() == reference_atss(bboxes, levels, gts, 4, version)
    assert (result.gt_inds > 0).any()
    pos = result.gt_inds > 0
    assert (result.labels[pos] == result.gt_inds[pos] - 1).all() and (result.labels[~pos] == -1).all()


def test_obb_assigner_without_gts_or_priors() -> None:
    assigner = ATSSObbAssigner(topk=9)
    bboxes = torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0], [9.0, 5.0, 4.0, 4.0, 0.0]])
    result = assigner.assign(bboxes, [2], torch.zeros((0, 5)), gt_labels=torch.zeros(0, dtype=torch.long))
    assert result.gt_inds.tolist() == [0, 0] and result.labels.tolist() == [-1, -1]
    assert result.max_overlaps.tolist() == [0.0, 0.0]
    result = assigner.assign(torch.zeros((0, 5)), [0, 0], torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0]]))
    assert result.gt_inds.shape == (0,) and result.num_gts == 1


def test_obb_assigner_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="topk"):
        ATSSObbAssigner(topk=0)
    with pytest.raises(ValueError, match="topk"):
        ATSSObbAssigner(topk=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="angle_version"):
        ATSSObbAssigner(topk=9, angle_version="le45")
    assigner = ATSSObbAssigner(topk=9, angle_version="le90")
    bboxes = torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0], [9.0, 5.0, 4.0, 4.0, 0.0]])
    gts = torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0]])
    with pytest.raises(ValueError, match="num_level_bboxes"):
        assigner.assign(bboxes, [1, 2], gts)
    with pytest.raises(ValueError, match="bboxes"):
        assigner.assign(bboxes[:, :4], [2], gts)
    with pytest.raises(ValueError, match="gt_bboxes"):
        assigner.assign(bboxes, [2], gts[:, :4])
    with pytest.raises(ValueError, match="gt_labels"):
        assigner.assign(bboxes, [2], gts, gt_labels=torch.tensor([0, 1]))


# -- ATSSKldAssigner --------------------------------------------------------------------------------


def grid_points(cx: float, cy: float, a: float) -> list[float]:
    """9 points (18,) on a 3 x 3 grid of pitch ``a`` around (cx, cy)."""
    return [v for dy in (-a, 0.0, a) for dx in (-a, 0.0, a) for v in (cx + dx, cy + dy)]


def test_kld_overlaps_of_matching_gaussians_is_one_half() -> None:
    # a 6 x 6 square: Sigma = diag(36 / 36) = I; the 3 x 3 grid of pitch sqrt(1.5) has
    # (population) covariance I and the same mean -> KLD ~ 0 -> 1 / (2 + 1e-6)
    gt = torch.tensor([square(10, 20, 3)])
    pts = torch.tensor([grid_points(10, 20, math.sqrt(1.5)), grid_points(13, 20, math.sqrt(1.5))])
    overlaps = ATSSKldAssigner.kld_overlaps(gt, pts)
    assert overlaps.shape == (1, 2)
    assert overlaps[0, 0].item() == pytest.approx(0.5, abs=1e-5)
    # shifted by 3 px: KLD = 0.5 * 9 -> 1 / (2 + 4.5)
    assert overlaps[0, 1].item() == pytest.approx(1 / 6.5, abs=1e-5)


def test_kld_assigner_assigns_the_centred_point_set() -> None:
    gts = torch.tensor([square(10, 10, 3), square(40, 10, 6)])
    centres = [(10, 10), (12, 10), (20, 10), (40, 10), (30, 30), (40, 12)]
    pts = torch.tensor([grid_points(x, y, math.sqrt(1.5)) for x, y in centres])
    assigner = BBOX_ASSIGNERS.build(dict(type="ATSSKldAssigner", topk=3))
    result = assigner.assign(pts, [4, 2], gts, gt_labels=torch.tensor([5, 6]))
    overlaps = ATSSKldAssigner.kld_overlaps(gts, pts).t()
    points = pts.view(-1, 9, 2).mean(1)
    expect = atss_assign(overlaps, points, torch.tensor([[10.0, 10.0], [40.0, 10.0]]), gts, [4, 2], 3)
    assert result.gt_inds.tolist() == expect.gt_inds.tolist()
    assert result.gt_inds[0].item() == 1 and result.labels[0].item() == 5
    # use_reassign lowers every threshold by exp(-mean aspect ratio / 4) (squares: ratio 1)
    assert ATSSKldAssigner.aspect_ratio(gts).tolist() == pytest.approx([1.0, 1.0])
    relaxed = ATSSKldAssigner(topk=3, use_reassign=True).assign(pts, [4, 2], gts)
    assert (relaxed.gt_inds > 0).sum() >= (result.gt_inds > 0).sum()


def test_kld_assigner_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="topk"):
        ATSSKldAssigner(topk=-1)
    assigner = ATSSKldAssigner(topk=9)
    gts = torch.tensor([square(10, 10, 3)])
    pts = torch.tensor([grid_points(10, 10, 1.0)])
    with pytest.raises(ValueError, match="bboxes"):
        assigner.assign(pts[:, :10], [1], gts)
    with pytest.raises(ValueError, match="gt_bboxes"):
        assigner.assign(pts, [1], gts[:, :5])
    with pytest.raises(ValueError, match="num_level_bboxes"):
        assigner.assign(pts, [2], gts)


# -- RotatedATSSHead ----------------------------------------------------------------------------


def small_atss(configs_dir: Path, small_overrides: dict, config: str = ATSS) -> torch.nn.Module:
    cfg = Config.fromfile(configs_dir / config)
    cfg.merge_from_dict(small_overrides)
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    return model


def test_atss_head_gives_the_assigner_anchors_per_level(
    configs_dir: Path, small_overrides: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small_atss(configs_dir, small_overrides)
    head = model.bbox_head
    assert type(head) is RotatedATSSHead and isinstance(head, RotatedRetinaHead)
    assert type(head.assigner) is ATSSObbAssigner and head.assigner.angle_version == "le90"
    seen: list[tuple[int, list[int]]] = []
    assign = head.assigner.assign

    def spy(bboxes: torch.Tensor, num_level_bboxes: list[int], *args: object) -> object:
        seen.append((bboxes.size(0), list(num_level_bboxes)))
        return assign(bboxes, num_level_bboxes, *args)

    monkeypatch.setattr(head.assigner, "assign", spy)
    head.train_cfg.allowed_border = 0  # anchors whose centre leaves img_shape are outside
    metas = [
        ImageMeta(None, (128, 160, 3), (128, 160, 3)),
        ImageMeta(None, (100, 160, 3), (100, 160, 3), pad_shape=(128, 160, 3)),
    ]
    gts = [
        GroundTruth(
            torch.tensor([[50.0, 40.0, 40.0, 16.0, 0.3], [100.0, 90.0, 24.0, 30.0, -0.7]]),
            torch.tensor([0, 14]),
        ),
        GroundTruth(torch.tensor([[80.0, 64.0, 60.0, 20.0, 1.2]]), torch.tensor([3])),
    ]
    feats = model.extract_feat(torch.randn(2, 3, 128, 160))
    sizes = [f.shape[-2:] for f in feats]
    anchors, flags = head.get_anchors(sizes, metas, device="cpu")
    t = head.get_targets(anchors, flags, gts, metas)
    assert t is not None and t.num_levels == 5
    full = [h * w for h, w in sizes]
    assert seen[0] == (sum(full), full)  # the first image: every anchor inside
    # the second image's bottom rows lie outside its img_shape: fewer anchors per level
    assert seen[1][0] == sum(seen[1][1]) < sum(full)
    assert all(a <= b for a, b in zip(seen[1][1], full))
    assert t.num_total_pos >= 3  # every gt got positives (centre-inside candidates)
    labels = torch.cat([lv.reshape(-1) for lv in t.labels])
    assert set(labels[labels < 15].tolist()) == {0, 3, 14}
    losses = head.loss_by_feat(head(feats), gts, metas)
    assert losses is not None and set(losses) == {"loss_cls", "loss_bbox"}
    assert all(torch.isfinite(v).all() for vs in losses.values() for v in vs)


def test_retina_head_assigns_without_level_counts() -> None:
    assert RotatedRetinaHead.assign_per_level is False and RotatedATSSHead.assign_per_level is True


def test_atss_checkpoint_loads_strictly(golden_dir: Path, configs_dir: Path) -> None:
    case = json.loads((golden_dir / "models" / "cases.json").read_text())["rotated_atss_le90"]
    cfg = Config.fromfile(configs_dir / case["config"])
    cfg.merge_from_dict({k: v for k, v in case["overrides"].items() if k.startswith("model.")})
    model = rdet_models.build_detector(cfg.model)
    assert type(model.bbox_head) is RotatedATSSHead
    ckpt = torch.load(golden_dir / "models" / case["checkpoint"], map_location="cpu", weights_only=False)
    assert len(ckpt["state_dict"]) == case["state_dict_keys"] == 148 == len(model.state_dict())
    model.load_state_dict(ckpt["state_dict"], strict=True)
