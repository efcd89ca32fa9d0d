"""The losses' shared calling convention (``WeightedLoss``): weight, avg_factor, reduction, kwargs.

Each loss class is checked against a hand computation with a weight and an ``avg_factor``;
every registered loss rejects unknown keyword arguments and bad reductions by name.
"""

from __future__ import annotations

import math

import pytest
import torch

import rdet_models
from rdet_models.losses import WeightedLoss
from rdet_models.registry import LOSSES

EPS = torch.finfo(torch.float32).eps
LN2 = math.log(2.0)

# one buildable config and call per loss class: (cfg, pred, target, extra call kwargs)
_BOXES = torch.tensor([[10.0, 10.0, 2.0, 2.0, 0.0], [30.0, 20.0, 2.0, 2.0, 0.0]])
_DELTAS = torch.zeros(2, 5)
# point-set losses: two 9-point sets (x, y) around two squares, and the squares as polygons
_POINTS = torch.tensor(
    [
        [x + dx, y + dy]
        for x, y in ((10.0, 10.0), (30.0, 20.0))
        for dy in (-1.0, 0.0, 1.2)
        for dx in (-1.1, 0.0, 1.0)
    ]
).reshape(2, 18)
_SQUARES = torch.tensor(
    [[9.0, 9.0, 11.0, 9.0, 11.0, 11.0, 9.0, 11.0], [29.0, 19.0, 31.0, 19.0, 31.0, 21.0, 29.0, 21.0]]
)
CALLS: dict[str, tuple[dict, torch.Tensor, torch.Tensor, dict]] = {
    "BCConvexGIoULoss": (dict(type="BCConvexGIoULoss"), _POINTS, _SQUARES, {}),
    "ConvexGIoULoss": (dict(type="ConvexGIoULoss"), _POINTS, _SQUARES, {}),
    "KLDRepPointsLoss": (dict(type="KLDRepPointsLoss"), _POINTS, _SQUARES, {}),
    "CrossEntropyLoss": (dict(type="CrossEntropyLoss"), torch.zeros(2, 3), torch.tensor([0, 2]), {}),
    "FocalLoss": (dict(type="FocalLoss"), torch.zeros(2, 3), torch.tensor([0, 3]), {}),
    "GDLoss": (dict(type="GDLoss", loss_type="gwd"), _BOXES + 1, _BOXES, {}),
    "GDLoss_v1": (dict(type="GDLoss_v1", loss_type="gwd"), _BOXES + 1, _BOXES, {}),
    # MMDetection's (test_mmdet_losses.py): labels with the background index 3
    "GHMC": (dict(type="GHMC"), torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]]), torch.tensor([0, 3]), {}),
    "GHMR": (dict(type="GHMR"), _DELTAS + torch.tensor([0.5, 0.01, 0.0, -0.2, 1.0]), _DELTAS, {}),
    "BalancedL1Loss": (dict(type="BalancedL1Loss"), _DELTAS + torch.tensor([0.5, 2.0, 0, 0, 0]), _DELTAS, {}),
    "MSELoss": (dict(type="MSELoss"), torch.ones(2, 5), torch.zeros(2, 5), {}),
    "KFLoss": (
        dict(type="KFLoss"),
        _DELTAS + 0.5,
        _DELTAS,
        dict(pred_decode=_BOXES + 1, targets_decode=_BOXES),
    ),
    "GIoULoss": (
        dict(type="GIoULoss"),
        torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 4]]),
        torch.tensor([[0.0, 0, 2, 3], [1, 1, 3, 3]]),
        {},
    ),
    "IoULoss": (
        dict(type="IoULoss"),
        torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 4]]),
        torch.tensor([[0.0, 0, 2, 3], [1, 1, 3, 3]]),
        {},
    ),
    "L1Loss": (dict(type="L1Loss"), torch.ones(2, 5), torch.zeros(2, 5), {}),
    "RotatedIoULoss": (dict(type="RotatedIoULoss"), _BOXES + 0.5, _BOXES, {}),
    "SmoothFocalLoss": (dict(type="SmoothFocalLoss"), torch.zeros(2, 3), torch.full((2, 3), 0.5), {}),
    "SmoothL1Loss": (dict(type="SmoothL1Loss"), torch.ones(2, 5), torch.zeros(2, 5), {}),
}


