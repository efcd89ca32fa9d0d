"""ResNet, FPN, ConvModule and init: shapes, MMDetection's module names, freezing, init_cfg."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import rdet_models
from rdet_models.backbones.resnet import ResNet
from rdet_models.checkpoint import CheckpointNotFoundError
from rdet_models.layers import ConvModule, build_norm_layer
from rdet_models.necks.fpn import FPN


@pytest.mark.parametrize(("depth", "expansion"), [(18, 1), (34, 1), (50, 4)])
def test_resnet_shapes(depth: int, expansion: int) -> None:
    net = ResNet(depth, base_channels=8, out_indices=(0, 1, 2, 3))
    outs = net(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, 8 * 2**i * expansion, 64 // 2 ** (i + 2), 96 // 2 ** (i + 2)) for i in range(4)
    ]


def test_resnet_deep_depths_build() -> None:
    for depth, blocks in ((101, 23), (152, 36)):
        net = ResNet(depth, base_channels=4, num_stages=3, out_indices=(2,))
        assert len(net.layer3) == blocks


def test_resnet_torchvision_names_and_caffe_style() -> None:
    net = ResNet(50, base_channels=4, style="caffe")
    keys = set(net.state_dict())
    for k in (
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv3.weight",
        "layer1.0.bn3.weight",
        "layer1.0.downsample.0.weight",
        "layer4.2.bn2.bias",
    ):
        assert k in keys
    assert net.layer2[0].conv1.stride == (2, 2) and net.layer2[0].conv2.stride == (1, 1)
    assert ResNet(50, base_channels=4).layer2[0].conv2.stride == (2, 2)


def test_resnet_frozen_stages_and_norm_eval() -> None:
    net = ResNet(18, base_channels=8, frozen_stages=1, norm_eval=True)
    net.train()
    assert not any(p.requires_grad for p in net.conv1.parameters())
    assert not any(p.requires_grad for p in net.layer1.parameters())
    assert all(p.requires_grad for p in net.layer2.parameters())
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    net2 = ResNet(18, base_channels=8, norm_eval=False).train()
    assert all(m.training for m in net2.modules() if isinstance(m, nn.BatchNorm2d))


def test_resnet_with_cp_and_zero_init_residual() -> None:
    torch.manual_seed(0)
    net = ResNet(18, base_channels=8, with_cp=True, norm_eval=False)
    net.init_weights()
    assert all(float(b.norm2.weight.detach().abs().sum()) == 0 for b in net.layer1)  # zero_init_residual
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    sum(o.sum() for o in net(x)).backward()
    assert x.grad is not None


def test_resnet_rejects_bad_arguments() -> None:
    with pytest.raises(KeyError, match="invalid depth"):
        ResNet(42)
    with pytest.raises(NotImplementedError, match="dcn"):
        ResNet(18, dcn=dict(type="DCNv2"), stage_with_dcn=(False, True, True, True))


@pytest.mark.parametrize("mode", ["on_input", "on_lateral", "on_output", True, False])
def test_fpn_extra_levels(mode: str | bool) -> None:
    neck = FPN(
        [8, 16, 32, 64], 16, num_outs=5, start_level=1, add_extra_convs=mode, relu_before_extra_convs=True
    )
    feats = [torch.randn(1, 8 * 2**i, 32 // 2**i, 32 // 2**i) for i in range(4)]
    outs = neck(feats)
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert all(o.shape[1] == 16 for o in outs)
    if mode in ("on_input", True):
        assert neck.fpn_convs[3].conv.in_channels == 64


def test_fpn_end_level_and_norm() -> None:
    neck = FPN(
        [8, 16, 32], 16, num_outs=2, start_level=0, end_level=1, norm_cfg=dict(type="GN", num_groups=4)
    )
    outs = neck([torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8), torch.randn(1, 32, 4, 4)])
    assert len(outs) == 2 and "lateral_convs.0.gn.weight" in neck.state_dict()
    with pytest.raises(ValueError, match="num_outs"):
        FPN([8, 16], 16, num_outs=1)


def test_conv_module_names_and_norms() -> None:
    assert set(ConvModule(3, 4, 3, norm_cfg=dict(type="BN")).state_dict()) >= {"conv.weight", "bn.weight"}
    assert "conv.bias" not in ConvModule(3, 4, 3, norm_cfg=dict(type="BN")).state_dict()
    assert "conv.bias" in ConvModule(3, 4, 3).state_dict()
    name, layer = build_norm_layer(dict(type="SyncBN", requires_grad=False), 8, postfix=2)
    assert name == "bn2" and isinstance(layer, nn.SyncBatchNorm) and not layer.weight.requires_grad
    assert build_norm_layer(dict(type="GN", num_groups=2), 8)[0] == "gn"
    y = ConvModule(
        3,
        4,
        3,
        padding=1,
        act_cfg=dict(type="LeakyReLU"),
        order=("norm", "conv", "act"),
        norm_cfg=dict(type="BN"),
    )(torch.randn(1, 3, 8, 8))
    assert y.shape == (1, 4, 8, 8)


def test_init_cfg_types_and_override() -> None:
    head = rdet_models.build(
        dict(
            type="RotatedRetinaHead",
            num_classes=3,
            in_channels=8,
            feat_channels=8,
            stacked_convs=1,
            anchor_generator=dict(
                type="RotatedAnchorGenerator",
                octave_base_scale=4,
                scales_per_octave=1,
                ratios=[1.0],
                strides=[8],
            ),
            bbox_coder=dict(type="DeltaXYWHAOBBoxCoder"),
        )
    )
    head.init_weights()
    assert torch.allclose(head.retina_cls.bias, torch.full_like(head.retina_cls.bias, -4.59512), atol=1e-4)
    assert float(head.retina_reg.bias.detach().abs().sum()) == 0
    from rdet_models.init import initialize

    m = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.Linear(2, 2)).requires_grad_(False)
    initialize(
        m,
        [
            dict(type="Constant", val=3, layer="_BatchNorm"),
            dict(type="Xavier", layer=["Conv2d", "Linear"], bias=0.5),
        ],
    )
    assert float(m[1].weight[0]) == 3 and float(m[0].bias[0]) == 0.5 and float(m[2].bias[0]) == 0.5
    initialize(m, dict(type="Kaiming", layer="Conv2d", override=dict(name="2", type="Uniform", a=2, b=2)))
    assert float(m[2].weight.min()) == 2
    with pytest.raises(KeyError, match="not supported"):
        initialize(m, dict(type="Orthogonal"))


def test_pretrained_from_local_file_and_remote_names(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = ResNet(18, base_channels=4)
    torch.save({"state_dict": src.state_dict(), "fc.weight": torch.zeros(1)}, tmp_path / "r18.pth")
    net = ResNet(18, base_channels=4, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "r18.pth")))
    net.init_weights()
    assert torch.equal(net.layer3[1].conv2.weight, src.layer3[1].conv2.weight)

    # MMRotate's configs name torchvision://resnet50: building works, init_weights explains
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    net = ResNet(18, base_channels=4, init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet18"))
    monkeypatch.setenv("RDET_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match="RDET_OFFLINE") as err:
        net.init_weights()
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in str(err.value)
    assert str(cache / "resnet18-f37072fd.pth") in str(err.value)
    assert "model.backbone.init_cfg" in str(err.value)
    # ... and a copy in the hub cache (where mmcv would have downloaded it) is used
    cache.mkdir(parents=True)
    torch.save(src.state_dict(), cache / "resnet18-f37072fd.pth")
    net.init_weights()
    assert torch.equal(net.conv1.weight, src.conv1.weight)


def test_checkpoint_keys_load_strictly(golden_dir) -> None:  # type: ignore[no-untyped-def]
    """Every golden Rotated RetinaNet state-dict key is one of ours (strict load)."""
    from rdet_core import Config

    case = json.loads((golden_dir / "models" / "cases.json").read_text())["retinanet_obb_le90"]
    configs = golden_dir.parent.parent / "configs" / "mmrotate-0.3.4"
    cfg = Config.fromfile(configs / case["config"])
    cfg.merge_from_dict({k: v for k, v in case["overrides"].items() if k.startswith("model.")})
    model = rdet_models.build_detector(cfg.model)
    state = torch.load(golden_dir / "models" / case["checkpoint"], map_location="cpu", weights_only=False)[
        "state_dict"
    ]
    assert len(state) == case["state_dict_keys"]
    model.load_state_dict(state, strict=True)
