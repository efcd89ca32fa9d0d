"""paramwise_cfg.dcn_offset_lr_mult: MMCV's DefaultOptimizerConstructor rules for deformable convs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rbox_ops import DeformConv2dPack, ModulatedDeformConv2dPack
from rdet_apps.engine.optim import build_optimizer, param_groups


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dcn2 = ModulatedDeformConv2dPack(4, 4, 3, padding=1)  # weight, bias, conv_offset.*
        self.dcn = DeformConv2dPack(4, 4, 3, padding=1)  # weight, conv_offset.*
        self.conv = nn.Conv2d(4, 4, 3)
        self.bn = nn.BatchNorm2d(4)


def _mmcv_expected(name: str, lr: float, wd: float, p: dict) -> tuple[float, float]:
    """mmcv 1.7 DefaultOptimizerConstructor.add_params, transcribed for this Net."""
    module, _, pname = name.rpartition(".")
    is_dcn_child = module in ("dcn2.conv_offset", "dcn.conv_offset")  # parent is a DCN
    is_norm = module == "bn"
    out_lr, out_wd = lr, wd
    if pname == "bias" and not (is_norm or is_dcn_child):
        out_lr = lr * p["bias_lr_mult"]
    if "conv_offset" in module and is_dcn_child:  # and the module is an nn.Conv2d
        out_lr = lr * p["dcn_offset_lr_mult"]
    if is_norm:
        out_wd = wd * p["norm_decay_mult"]
    elif pname == "bias" and not is_dcn_child:
        out_wd = wd * p["bias_decay_mult"]
    return out_lr, out_wd


def test_dcn_offset_lr_mult_follows_mmcv() -> None:
    paramwise = dict(dcn_offset_lr_mult=0.1, bias_lr_mult=2.0, bias_decay_mult=0.5, norm_decay_mult=0.0)
    got = {g["name"]: (g["lr"], g["weight_decay"]) for g in param_groups(Net(), 0.02, 1e-4, paramwise)}
    opt = build_optimizer(Net(), dict(type="SGD", lr=0.02, weight_decay=1e-4, paramwise_cfg=paramwise))
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx(sorted(v[0] for v in got.values()))
    assert set(got) == {name for name, _ in Net().named_parameters()}
    for name, (lr, wd) in got.items():
        want = _mmcv_expected(name, 0.02, 1e-4, paramwise)
        assert lr == pytest.approx(want[0]) and wd == pytest.approx(want[1]), name
    # the offsets' bias takes dcn_offset_lr_mult alone; the DCN's own bias is an ordinary bias
    assert got["dcn2.conv_offset.bias"] == (pytest.approx(0.002), pytest.approx(1e-4))
    assert got["dcn2.bias"] == (pytest.approx(0.04), pytest.approx(5e-5))
    assert got["dcn.conv_offset.weight"][0] == pytest.approx(0.002)


def test_dcn_offset_lr_mult_default_changes_nothing() -> None:
    opt = build_optimizer(Net(), dict(type="SGD", lr=0.02, paramwise_cfg=dict(bias_lr_mult=1.0)))
    assert all(g["lr"] == pytest.approx(0.02) for g in opt.param_groups)
    assert isinstance(opt, torch.optim.SGD)
