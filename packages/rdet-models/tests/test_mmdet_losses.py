"""MMDetection 2.x's drop-in losses ``GHMC``, ``GHMR``, ``BalancedL1Loss`` and ``MSELoss``.

Values and gradients equal MMDetection 2.28's code (``mmdet/models/losses/ghm_loss.py``,
``balanced_l1_loss.py``, ``mse_loss.py``, ``utils.py``), transcribed below, on random inputs,
for every reduction and with weights; a Rotated RetinaNet built from MMRotate's config with
these losses trains a step, and its heads' calls give MMDetection's numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rdet_models
from rdet_core import Config
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta

# -- MMDetection 2.28, transcribed ------------------------------------------------------------------


def mmdet_weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):  # type: ignore[no-untyped-def]
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss
    if reduction == "mean":
        eps = torch.finfo(torch.float32).eps
        loss = loss.sum() / (avg_factor + eps)
    elif reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def mmdet_expand_onehot_labels(labels, label_weights, label_channels):  # type: ignore[no-untyped-def]
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    inds = torch.nonzero((labels >= 0) & (labels < label_channels), as_tuple=False).squeeze()
    if inds.numel() > 0:
        bin_labels[inds, labels[inds]] = 1
    bin_label_weights = label_weights.view(-1, 1).expand(label_weights.size(0), label_channels)
    return bin_labels, bin_label_weights


class MMDetGHMC(nn.Module):
    def __init__(self, bins=10, momentum=0, use_sigmoid=True, loss_weight=1.0, reduction="mean"):  # type: ignore[no-untyped-def]
        super().__init__()
        self.bins = bins
        self.momentum = momentum
        edges = torch.arange(bins + 1).float() / bins
        self.register_buffer("edges", edges)
        self.edges[-1] += 1e-6
        if momentum > 0:
            acc_sum = torch.zeros(bins)
            self.register_buffer("acc_sum", acc_sum)
        self.use_sigmoid = use_sigmoid
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, pred, target, label_weight, reduction_override=None, **kwargs):  # type: ignore[no-untyped-def]
        reduction = reduction_override if reduction_override else self.reduction
        if pred.dim() != target.dim():
            target, label_weight = mmdet_expand_onehot_labels(target, label_weight, pred.size(-1))
        target, label_weight = target.float(), label_weight.float()
        edges = self.edges
        mmt = self.momentum
        weights = torch.zeros_like(pred)
        g = torch.abs(pred.sigmoid().detach() - target)
        valid = label_weight > 0
        tot = max(valid.float().sum().item(), 1.0)
        n = 0
        for i in range(self.bins):
            inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
            num_in_bin = inds.sum().item()
            if num_in_bin > 0:
                if mmt > 0:
                    self.acc_sum[i] = mmt * self.acc_sum[i] + (1 - mmt) * num_in_bin
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num_in_bin
                n += 1
        if n > 0:
            weights = weights / n
        loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        loss = mmdet_weight_reduce_loss(loss, weights, reduction=reduction, avg_factor=tot)
        return loss * self.loss_weight


class MMDetGHMR(nn.Module):
    def __init__(self, mu=0.02, bins=10, momentum=0, loss_weight=1.0, reduction="mean"):  # type: ignore[no-untyped-def]
        super().__init__()
        self.mu = mu
        self.bins = bins
        edges = torch.arange(bins + 1).float() / bins
        self.register_buffer("edges", edges)
        self.edges[-1] = 1e3
        self.momentum = momentum
        if momentum > 0:
            acc_sum = torch.zeros(bins)
            self.register_buffer("acc_sum", acc_sum)
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, pred, target, label_weight, avg_factor=None, reduction_override=None):  # type: ignore[no-untyped-def]
        reduction = reduction_override if reduction_override else self.reduction
        mu = self.mu
        edges = self.edges
        mmt = self.momentum
        diff = pred - target
        loss = torch.sqrt(diff * diff + mu * mu) - mu
        g = torch.abs(diff / torch.sqrt(mu * mu + diff * diff)).detach()
        weights = torch.zeros_like(g)
        valid = label_weight > 0
        tot = max(label_weight.float().sum().item(), 1.0)
        n = 0
        for i in range(self.bins):
            inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
            num_in_bin = inds.sum().item()
            if num_in_bin > 0:
                n += 1
                if mmt > 0:
                    self.acc_sum[i] = mmt * self.acc_sum[i] + (1 - mmt) * num_in_bin
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num_in_bin
        if n > 0:
            weights /= n
        loss = mmdet_weight_reduce_loss(loss, weights, reduction=reduction, avg_factor=tot)
        return loss * self.loss_weight


def mmdet_balanced_l1(
    pred, target, weight=None, beta=1.0, alpha=0.5, gamma=1.5, reduction="mean", avg_factor=None
):  # type: ignore[no-untyped-def]
    assert beta > 0
    if target.numel() == 0:
        loss = pred.sum() * 0
    else:
        assert pred.size() == target.size()
        diff = torch.abs(pred - target)
        b = np.e ** (gamma / alpha) - 1
        loss = torch.where(
            diff < beta,
            alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
            gamma * diff + gamma / b - alpha * beta,
        )
    return mmdet_weight_reduce_loss(loss, weight, reduction, avg_factor)


def mmdet_mse(pred, target, weight=None, reduction="mean", avg_factor=None):  # type: ignore[no-untyped-def]
    return mmdet_weight_reduce_loss(F.mse_loss(pred, target, reduction="none"), weight, reduction, avg_factor)


# -- helpers ----------------------------------------------------------------------------------------


def _both(
    fn_ours, fn_theirs, pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Values and gradients (of a fixed random cotangent) of both functions of ``pred``."""
    a, b = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    out_a, out_b = fn_ours(a), fn_theirs(b)
    cot = torch.rand(out_a.shape, generator=torch.Generator().manual_seed(3))
    (out_a * cot).sum().backward()
    (out_b * cot).sum().backward()
    return out_a.detach(), out_b.detach(), a.grad, b.grad


