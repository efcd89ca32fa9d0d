"""Deformable convolutions in the ResNet (``dcn=``, ``stage_with_dcn``) and the anchor-free heads'
``dcn_on_last_conv``: MMDetection's module names, the identity of zero offsets, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rbox_ops import DeformConv2dPack, ModulatedDeformConv2dPack
from rdet_models.backbones.resnet import ResNet
from rdet_models.heads.rotated_fcos_head import RotatedFCOSHead

DCN = dict(type="DCN", deform_groups=1, fallback_on_stride=False)  # MMDetection's dcn configs
DCNV2 = dict(type="DCNv2", deform_groups=1, fallback_on_stride=False)
STAGES = (False, True, True, True)


def _small(**kwargs: object) -> ResNet:
    return ResNet(50, base_channels=8, stage_with_dcn=STAGES, **kwargs)


@pytest.mark.parametrize(("dcn", "cls"), [(DCN, DeformConv2dPack), (DCNV2, ModulatedDeformConv2dPack)])
def test_dcn_stages_have_mmdetections_module_names(dcn: dict, cls: type) -> None:
    net = _small(dcn=dcn)
    keys = set(net.state_dict())
    for i, stage in enumerate(("layer1", "layer2", "layer3", "layer4")):
        for j, block in enumerate(getattr(net, stage)):
            assert isinstance(block.conv2, cls) is STAGES[i], (stage, j)
            has_offset = f"{stage}.{j}.conv2.conv_offset.weight" in keys
            assert has_offset is STAGES[i]
    # the offset conv: 2 (v1) or 3 (v2: dy, dx, mask) channels per kernel point, zero at construction
    offset = net.layer2[0].conv2.conv_offset
    assert offset.out_channels == (2 if dcn is DCN else 3) * 9
    assert offset.stride == net.layer2[0].conv2.stride == (2, 2)  # the strided 3x3 ('pytorch' style)
    assert not offset.weight.detach().any() and not offset.bias.detach().any()
    assert "layer2.0.conv2.bias" not in keys  # bias=False, as every ResNet conv
    assert dcn["fallback_on_stride"] is False  # the config's dict is not consumed


def test_zero_offsets_make_a_dcn_resnet_the_plain_one() -> None:
    """DCN (v1) with zero offsets samples the grid points: with the plain ResNet's weights loaded,
    both networks compute the same features. DCNv2's zero-offset mask is sigmoid(0) = 0.5."""
    torch.manual_seed(0)
    plain = ResNet(50, base_channels=8).eval()
    for m in plain.modules():  # non-trivial statistics, so a wrong fold or scale would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
    dcn = _small(dcn=DCN).eval()
    missing, unexpected = dcn.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".conv_offset." in k for k in missing)
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(plain(x), dcn(x), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)

    v2 = _small(dcn=DCNV2).eval()
    v2.load_state_dict(plain.state_dict(), strict=False)
    block, ref = v2.layer2[1], plain.layer2[1]
    feat = torch.randn(1, 16, 8, 8)  # layer2: 8 * 2 planes
    torch.testing.assert_close(block.conv2(feat), 0.5 * ref.conv2(feat), rtol=1e-4, atol=1e-5)


def test_gradients_reach_the_offsets() -> None:
    torch.manual_seed(0)
    net = _small(dcn=DCNV2, norm_eval=False, zero_init_residual=False)  # else no gradient reaches conv2
    net.init_weights()
    outs = net(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outs).backward()
    for name, p in net.named_parameters():
        if ".conv_offset." in name:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert float(net.layer3[0].conv2.conv_offset.weight.grad.abs().sum()) > 0


def test_init_weights_keeps_offsets_at_zero() -> None:
    for dcn in (DCN, DCNV2):
        net = _small(dcn=dcn)
        net.init_weights()  # the default init_cfg: Kaiming for every nn.Conv2d ...
        for name, p in net.named_parameters():
            if ".conv_offset." in name:  # ... but the offsets start at zero (the grid)
                assert not p.detach().any(), name


def test_fallback_on_stride_is_mmdetections() -> None:
    """MMDetection pops ``fallback_on_stride`` from the dcn dict its blocks share: only the first
    block built with it keeps a plain conv. Kept, so that such checkpoints load."""
    dcn = dict(type="DCN", fallback_on_stride=True)
    net = _small(dcn=dcn)
    plain = [
        f"{s}.{j}"
        for s in ("layer2", "layer3", "layer4")
        for j, b in enumerate(getattr(net, s))
        if not isinstance(b.conv2, DeformConv2dPack)
    ]
    assert plain == ["layer2.0"]
    assert dcn == dict(type="DCN", fallback_on_stride=True)  # the config itself is untouched


def test_dcn_errors_name_the_argument() -> None:
    with pytest.raises(NotImplementedError, match="Bottleneck"):
        ResNet(18, dcn=DCN, stage_with_dcn=STAGES)
    with pytest.raises(ValueError, match="stage_with_dcn needs one entry per stage"):
        ResNet(50, base_channels=8, dcn=DCN, stage_with_dcn=(False, True))
    with pytest.raises(ValueError, match="conv_cfg must be None"):
        _small(dcn=DCN, conv_cfg=dict(type="Conv2d"))
    with pytest.raises(TypeError, match="dcn must be a conv_cfg dict"):
        _small(dcn="DCN")
    with pytest.raises(KeyError, match="'DCNv3' is not supported"):
        _small(dcn=dict(type="DCNv3"))
    with pytest.raises(NotImplementedError, match="plugins"):
        ResNet(50, plugins=[dict(cfg=dict(type="ContextBlock", ratio=1 / 16), position="after_conv3")])


def test_fcos_dcn_on_last_conv() -> None:
    """MMDetection's AnchorFreeHead: the last conv of each tower is a DCNv2 (``conv_cfg`` DCNv2),
    named ``cls_convs.<last>.conv`` with its ``conv_offset``."""
    torch.manual_seed(0)
    head = RotatedFCOSHead(
        3,
        8,
        feat_channels=8,
        stacked_convs=2,
        strides=(8, 16),
        dcn_on_last_conv=True,
        norm_cfg=dict(type="GN", num_groups=4),
    )
    head.init_weights()
    for tower in (head.cls_convs, head.reg_convs):
        assert not isinstance(tower[0].conv, ModulatedDeformConv2dPack)
        assert isinstance(tower[1].conv, ModulatedDeformConv2dPack)
    keys = set(head.state_dict())
    assert {
        "cls_convs.1.conv.weight",
        "cls_convs.1.conv.conv_offset.weight",
        "reg_convs.1.conv.conv_offset.bias",
    } <= keys
    # the head's init_cfg (Normal, std 0.01, layer Conv2d) reaches the offset conv, as in MMDetection
    offset = head.cls_convs[1].conv.conv_offset
    assert 0 < float(offset.weight.detach().std()) < 0.02 and not offset.bias.detach().any()
    feats = [torch.randn(1, 8, 16, 16, requires_grad=True), torch.randn(1, 8, 8, 8, requires_grad=True)]
    outs = head(feats)
    sum(o.sum() for group in outs for o in group).backward()
    assert head.cls_convs[1].conv.conv_offset.weight.grad is not None
    assert all(torch.isfinite(f.grad).all() for f in feats)
