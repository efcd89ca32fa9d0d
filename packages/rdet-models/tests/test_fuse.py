"""rdet_models.fuse_conv_bn: BatchNorm folded into the conv before it, only where that conv's
output is what the BatchNorm normalises. The golden detections of fused models are checked in
rdet-apps (test_apis_inference.py::test_fused_conv_bn_keeps_the_golden_detections)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rdet_models import fuse_conv_bn
from rdet_models.backbones import ResNet
from rdet_models.fuse import fused_conv
from rdet_models.layers import ConvModule


def _random_stats(bn: nn.BatchNorm2d) -> nn.BatchNorm2d:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    return bn.eval()


@pytest.mark.parametrize(("groups", "bias"), [(1, False), (1, True), (2, True)])
def test_fused_conv_equals_bn_after_conv(groups: int, bias: bool) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=groups, bias=bias)
    bn = _random_stats(nn.BatchNorm2d(6, eps=1e-3))
    x = torch.randn(2, 4, 9, 11)
    torch.testing.assert_close(fused_conv(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_norm_before_conv_is_not_fused() -> None:
    """mmcv's fuse_conv_bn pairs a BatchNorm with the conv registered before it, and would fold
    the norm of ``order=('norm', 'conv', 'act')`` (applied to the *input*) into the conv."""
    torch.manual_seed(0)
    pre = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type="BN"), order=("norm", "conv", "act")).eval()
    _random_stats(pre.norm)
    post = ConvModule(4, 6, 3, padding=1, norm_cfg=dict(type="BN")).eval()
    _random_stats(post.norm)
    x = torch.randn(1, 4, 8, 8)
    expected = post(pre(x))
    model = fuse_conv_bn(nn.Sequential(pre, post).eval())
    assert isinstance(pre.norm, nn.BatchNorm2d)  # kept
    assert isinstance(post.norm, nn.Identity) and post.conv.bias is not None  # folded
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_has_no_batchnorm_left_and_computes_the_same(depth: int) -> None:
    torch.manual_seed(0)
    net = ResNet(depth=depth, base_channels=16, out_indices=(0, 1, 2, 3)).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _random_stats(m)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = net(x)
        fuse_conv_bn(net)
        got = net(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_fusing_a_model_in_training_mode_is_refused() -> None:
    with pytest.raises(RuntimeError, match=r"model.eval\(\)"):
        fuse_conv_bn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))


def test_batchnorm_without_running_stats_is_refused() -> None:
    with pytest.raises(ValueError, match="running statistics"):
        fused_conv(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