def _assert_equal(ours: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape)
    assert torch.equal(ours, theirs), (what, (ours - theirs).abs().max())


def _summed(out: torch.Tensor, reduction: str, loss_weight: float) -> torch.Tensor:
    """For our 'sum', MMDetection's GHM 'none' output (of a transcription with loss_weight 1)
    summed, times ``loss_weight``: ``weight_reduce_loss(loss, weights, 'sum') * loss_weight``
    (its own 'sum' raises); otherwise ``out``."""
    return out.sum() * loss_weight if reduction == "sum" else out


def _logits(n: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # wide logits put elements in every bin, and some exactly on 0 (g = 0.5)
    x = torch.randn(n, c, generator=g) * 4
    x[:3] = 0.0
    return x


REDUCTIONS = ["none", "mean", "sum"]


# -- GHMC -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("bins", "momentum"), [(10, 0.0), (30, 0.75)])
@pytest.mark.parametrize("labels_1d", [True, False])
def test_ghmc_equals_mmdetection(reduction: str, bins: int, momentum: float, labels_1d: bool) -> None:
    """1-D labels in [0, C] (C: background, a row of zeros) with (N,) weights, or (N, C) 0/1
    targets with (N, C) weights; several calls, so the momentum's running ``acc_sum`` is compared
    too. MMDetection's 'sum' raises (its tot goes in as avg_factor): ours is the weighted sum, the
    sum of its 'none'."""
    n, c = 300, 4
    ours = rdet_models.build(
        dict(type="GHMC", bins=bins, momentum=momentum, loss_weight=1.5, reduction=reduction)
    )
    theirs = MMDetGHMC(
        bins=bins, momentum=momentum, loss_weight=1.0 if reduction == "sum" else 1.5, reduction=reduction
    )
    assert (
        set(ours.state_dict())
        == set(theirs.state_dict())
        == ({"edges", "acc_sum"} if momentum else {"edges"})
    )
    _assert_equal(ours.edges, theirs.edges, "edges")
    g = torch.Generator().manual_seed(1)
    for call in range(3):
        pred = _logits(n, c, seed=10 + call)
        if labels_1d:
            target = torch.randint(0, c + 1, (n,), generator=g)  # c = background
            label_weight = (torch.rand(n, generator=g) > 0.2).float() * 2  # values > 0 only mark validity
        else:
            target = (torch.rand(n, c, generator=g) > 0.7).float()
            label_weight = (torch.rand(n, c, generator=g) > 0.2).float()
        mm_reduction = "none" if reduction == "sum" else reduction
        if reduction == "sum":
            with pytest.raises(ValueError, match="avg_factor"):
                copy.deepcopy(theirs)(pred, target, label_weight)
        got, want, grad, want_grad = _both(
            lambda p, t=target, w=label_weight: ours(
                p, t, w, avg_factor=None if reduction == "sum" else 123.0
            ),
            lambda p, t=target, w=label_weight, r=mm_reduction: _summed(theirs(p, t, w, r), reduction, 1.5),
            pred,
        )
        _assert_equal(got, want, f"loss, call {call}")
        _assert_equal(grad, want_grad, f"gradient, call {call}")
        if momentum:
            _assert_equal(ours.acc_sum, theirs.acc_sum, f"acc_sum, call {call}")
            assert ours.acc_sum.sum() > 0


def test_ghmc_reduction_override_is_fourth_and_avg_factor_unused() -> None:
    pred = _logits(50, 3, seed=0)
    labels = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(0))
    w = torch.ones(50)
    loss = rdet_models.build(dict(type="GHMC", bins=5))
    theirs = MMDetGHMC(bins=5)
    _assert_equal(loss(pred, labels, w, "none"), theirs(pred, labels, w, "none"), "positional override")
    assert torch.equal(loss(pred, labels, w, avg_factor=7.0), loss(pred, labels, w))
    # no label_weight: every element valid (MMDetection requires it)
    assert torch.equal(loss(pred, labels), loss(pred, labels, w))
    with pytest.raises(TypeError, match="positional"):
        loss(pred, labels, w, "mean", 7.0)  # avg_factor is keyword-only, as MMDetection's **kwargs
    with pytest.raises(ValueError, match="label_weight"):
        loss(pred, labels, torch.ones(50, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("mu", "bins", "momentum"), [(0.02, 10, 0.0), (0.1, 7, 0.7)])
def test_ghmr_equals_mmdetection(reduction: str, mu: float, bins: int, momentum: float) -> None:
    """(N, 5) deltas with (N, 5) box weights (zero rows: negatives; non-integer weights count in
    ``tot``), several calls (the momentum's ``acc_sum``)."""
    n = 200
    ours = rdet_models.build(
        dict(type="GHMR", mu=mu, bins=bins, momentum=momentum, loss_weight=10.0, reduction=reduction)
    )
    theirs = MMDetGHMR(
        mu=mu,
        bins=bins,
        momentum=momentum,
        loss_weight=1.0 if reduction == "sum" else 10.0,
        reduction=reduction,
    )
    assert set(ours.state_dict()) == set(theirs.state_dict())
    g = torch.Generator().manual_seed(2)
    for call in range(3):
        target = torch.randn(n, 5, generator=g) * 0.5
        pred = target + torch.randn(n, 5, generator=g) * torch.logspace(-3, 0, n).unsqueeze(1)
        pred[:2] = target[:2]  # d = 0: g = 0
        weight = (torch.rand(n, 1, generator=g) > 0.5).float().expand(n, 5).clone()
        weight[::7] *= 0.5
        mm_reduction = "none" if reduction == "sum" else reduction
        got, want, grad, want_grad = _both(
            lambda p, t=target, w=weight: ours(p, t, w, avg_factor=None if reduction == "sum" else 99.0),
            lambda p, t=target, w=weight, r=mm_reduction: _summed(theirs(p, t, w, 99.0, r), reduction, 10.0),
            pred,
        )
        _assert_equal(got, want, f"loss, call {call}")
        _assert_equal(grad, want_grad, f"gradient, call {call}")
        if momentum:
            _assert_equal(ours.acc_sum, theirs.acc_sum, f"acc_sum, call {call}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_ghm_in_other_dtypes_equals_mmdetection(dtype: torch.dtype, reduction: str) -> None:
    """Without autocast, float64 and bf16 predictions give MMDetection's numbers and types too
    (its float32 one-hot targets, weights in the prediction's type, edges compared in g's)."""
    pred = _logits(120, 4, seed=5).to(dtype)
    labels = torch.randint(0, 5, (120,), generator=torch.Generator().manual_seed(5))
    ours, theirs = (
        rdet_models.build(dict(type="GHMC", bins=30, momentum=0.75)),
        MMDetGHMC(bins=30, momentum=0.75),
    )
    for _ in range(2):
        _assert_equal(
            ours(pred, labels, torch.ones(120), reduction),
            theirs(pred, labels, torch.ones(120), reduction),
            "GHMC",
        )
    target = torch.randn(120, 5, generator=torch.Generator().manual_seed(6)).to(dtype)
    deltas = target + (torch.randn(120, 5, generator=torch.Generator().manual_seed(7)) * 0.1).to(dtype)
    ours_r, theirs_r = rdet_models.build(dict(type="GHMR", momentum=0.7)), MMDetGHMR(momentum=0.7)
    for _ in range(2):
        w = torch.ones(120, 5)
        _assert_equal(
            ours_r(deltas, target, w, None, reduction), theirs_r(deltas, target, w, None, reduction), "GHMR"
        )


def test_ghm_state_dict_loads_mmdetection_buffers() -> None:
    theirs = MMDetGHMC(bins=30, momentum=0.75)
    theirs(_logits(40, 3, 0), torch.randint(0, 4, (40,)), torch.ones(40))
    ours = rdet_models.build(dict(type="GHMC", bins=30, momentum=0.75))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    _assert_equal(ours.acc_sum, theirs.acc_sum, "acc_sum")
    ours_r = rdet_models.build(dict(type="GHMR", momentum=0.7))
    ours_r.load_state_dict(MMDetGHMR(momentum=0.7).state_dict(), strict=True)


# -- BalancedL1Loss, MSELoss --------------------------------------------------------------------------


def _box_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(64, 5, generator=g)
    pred = target + torch.randn(64, 5, generator=g) * 1.5  # |d| on both sides of beta
    return pred, target


#: (reduction, weight): no weight, (N, 5) elements, (N, 1) rows, elements with an avg_factor
#: ('sum' with an avg_factor is an error, tested in test_losses.py)
WEIGHTED = [(r, w) for r in REDUCTIONS for w in ("none", "elements", "rows", "avg_factor")]
WEIGHTED.remove(("sum", "avg_factor"))


@pytest.mark.parametrize(("reduction", "weight_kind"), WEIGHTED)
@pytest.mark.parametrize(
    "kw", [dict(), dict(alpha=0.3, gamma=2.0, beta=0.11), dict(alpha=1.0, gamma=0.5, beta=2.0)]
)
def test_balanced_l1_equals_mmdetection(reduction: str, weight_kind: str, kw: dict) -> None:
    pred, target = _box_inputs(0)
    weight = {
        "none": None,
        "elements": torch.rand(64, 5),
        "rows": torch.rand(64, 1),
        "avg_factor": torch.rand(64, 5),
    }[weight_kind]
    avg = 17.0 if weight_kind == "avg_factor" else None
    loss = rdet_models.build(dict(type="BalancedL1Loss", reduction=reduction, loss_weight=2.0, **kw))
    got, want, grad, want_grad = _both(
        lambda p: loss(p, target, weight, avg),
        lambda p: 2.0 * mmdet_balanced_l1(p, target, weight, reduction=reduction, avg_factor=avg, **kw),
        pred,
    )
    _assert_equal(got, want, "loss")
    _assert_equal(grad, want_grad, "gradient")


@pytest.mark.parametrize(("reduction", "weight_kind"), WEIGHTED)
def test_mse_equals_mmdetection(reduction: str, weight_kind: str) -> None:
    pred, target = _box_inputs(1)
    weight = {
        "none": None,
        "elements": torch.rand(64, 5),
        "rows": torch.rand(64, 1),
        "avg_factor": torch.rand(64, 5),
    }[weight_kind]
    avg = 9.0 if weight_kind == "avg_factor" else None
    loss = rdet_models.build(dict(type="MSELoss", reduction="mean", loss_weight=0.5))
    got, want, grad, want_grad = _both(
        lambda p: loss(p, target, weight, avg, reduction_override=reduction),
        lambda p: 0.5 * mmdet_mse(p, target, weight, reduction=reduction, avg_factor=avg),
        pred,
    )
    _assert_equal(got, want, "loss")
    _assert_equal(grad, want_grad, "gradient")


def test_balanced_l1_empty_target_and_bad_shapes() -> None:
    loss = rdet_models.build(dict(type="BalancedL1Loss"))
    pred = torch.zeros(0, 5, requires_grad=True)
    out = loss(pred, torch.zeros(0, 5), torch.zeros(0, 5), avg_factor=1.0)
    assert out.item() == 0 and out.requires_grad
    with pytest.raises(ValueError, match=r"pred \(3, 5\) and target \(3, 4\)"):
        loss(torch.zeros(3, 5), torch.zeros(3, 4))


# -- arguments, NaN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "typo"),
    [
        (dict(type="GHMC"), "bin"),
        (dict(type="GHMR"), "momentun"),
        (dict(type="BalancedL1Loss"), "gama"),
        (dict(type="MSELoss"), "use_sigmoid"),
    ],
)
def test_a_typod_constructor_argument_is_an_error_naming_it(cfg: dict, typo: str) -> None:
    with pytest.raises(TypeError, match=rf"{cfg['type']}.*'{typo}'"):
        rdet_models.build({**cfg, typo: 1})


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("GHMC", lambda f: f(_logits(4, 3, 0), torch.tensor([0, 1, 2, 3]), torch.ones(4), avg_facter=2)),
        ("GHMR", lambda f: f(torch.zeros(4, 5), torch.ones(4, 5), torch.ones(4, 5), reduction_overide="sum")),
        ("BalancedL1Loss", lambda f: f(torch.zeros(4, 5), torch.ones(4, 5), wieght=torch.ones(4, 5))),
        ("MSELoss", lambda f: f(torch.zeros(4, 5), torch.ones(4, 5), beta=1.0)),
    ],
)
def test_a_typod_call_argument_is_an_error_naming_it(name: str, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=rf"{name}\.forward\(\) got unexpected keyword argument\(s\) '\w+'"):
        call(rdet_models.build(dict(type=name)))


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (dict(type="GHMC", bins=0), "bins must be an integer >= 1, got 0"),
        (dict(type="GHMC", bins=2.5), "bins must be an integer"),
        (dict(type="GHMC", momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
        (dict(type="GHMR", mu=0), "mu must be > 0, got 0"),
        (dict(type="BalancedL1Loss", beta=0.0), "beta must be > 0"),
        (dict(type="BalancedL1Loss", alpha=-1.0), "alpha must be > 0"),
        (dict(type="BalancedL1Loss", gamma=0), "gamma must be > 0"),
        (dict(type="GHMC", reduction="avg"), "reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    ],
)
def test_bad_values_are_value_errors_naming_the_argument(cfg: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rdet_models.build(cfg)


def test_ghmc_is_sigmoid_only() -> None:
    with pytest.raises(NotImplementedError, match="use_sigmoid"):
        rdet_models.build(dict(type="GHMC", use_sigmoid=False))


def test_a_nan_prediction_gives_a_nan_loss_the_finite_check_reports() -> None:
    """As every rdet loss: NaN in, NaN out (the engine's finite check names the term); GHM leaves
    a NaN element out of its bins (weight 0) and NaN * 0 is NaN, also where the element is ignored
    (label_weight 0); the running ``acc_sum`` stays finite."""
    ghmc = rdet_models.build(dict(type="GHMC", bins=30, momentum=0.75))
    pred = _logits(20, 3, 0)
    pred[5, 1] = float("nan")
    weight = torch.ones(20)
    weight[5] = 0
    cases = {
        "loss_cls": ghmc(pred, torch.randint(0, 4, (20,)), weight, avg_factor=3),
        "loss_ghmr": rdet_models.build(dict(type="GHMR", momentum=0.7))(
            torch.tensor([[float("nan"), 0.0], [1.0, 2.0]]), torch.zeros(2, 2), torch.ones(2, 2)
        ),
        "loss_bl1": rdet_models.build(dict(type="BalancedL1Loss"))(
            torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2)
        ),
        "loss_mse": rdet_models.build(dict(type="MSELoss"))(
            torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2)
        ),
    }
    assert torch.isfinite(ghmc.acc_sum).all()
    for name, value in cases.items():
        assert torch.isnan(value), name
        with pytest.raises(rdet_models.NonFiniteLossError, match=name):
            rdet_models.check_finite_losses({name: value}, iteration=1)


# -- in a detector --------------------------------------------------------------------------------------


class _Recorder:
    """Records every call of a loss module (positional and keyword arguments, output)."""

    def __init__(self, module: nn.Module) -> None:
        self.calls: list[tuple[tuple, dict, torch.Tensor]] = []
        module.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, out: torch.Tensor) -> None:
        detached = tuple(a.detach().clone() if torch.is_tensor(a) else a for a in args)
        self.calls.append((detached, dict(kwargs), out.detach().clone()))


