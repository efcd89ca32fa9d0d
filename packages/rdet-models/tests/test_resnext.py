"""ResNeXt and ResNetV1d: MMDetection's widths, groups, stems and module names; groups=1 is ResNet; DCN."""

from __future__ import annotations

import math

import pytest
import torch

from rbox_ops import DeformConv2dPack
from rdet_models.backbones.resnet import ResNet
from rdet_models.backbones.resnext import ResNeXt
from rdet_models.builder import build_backbone


def _mmdet_width(planes: int, groups: int, base_width: int, base_channels: int = 64) -> int:
    """MMDetection 2.x mmdet/models/backbones/resnext.py, Bottleneck.__init__."""
    return planes if groups == 1 else math.floor(planes * (base_width / base_channels)) * groups


def test_resnext101_32x4d_has_mmdetections_shapes() -> None:
    net = build_backbone(dict(type="ResNeXt", depth=101, groups=32, base_width=4, num_stages=4))
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for stage, planes in enumerate((64, 128, 256, 512), start=1):
        width = _mmdet_width(planes, 32, 4)
        inplanes = 64 if stage == 1 else planes * 2  # the previous stage's 4 * planes / 2
        assert shapes[f"layer{stage}.0.conv1.weight"] == (width, inplanes, 1, 1)
        assert shapes[f"layer{stage}.0.conv2.weight"] == (width, width // 32, 3, 3)
        assert shapes[f"layer{stage}.0.conv3.weight"] == (planes * 4, width, 1, 1)
        assert shapes[f"layer{stage}.0.bn2.weight"] == (width,)
        assert shapes[f"layer{stage}.0.downsample.0.weight"] == (planes * 4, inplanes, 1, 1)
    assert len(net.layer3) == 23
    assert net.layer2[0].conv2.groups == 32 and net.layer2[0].conv2.stride == (2, 2)


def test_groups_1_is_resnet() -> None:
    torch.manual_seed(0)
    plain = ResNet(50, base_channels=8).eval()
    same = ResNeXt(depth=50, groups=1, base_width=4, base_channels=8).eval()
    same.load_state_dict(plain.state_dict())  # strict: identical names and shapes
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(plain(x), same(x), strict=True):
        torch.testing.assert_close(a, b)


def test_grouped_forward_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    net = ResNeXt(depth=50, groups=4, base_width=4, base_channels=16, norm_eval=False)
    assert net.layer1[0].conv2.weight.shape == (16, 4, 3, 3)  # floor(16 * 4 / 16) * 4 channels, 4 groups
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    outs = net(x)
    assert [tuple(o.shape) for o in outs] == [(2, 64 * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4)]
    sum(o.sum() for o in outs).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_resnext_with_dcn_groups_and_no_fallback() -> None:
    """MMDetection's ResNeXt block pops ``fallback_on_stride`` a second time, so it never falls
    back: every block of a dcn stage is deformable, grouped as the plain conv would be."""
    dcn = dict(type="DCN", deform_groups=1, fallback_on_stride=True)
    net = ResNeXt(
        depth=50, groups=4, base_width=4, base_channels=16, dcn=dcn, stage_with_dcn=(False, True, True, True)
    )
    for stage in (net.layer2, net.layer3, net.layer4):
        assert all(isinstance(b.conv2, DeformConv2dPack) and b.conv2.groups == 4 for b in stage)
    assert not any(isinstance(b.conv2, DeformConv2dPack) for b in net.layer1)
    net.eval()
    outs = net(torch.randn(1, 3, 64, 64))
    assert all(torch.isfinite(o).all() for o in outs)


def test_resnext_rejects_bad_arguments() -> None:
    with pytest.raises(KeyError, match="invalid depth"):
        ResNeXt(depth=18, groups=32)  # no BasicBlock ResNeXt, as MMDetection
    with pytest.raises(ValueError, match="groups and base_width must be positive"):
        ResNeXt(depth=50, groups=0)


def test_resnet_v1d_has_mmdetections_stem_and_shortcuts() -> None:
    net = build_backbone(dict(type="ResNetV1d", depth=50, base_channels=8, stem_channels=16))
    keys = set(net.state_dict())
    # deep stem: three conv-BN-ReLU (stem.0/1, stem.3/4, stem.6/7); no conv1
    assert {"stem.0.weight", "stem.1.weight", "stem.3.weight", "stem.6.weight", "stem.7.running_var"} <= keys
    assert "conv1.weight" not in keys
    # average-pool shortcut: downsample.0 is the pool, .1 the 1x1 conv (stride 1), .2 its norm
    assert isinstance(net.layer2[0].downsample[0], torch.nn.AvgPool2d)
    assert net.layer2[0].downsample[1].stride == (1, 1)
    assert {"layer2.0.downsample.1.weight", "layer2.0.downsample.2.weight"} <= keys
    outs = net.eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32 * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4)]
    with pytest.raises(TypeError, match="deep_stem"):
        build_backbone(dict(type="ResNetV1d", depth=50, deep_stem=False))  # as MMDetection: fixed