def _loss_classes() -> list[str]:
    return sorted(
        name
        for name, obj in LOSSES.module_dict.items()
        if isinstance(obj, type) and issubclass(obj, WeightedLoss)
    )


def test_every_registered_weighted_loss_has_a_case() -> None:
    # a new loss class must come with a case here (and a hand-computed test below)
    assert _loss_classes() == sorted(CALLS)
    for name in CALLS:
        assert issubclass(LOSSES.get(name), WeightedLoss), name


@pytest.mark.parametrize("name", sorted(CALLS))
def test_unknown_keyword_argument_is_a_type_error_naming_it(name: str) -> None:
    cfg, pred, target, extra = CALLS[name]
    loss = rdet_models.build(cfg)
    loss(pred, target, **extra)  # the legitimate call works
    with pytest.raises(TypeError, match=rf"{name}\.forward\(\) .*'bogus_arg'"):
        loss(pred, target, bogus_arg=1, **extra)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_bad_reduction_is_a_value_error_naming_the_argument(name: str) -> None:
    cfg, pred, target, extra = CALLS[name]
    loss = rdet_models.build(cfg)
    with pytest.raises(
        ValueError, match="reduction_override must be None, 'none', 'mean' or 'sum', got 'avg'"
    ):
        loss(pred, target, reduction_override="avg", **extra)
    with pytest.raises(ValueError, match="^reduction must be 'none', 'mean' or 'sum', got 'total'"):
        rdet_models.build({**cfg, "reduction": "total"})


@pytest.mark.parametrize("name", sorted(set(CALLS) - {"GDLoss_v1"}))
def test_avg_factor_with_sum_is_an_error(name: str) -> None:
    cfg, pred, target, extra = CALLS[name]
    loss = rdet_models.build(cfg)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        loss(pred, target, avg_factor=2.0, reduction_override="sum", **extra)
    # also when no weight is positive (the box losses' early zero)
    with pytest.raises(ValueError, match="avg_factor"):
        loss(pred, target, torch.zeros_like(pred), avg_factor=2.0, reduction_override="sum", **extra)


def _weighted(values: list[float], weights: list[float], avg_factor: float) -> float:
    return sum(v * w for v, w in zip(values, weights)) / (avg_factor + EPS)


def test_l1_and_smooth_l1_by_hand() -> None:
    pred = torch.tensor([[0.0, 2.0], [1.0, 1.05]])
    target = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    weight = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    l1 = rdet_models.build(dict(type="L1Loss", loss_weight=0.5))
    # |d| = 1, 2, 0, 0.05
    want = 0.5 * _weighted([1, 2, 0, 0.05], [1, 2, 0, 1], 3.0)
    assert l1(pred, target, weight, avg_factor=3.0).item() == pytest.approx(want, rel=1e-6)
    assert l1(pred, target, weight, reduction_override="sum").item() == pytest.approx(0.5 * 5.05, rel=1e-6)
    none = l1(pred, target, weight, reduction_override="none")
    assert torch.allclose(none, torch.tensor([[0.5, 2.0], [0.0, 0.025]]))
    sl1 = rdet_models.build(dict(type="SmoothL1Loss", beta=0.5, loss_weight=2.0))
    # beta 0.5: d >= beta -> d - 0.25; d < beta -> d^2 (0.5 d^2 / 0.5)
    want = 2.0 * _weighted([0.75, 1.75, 0.0, 0.05**2], [1, 2, 0, 1], 4.0)
    assert sl1(pred, target, weight, avg_factor=4.0).item() == pytest.approx(want, rel=1e-5)
    # a (N, 1) weight broadcasts over the columns
    row = torch.tensor([[2.0], [1.0]])
    want = 2.0 * (2 * (0.75 + 1.75) + 0.05**2) / 4
    assert sl1(pred, target, row).item() == pytest.approx(want, rel=1e-5)