@pytest.mark.parametrize(
    "loss_bbox",
    [
        dict(type="BalancedL1Loss", alpha=0.5, gamma=1.5, beta=0.11, loss_weight=1.0),
        dict(type="GHMR", mu=0.02, bins=10, momentum=0.7, loss_weight=10.0),
    ],
)
def test_rotated_retinanet_with_ghm_trains_a_step(
    configs_dir: Path, small_overrides: dict, loss_bbox: dict
) -> None:
    """MMRotate's Rotated RetinaNet config with MMDetection's GHM / Libra losses: the head calls
    ``loss_cls(cls_score (N, C), labels (N,) with background C, label_weights (N,), avg_factor=...)``
    and ``loss_bbox(deltas (N, 5), targets (N, 5), weights (N, 5), avg_factor=...)`` per level;
    every call gives MMDetection's number (replayed in order, so the running bin counts agree);
    the losses are finite, a step changes the weights, and the state dict has MMDetection's keys."""
    cfg = Config.fromfile(configs_dir / "rotated_retinanet" / "rotated_retinanet_obb_r50_fpn_1x_dota_le90.py")
    cfg.merge_from_dict({**small_overrides, "model.bbox_head.num_classes": 3})
    # replaced, not merged into the config's FocalLoss / L1Loss
    cfg.model.bbox_head.loss_cls = dict(
        type="GHMC", bins=30, momentum=0.75, use_sigmoid=True, loss_weight=1.0
    )
    cfg.model.bbox_head.loss_bbox = dict(loss_bbox)
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    model.train()
    head = model.bbox_head
    assert not head.sampling  # GHMC trains every anchor, as FocalLoss
    keys = set(model.state_dict())
    assert {"bbox_head.loss_cls.edges", "bbox_head.loss_cls.acc_sum", "bbox_head.loss_bbox.edges"} - keys == (
        {"bbox_head.loss_bbox.edges"} if loss_bbox["type"] != "GHMR" else set()
    )
    theirs_cls = MMDetGHMC(bins=30, momentum=0.75)
    theirs_bbox = (
        MMDetGHMR(**{k: v for k, v in loss_bbox.items() if k != "type"})
        if loss_bbox["type"] == "GHMR"
        else None
    )
    rec_cls, rec_bbox = _Recorder(head.loss_cls), _Recorder(head.loss_bbox)

    metas = [ImageMeta(f"img{i}.png", (128, 128, 3), (128, 128, 3), scale_factor=[1.0] * 4) for i in range(2)]
    gts = [
        GroundTruth(
            torch.tensor([[40.0, 30.0, 40.0, 14.0, 0.3], [90.0, 70.0, 30.0, 20.0, -1.0]]),
            torch.tensor([0, 2]),
        ),
        GroundTruth(torch.tensor([[60.0, 64.0, 50.0, 24.0, 0.8]]), torch.tensor([1])),
    ]
    torch.manual_seed(1)
    batch = DetBatch(torch.randn(2, 3, 128, 128), metas, gts)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    losses = model.loss(batch)
    rdet_models.check_finite_losses(losses, iteration=0)
    total, log_vars = rdet_models.parse_losses(losses)
    assert log_vars["loss_cls"] > 0 and log_vars["loss_bbox"] > 0
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.isfinite(p).all() for p in after)

    assert len(rec_cls.calls) == 5 and head.loss_cls.acc_sum.sum() > 0
    for (score, labels, weights), kwargs, out in rec_cls.calls:
        assert labels.dim() == 1 and (labels == 3).any() and score.shape == (labels.size(0), 3)
        assert set(kwargs) == {"avg_factor"}
        _assert_equal(out, theirs_cls(score, labels, weights, **kwargs), "loss_cls")
    _assert_equal(head.loss_cls.acc_sum, theirs_cls.acc_sum, "loss_cls.acc_sum")
    assert len(rec_bbox.calls) == 5
    for (pred, target, weights), kwargs, out in rec_bbox.calls:
        assert pred.shape == target.shape == weights.shape and pred.size(1) == 5
        if theirs_bbox is not None:
            want = theirs_bbox(pred, target, weights, **kwargs)
        else:
            kw = {k: v for k, v in loss_bbox.items() if k not in ("type", "loss_weight")}
            want = mmdet_balanced_l1(pred, target, weights, **kw, **kwargs)
        _assert_equal(out, want, "loss_bbox")
    # a second step: the running counts carry on
    model.loss(batch)
    assert len(rec_cls.calls) == 10
