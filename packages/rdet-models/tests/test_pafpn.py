"""PAFPN (MMDetection 2.x's ``mmdet/models/necks/pafpn.py``): shapes, state-dict keys and forward
against MMDetection's code transcribed below; a list of necks built as MMCV's ``Sequential``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rdet_models
from rdet_models.init import Sequential
from rdet_models.necks import FPN, PAFPN

IN_CHANNELS = [8, 16, 32, 64]


def _feats(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, 32 // 2**i, 40 // 2**i, generator=g) for i, c in enumerate(IN_CHANNELS)]


def _randomised(neck: nn.Module, seed: int = 1) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in neck.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return neck


def mmdet_pafpn_forward(self, inputs):  # type: ignore[no-untyped-def]
    """MMDetection 2.28's ``PAFPN.forward``, as written there (``self``: the neck)."""
    assert len(inputs) == len(self.in_channels)
    laterals = [
        lateral_conv(inputs[i + self.start_level]) for i, lateral_conv in enumerate(self.lateral_convs)
    ]
    used_backbone_levels = len(laterals)
    for i in range(used_backbone_levels - 1, 0, -1):
        prev_shape = laterals[i - 1].shape[2:]
        laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=prev_shape, mode="nearest")
    inter_outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
    for i in range(0, used_backbone_levels - 1):
        inter_outs[i + 1] = inter_outs[i + 1] + self.downsample_convs[i](inter_outs[i])
    outs = []
    outs.append(inter_outs[0])
    outs.extend([self.pafpn_convs[i - 1](inter_outs[i]) for i in range(1, used_backbone_levels)])
    if self.num_outs > len(outs):
        if not self.add_extra_convs:
            for _i in range(self.num_outs - used_backbone_levels):
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        else:
            if self.add_extra_convs == "on_input":
                orig = inputs[self.backbone_end_level - 1]
                outs.append(self.fpn_convs[used_backbone_levels](orig))
            elif self.add_extra_convs == "on_lateral":
                outs.append(self.fpn_convs[used_backbone_levels](laterals[-1]))
            elif self.add_extra_convs == "on_output":
                outs.append(self.fpn_convs[used_backbone_levels](outs[-1]))
            else:
                raise NotImplementedError
            for i in range(used_backbone_levels + 1, self.num_outs):
                if self.relu_before_extra_convs:
                    outs.append(self.fpn_convs[i](F.relu(outs[-1])))
                else:
                    outs.append(self.fpn_convs[i](outs[-1]))
    return tuple(outs)


@pytest.mark.parametrize("mode", ["on_input", "on_lateral", "on_output", True, False])
def test_pafpn_shapes_and_forward_are_mmdetections(mode: str | bool) -> None:
    neck = rdet_models.build_neck(
        dict(type="PAFPN", in_channels=IN_CHANNELS, out_channels=16, num_outs=5, start_level=1,
             add_extra_convs=mode, relu_before_extra_convs=True)
    )  # fmt: skip
    assert isinstance(neck, PAFPN) and isinstance(neck, FPN)
    _randomised(neck)
    feats = _feats()
    with torch.no_grad():
        outs = neck(feats)
        expected = mmdet_pafpn_forward(neck, feats)
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
    assert all(o.shape[:2] == (2, 16) for o in outs)
    assert len(outs) == len(expected)
    for ours, theirs in zip(outs, expected):
        assert torch.equal(ours, theirs)
    if mode in ("on_input", True):
        assert neck.fpn_convs[3].conv.in_channels == 64


def test_pafpn_state_dict_keys_are_mmdetections() -> None:
    """PAFPN([8, 16, 32, 64], 16, num_outs=5, start_level=1, add_extra_convs='on_input'): FPN's
    3 laterals and 3 + 2 fpn convs, then for levels start_level + 1 .. 3 one downsample conv and
    one pafpn conv each (MMDetection's ``__init__``), ConvModules without norm: conv.weight, conv.bias."""
    neck = PAFPN(IN_CHANNELS, 16, num_outs=5, start_level=1, add_extra_convs="on_input")
    expected = [
        f"{group}.{i}.conv.{p}"
        for group, n in (("lateral_convs", 3), ("fpn_convs", 5), ("downsample_convs", 2), ("pafpn_convs", 2))
        for i in range(n)
        for p in ("weight", "bias")
    ]
    assert list(neck.state_dict()) == expected
    assert [
        tuple(neck.state_dict()[k].shape)
        for k in ("fpn_convs.3.conv.weight", "downsample_convs.1.conv.weight")
    ] == [
        (16, 64, 3, 3),
        (16, 16, 3, 3),
    ]
    assert neck.downsample_convs[0].conv.stride == (2, 2) and neck.pafpn_convs[0].conv.stride == (1, 1)
    normed = PAFPN([8, 16], 8, num_outs=2, norm_cfg=dict(type="GN", num_groups=2))
    assert [k for k in normed.state_dict() if k.startswith(("downsample", "pafpn"))] == [
        "downsample_convs.0.conv.weight",
        "downsample_convs.0.gn.weight",
        "downsample_convs.0.gn.bias",
        "pafpn_convs.0.conv.weight",
        "pafpn_convs.0.gn.weight",
        "pafpn_convs.0.gn.bias",
    ]
    assert neck.init_cfg == dict(type="Xavier", layer="Conv2d", distribution="uniform")


def test_a_list_of_necks_is_mmcvs_sequential() -> None:
    """``neck=[dict(...), dict(...)]``: MMCV's ``build_model_from_cfg`` builds ``Sequential`` of
    them (keys ``neck.0.*``, ``neck.1.*``); the detector runs the features through both."""
    cfg = dict(
        type="RotatedRetinaNet",
        backbone=dict(type="ResNet", depth=18, base_channels=8, out_indices=(0, 1, 2, 3)),
        neck=[
            dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=16, start_level=1, num_outs=3),
            dict(type="PAFPN", in_channels=[16, 16, 16], out_channels=16, num_outs=5, add_extra_convs="on_output"),
        ],
        bbox_head=dict(
            type="RotatedRetinaHead", num_classes=2, in_channels=16, feat_channels=16, stacked_convs=1,
            anchor_generator=dict(type="RotatedAnchorGenerator", octave_base_scale=4, scales_per_octave=1,
                                  ratios=[1.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type="DeltaXYWHAOBBoxCoder", angle_range="le90"),
        ),
        test_cfg=dict(nms_pre=50, min_bbox_size=0, score_thr=0.0, nms=dict(iou_thr=0.1), max_per_img=10),
    )  # fmt: skip
    model = rdet_models.build_detector(cfg)
    assert isinstance(model.neck, Sequential) and isinstance(model.neck, nn.Sequential)
    keys = list(model.state_dict())
    assert "neck.0.lateral_convs.0.conv.weight" in keys and "neck.1.pafpn_convs.1.conv.bias" in keys
    assert not any(k.startswith("neck.") and k.split(".")[1] not in ("0", "1") for k in keys)
    model.init_weights()
    assert model.neck[0].is_init and model.neck[1].is_init
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.extract_feat(img)
        assert [tuple(f.shape[2:]) for f in feats] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
        expected = model.neck[1](model.neck[0](model.backbone(img)))
    assert all(torch.equal(a, b) for a, b in zip(feats, expected))
    with pytest.raises(TypeError, match="a dict or a list of dicts"):
        rdet_models.build_neck("FPN")  # type: ignore[arg-type]