def test_focal_losses_by_hand() -> None:
    # logits 0: p = 0.5, BCE = ln 2, (1 - p_t)^gamma = 0.5^gamma for either label
    pred = torch.zeros(2, 2)
    labels = torch.tensor([0, 2])  # 2 = background: one-hot rows (1, 0) and (0, 0)
    weight = torch.tensor([1.0, 3.0])  # one per row, broadcast to (N, 1)
    focal = rdet_models.build(dict(type="FocalLoss", gamma=1.0, alpha=0.25, loss_weight=2.0))
    per = [0.25 * 0.5 * LN2, 0.75 * 0.5 * LN2, 0.75 * 0.5 * LN2, 0.75 * 0.5 * LN2]
    want = 2.0 * _weighted(per, [1, 1, 3, 3], 5.0)
    assert focal(pred, labels, weight, avg_factor=5.0).item() == pytest.approx(want, rel=1e-6)
    # activated: probabilities in, same numbers for p = 0.5
    activated = rdet_models.build(
        dict(type="FocalLoss", gamma=1.0, alpha=0.25, loss_weight=2.0, activated=True)
    )
    assert activated(pred + 0.5, labels, weight, avg_factor=5.0).item() == pytest.approx(want, rel=1e-6)
    # alpha 0.5, p = 0.5: every soft label t gives pt = 0.5, alpha term 0.5, BCE ln 2
    smooth = rdet_models.build(dict(type="SmoothFocalLoss", gamma=1.0, alpha=0.5, loss_weight=0.5))
    soft = torch.tensor([[1.0, 0.5], [0.0, 1.0]])
    want = 0.5 * _weighted([0.25 * LN2] * 4, [1, 1, 3, 3], 2.0)
    assert smooth(pred, soft, weight, avg_factor=2.0).item() == pytest.approx(want, rel=1e-6)
    # a weight as (N, C) elements
    elem = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert smooth(pred, soft, elem, reduction_override="sum").item() == pytest.approx(
        0.5 * (0.25 * LN2 + 2 * 0.25 * LN2), rel=1e-6
    )


def test_cross_entropy_by_hand() -> None:
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)], [0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    weight = torch.tensor([2.0, 1.0, 0.0])
    ce = rdet_models.build(dict(type="CrossEntropyLoss", loss_weight=3.0))
    # softmax: ln 2, -ln(3/4), ln 2
    per = [LN2, -math.log(0.75), LN2]
    assert ce(logits, labels, weight, avg_factor=2.0).item() == pytest.approx(
        3.0 * _weighted(per, [2, 1, 0], 2.0), rel=1e-6
    )
    # the call's ignore_index overrides the constructor's (None): label 1 is ignored
    assert ce(logits, labels, weight, avg_factor=2.0, ignore_index=1).item() == pytest.approx(
        3.0 * 2 * LN2 / (2 + EPS), rel=1e-6
    )
    bce = rdet_models.build(dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.5))
    # logits 0: ln 2 per element; labels one-hot; a (N,) weight goes to every class of its row
    assert bce(logits[[0, 2]], labels[[0, 2]], weight[[0, 1]], avg_factor=4.0).item() == pytest.approx(
        0.5 * _weighted([LN2] * 4, [2, 2, 1, 1], 4.0), rel=1e-6
    )


def test_box_losses_by_hand() -> None:
    # w = h = 2, theta 0: Sigma = I for every box; the boxes differ by (3, 4) in the centre only
    target = torch.tensor([[10.0, 10.0, 2.0, 2.0, 0.0], [30.0, 20.0, 2.0, 2.0, 0.0]])
    pred = target + torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0])
    weight = torch.tensor([[1.0] * 5, [0.0, 1.0, 1.0, 1.0, 2.0]])  # per-box means 1 and 1
    # GWD (normalised): distance 5 / (2 (det det)^(1/4)) = 2.5; log1p, tau 0
    gwd = rdet_models.build(dict(type="GDLoss", loss_type="gwd", loss_weight=2.0))
    per = math.log1p(2.5)
    assert gwd(pred, target, weight, avg_factor=4.0).item() == pytest.approx(2.0 * 2 * per / 4, rel=1e-5)
    assert gwd(pred, target, weight[:, 0], avg_factor=4.0).item() == pytest.approx(2.0 * per / 4, rel=1e-5)
    # KLD with Sigma = I: 0.5 |d|^2 = 12.5; sqrt -> sqrt(12.5); log1p; tau 1 -> 1 - 1 / (1 + .)
    kld = rdet_models.build(dict(type="GDLoss", loss_type="kld", fun="log1p", tau=1.0))
    per = 1 - 1 / (1 + math.log1p(math.sqrt(12.5)))
    assert kld(pred, target, weight, avg_factor=3.0).item() == pytest.approx(2 * per / 3, rel=1e-5)
    # sqrt=False ("stable" KLD): log1p(12.5)
    stable = rdet_models.build(dict(type="GDLoss", loss_type="kld", fun="log1p", tau=1.0, sqrt=False))
    per = 1 - 1 / (1 + math.log1p(12.5))
    assert stable(pred, target).item() == pytest.approx(per, rel=1e-5)
    # v1 GWD: |d|^2 = 25, sqrt, tau 1 -> 1 - 1/6 per positive box, not reduced, avg_factor unused
    v1 = rdet_models.build(dict(type="GDLoss_v1", loss_type="gwd", fun="sqrt", tau=1.0, loss_weight=3.0))
    out = v1(pred, target, torch.tensor([1.0, 0.0]), avg_factor=7.0)
    assert out.tolist() == pytest.approx([3.0 * (1 - 1 / 6)], rel=1e-5)
    # KFIoU of two identical unit Gaussians: Vb = 2, Vb_p = Vb_t = 4 -> KFIoU = 1/3; centre deltas
    # differ by 1 in x: smooth-L1 (beta 1/9) 1 - 1/18
    kf = rdet_models.build(dict(type="KFLoss", loss_weight=5.0))
    deltas = torch.zeros(2, 5)
    per = (1 - 1 / 18) + (1 - 1 / 3)
    # MMRotate's positional order: weight, avg_factor, pred_decode, targets_decode
    got = kf(deltas + torch.tensor([1.0, 0, 0, 0, 0]), deltas, weight, 3.0, target, target)
    assert got.item() == pytest.approx(5.0 * 2 * per / 3, rel=1e-5)
    # kfiou_loss's own options pass through (beta: smooth-L1 threshold)
    got = kf(deltas + 1.0, deltas, pred_decode=target, targets_decode=target, beta=4.0)
    assert got.item() == pytest.approx(5.0 * (2 * 0.5 / 4 + 2 / 3), rel=1e-5)


def test_box_losses_zero_weight_gives_a_zero_that_keeps_the_graph() -> None:
    for name in ("GDLoss", "GDLoss_v1", "KFLoss"):
        cfg, pred, target, extra = CALLS[name]
        pred = pred.clone().requires_grad_()
        out = rdet_models.build({**cfg, "loss_weight": 2.0})(pred, target, torch.zeros(2, 5), 1.0, **extra)
        assert out.item() == 0 and out.requires_grad, name


def test_keyword_options_of_the_distances_are_checked_by_name() -> None:
    with pytest.raises(TypeError, match=r"GDLoss\.__init__\(\) .*'sqrt'.*normalize"):
        rdet_models.build(dict(type="GDLoss", loss_type="gwd", sqrt=False))
    gwd = rdet_models.build(dict(type="GDLoss", loss_type="gwd"))
    _, pred, target, _ = CALLS["GDLoss"]
    assert gwd(pred, target, normalize=False).item() != gwd(pred, target).item()
    with pytest.raises(TypeError, match="'sqrt'"):
        gwd(pred, target, sqrt=False)
    with pytest.raises(TypeError, match=r"GDLoss_v1\.__init__\(\) .*'alpha'"):
        rdet_models.build(dict(type="GDLoss_v1", loss_type="kld", alpha=2.0))
    with pytest.raises(TypeError, match=r"KFLoss\.__init__\(\) .*'fn'"):
        rdet_models.build(dict(type="KFLoss", fn="ln"))
    with pytest.raises(ValueError, match="pred_decode and targets_decode"):
        rdet_models.build(dict(type="KFLoss"))(torch.zeros(2, 5), torch.zeros(2, 5))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_nan_prediction_gives_a_nan_loss_that_the_finite_check_reports(name: str) -> None:
    cfg, pred, target, extra = CALLS[name]
    pred = pred.clone()
    pred[0, 0] = float("nan")
    out = rdet_models.build(cfg)(pred, target, **extra)
    with pytest.raises(rdet_models.NonFiniteLossError, match="loss_x"):
        rdet_models.check_finite_losses({"loss_x": out})


_AMP_CASES = {
    **CALLS,
    "GDLoss kld": (dict(type="GDLoss", loss_type="kld"), _BOXES + 1, _BOXES, {}),
    "GDLoss_v1 kld": (dict(type="GDLoss_v1", loss_type="kld"), _BOXES + 1, _BOXES, {}),
}


@pytest.mark.parametrize("name", sorted(_AMP_CASES))
def test_losses_run_in_float32_under_autocast(name: str) -> None:
    """MMCV's ``force_fp32`` on the losses: under bf16 autocast a loss takes a bf16 prediction
    and returns exactly the float32 loss of it (the Gaussian losses' determinants raised
    ``"lu_cpu" not implemented for 'BFloat16'`` under ``rdet train --amp bf16``)."""
    cfg, pred, target, kwargs = _AMP_CASES[name]
    loss = rdet_models.build_loss(cfg)
    half = pred.bfloat16()
    expected = loss(half.float(), target, **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(half.requires_grad_(), target, **kwargs)
    assert got.dtype == torch.float32 and torch.equal(got, expected)
    got.sum().backward()
    assert half.grad is not None and half.grad.dtype == torch.bfloat16


def test_spatial_border_loss_runs_in_float32_under_autocast() -> None:
    loss = rdet_models.build_loss(dict(type="SpatialBorderLoss", loss_weight=0.5))
    pts = (_POINTS * 1.5).bfloat16()
    weight = torch.ones(2)
    expected = loss(pts.float(), _SQUARES, weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(pts, _SQUARES, weight)
    assert got.dtype == torch.float32 and torch.equal(got, expected) and expected > 0


# -- GDLoss at a perfect prediction: MMRotate 0.3.4's clamps ---------------------------------------


def _mmrotate_sigma(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MMRotate 0.3.4's ``xy_wh_r_2_xy_sigma`` (mmrotate/models/losses/gaussian_dist_loss.py)."""
    wh = b[:, 2:4].clamp(min=1e-7, max=1e7)
    c, s = torch.cos(b[:, 4]), torch.sin(b[:, 4])
    R = torch.stack((c, -s, s, c), dim=-1).reshape(-1, 2, 2)
    S = 0.5 * torch.diag_embed(wh)
    return b[:, :2], R.bmm(S.square()).bmm(R.permute(0, 2, 1))


def _mmrotate_post(d: torch.Tensor, fun: str, tau: float) -> torch.Tensor:
    d = torch.log1p(d) if fun == "log1p" else torch.sqrt(d.clamp(1e-7)) if fun == "sqrt" else d
    return 1 - 1 / (tau + d) if tau >= 1.0 else d


def _mmrotate_gwd(p, t, fun, tau, alpha=1.0, normalize=True):  # type: ignore[no-untyped-def]
    (xy_p, S_p), (xy_t, S_t) = p, t
    xy = (xy_p - xy_t).square().sum(-1)
    whr = S_p.diagonal(dim1=-2, dim2=-1).sum(-1) + S_t.diagonal(dim1=-2, dim2=-1).sum(-1)
    tr = S_p.bmm(S_t).diagonal(dim1=-2, dim2=-1).sum(-1)
    det_sqrt = (S_p.det() * S_t.det()).clamp(1e-7).sqrt()
    whr = whr + (-2) * ((tr + 2 * det_sqrt).clamp(1e-7).sqrt())
    d = (xy + alpha * alpha * whr).clamp(1e-7).sqrt()
    if normalize:
        d = d / (2 * (det_sqrt.clamp(1e-7).sqrt().clamp(1e-7).sqrt()).clamp(1e-7))
    return _mmrotate_post(d, fun, tau)


def _mmrotate_kld_distance(p, t, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    (xy_p, S_p), (xy_t, S_t) = p, t
    inv = torch.stack((S_p[..., 1, 1], -S_p[..., 0, 1], -S_p[..., 1, 0], S_p[..., 0, 0]), -1).reshape(
        -1, 2, 2
    )
    inv = inv / S_p.det().unsqueeze(-1).unsqueeze(-1)
    dxy = (xy_p - xy_t).unsqueeze(-1)
    xy = 0.5 * dxy.permute(0, 2, 1).bmm(inv).bmm(dxy).view(-1)
    whr = 0.5 * inv.bmm(S_t).diagonal(dim1=-2, dim2=-1).sum(-1)
    whr = whr + 0.5 * (S_p.det().log() - S_t.det().log()) - 1
    d = xy / (alpha * alpha) + whr
    return d.clamp(1e-7).sqrt() if sqrt else d


def _mmrotate_gd(loss_type: str, p, t, fun: str, tau: float):  # type: ignore[no-untyped-def]
    if loss_type == "gwd":
        return _mmrotate_gwd(p, t, fun, tau)
    if loss_type == "kld":
        return _mmrotate_post(_mmrotate_kld_distance(p, t), fun, tau)
    if loss_type == "jd":
        jd = 0.5 * (_mmrotate_kld_distance(p, t, sqrt=False) + _mmrotate_kld_distance(t, p, sqrt=False))
        return _mmrotate_post(jd.clamp(1e-7).sqrt(), fun, tau)
    pt, tp = _mmrotate_kld_distance(p, t), _mmrotate_kld_distance(t, p)
    return _mmrotate_post(torch.max(pt, tp) if loss_type == "kld_symmax" else torch.min(pt, tp), fun, tau)


@pytest.mark.parametrize("loss_type", ["gwd", "kld", "jd", "kld_symmax", "kld_symmin"])
@pytest.mark.parametrize(("fun", "tau"), [("log1p", 1.0), ("sqrt", 2.0), ("none", 0.0)])
def test_gd_loss_of_a_perfect_prediction_has_a_finite_gradient(loss_type: str, fun: str, tau: float) -> None:
    """Every square root of MMRotate's Gaussian distances takes its argument clamped to 1e-7
    (rdet had ``clamp(0)``: a prediction equal to its target gave a NaN gradient, sqrt' (0) = inf).
    Boxes equal to their targets (rows 0-2) and others (rows 3-4): rdet's loss and gradient are
    those of MMRotate 0.3.4's formula, transcribed above."""
    target = torch.tensor(
        [
            [10.0, 20.0, 8.0, 4.0, 0.3],
            [50.0, 40.0, 16.0, 16.0, 0.0],
            [5.0, 7.0, 30.0, 2.0, -1.2],
            [12.0, 18.0, 9.0, 5.0, 0.2],
            [60.0, 30.0, 10.0, 20.0, 1.0],
        ]
    )
    pred = target.clone()
    pred[3:] += torch.tensor([[0.5, -0.3, 1.0, -0.5, 0.1], [-2.0, 1.0, -1.0, 2.0, -0.3]])
    ours = pred.clone().requires_grad_()
    loss = rdet_models.build(dict(type="GDLoss", loss_type=loss_type, fun=fun, tau=tau, reduction="none"))
    got = loss(ours, target)
    got.sum().backward()
    assert torch.isfinite(ours.grad).all(), ours.grad
    theirs = pred.clone().requires_grad_()
    expected = _mmrotate_gd(loss_type, _mmrotate_sigma(theirs), _mmrotate_sigma(target), fun, tau)
    expected.sum().backward()
    assert torch.allclose(got, expected, rtol=1e-6, atol=1e-7), (got, expected)
    assert torch.allclose(ours.grad, theirs.grad, rtol=1e-5, atol=1e-7), (ours.grad, theirs.grad)
