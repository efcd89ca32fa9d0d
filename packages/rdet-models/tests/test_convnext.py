"""ConvNeXt: mmcls 0.x's module names and shapes, LayerNorm2d against F.layer_norm, an mmcls-style
checkpoint through ``init_cfg=dict(type='Pretrained', prefix='backbone.')``, and MMRotate's ConvNeXt
config building without mmcls (its ``custom_imports=['mmcls.models']`` is provided by rdet-models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import rdet_models
from rdet_core import Config
from rdet_core.custom_imports import PROVIDED_MODULES, import_custom_modules
from rdet_models.backbones.convnext import ConvNeXt, ConvNeXtBlock
from rdet_models.layers import LayerNorm2d, build_norm_layer
from rdet_models.registry import MODELS

ARCH = {"depths": [2, 1], "channels": [8, 16]}

#: mmcls 0.25's state-dict keys of ConvNeXt(arch=ARCH, out_indices=[0, 1]), written from
#: mmcls/models/backbones/convnext.py (stem = downsample_layers.0: Conv2d then LN2d; later
#: downsample layers: LN2d then Conv2d; blocks: depthwise_conv, norm, pointwise_conv1/2, gamma).
BLOCK_KEYS = [
    "gamma",
    "depthwise_conv.weight",
    "depthwise_conv.bias",
    "norm.weight",
    "norm.bias",
    "pointwise_conv1.weight",
    "pointwise_conv1.bias",
    "pointwise_conv2.weight",
    "pointwise_conv2.bias",
]
MMCLS_KEYS = (
    [f"downsample_layers.0.{i}.{p}" for i in (0, 1) for p in ("weight", "bias")]
    + [f"downsample_layers.1.{i}.{p}" for i in (0, 1) for p in ("weight", "bias")]
    + [f"stages.0.{j}.{k}" for j in range(2) for k in BLOCK_KEYS]
    + [f"stages.1.0.{k}" for k in BLOCK_KEYS]
    + ["norm0.weight", "norm0.bias", "norm1.weight", "norm1.bias"]
)


def small_convnext(**kwargs: object) -> ConvNeXt:
    torch.manual_seed(0)
    cfg: dict = dict(arch=dict(ARCH), out_indices=[0, 1], gap_before_final_norm=False)
    cfg.update(kwargs)
    model = ConvNeXt(**cfg)
    model.init_weights()
    return model.eval()


def test_state_dict_keys_and_shapes_are_mmcls() -> None:
    model = ConvNeXt(arch=dict(ARCH), out_indices=[0, 1])
    state = model.state_dict()
    assert sorted(state) == sorted(MMCLS_KEYS)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["downsample_layers.0.0.weight"] == (8, 3, 4, 4)
    assert shapes["downsample_layers.1.1.weight"] == (16, 8, 2, 2)
    assert shapes["stages.0.0.depthwise_conv.weight"] == (8, 1, 7, 7)
    assert shapes["stages.1.0.pointwise_conv1.weight"] == (64, 16)  # nn.Linear, mlp_ratio 4
    assert shapes["stages.1.0.gamma"] == (16,)
    assert isinstance(model.downsample_layers[1][0], LayerNorm2d) and model.norm1.eps == 1e-6
    assert MODELS.get("mmcls.ConvNeXt") is ConvNeXt and MODELS.get("ConvNeXt") is ConvNeXt


def test_tiny_is_mmcls_tiny() -> None:
    model = ConvNeXt(arch="tiny", out_indices=[0, 1, 2, 3], gap_before_final_norm=False)
    assert [len(s) for s in model.stages] == [3, 3, 9, 3]
    # the official ConvNeXt-T (28,589,128) less its classifier (768 * 1000 + 1000) and final norm
    # (1536), plus our four output norms norm0..norm3 (2 * (96 + 192 + 384 + 768))
    official_backbone = 28_589_128 - 769_000 - 1_536
    assert sum(p.numel() for p in model.parameters()) == official_backbone + 2_880
    outs = model(torch.randn(1, 3, 64, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 96, 16, 8), (1, 192, 8, 4), (1, 384, 4, 2), (1, 768, 2, 1)]


@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [
        ({}, (64, 48), [(8, 16, 12), (16, 8, 6)]),
        ({}, (70, 50), [(8, 17, 12), (16, 8, 6)]),  # floor, as the strided convolutions
        ({"out_indices": -1}, (32, 32), [(16, 4, 4)]),
        ({"gap_before_final_norm": True}, (32, 32), [(8,), (16,)]),
        ({"linear_pw_conv": False, "layer_scale_init_value": 0.0}, (32, 32), [(8, 8, 8), (16, 4, 4)]),
        (
            {
                "stem_patch_size": 2,
                "arch": {"depths": [1, 1, 1], "channels": [4, 8, 8]},
                "out_indices": [0, 2],
            },
            (32, 32),
            [(4, 16, 16), (8, 4, 4)],
        ),
    ],
)
def test_stage_shapes(kwargs: dict, size: tuple[int, int], expected: list[tuple[int, ...]]) -> None:
    outs = small_convnext(**kwargs)(torch.randn(2, 3, *size))
    assert [tuple(o.shape) for o in outs] == [(2, *e) for e in expected]
    assert all(o.is_contiguous() and torch.isfinite(o).all() for o in outs)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(KeyError, match="arch 'huge'"):
        ConvNeXt(arch="huge")
    with pytest.raises(ValueError, match="'depths' and 'channels'"):
        ConvNeXt(arch={"depths": [1, 1]})
    with pytest.raises(ValueError, match="same length"):
        ConvNeXt(arch={"depths": [1, 1], "channels": [8]})
    with pytest.raises(ValueError, match="out_indices"):
        ConvNeXt(arch=dict(ARCH), out_indices=[2])


def test_layer_norm_2d_is_layer_norm_over_channels() -> None:
    torch.manual_seed(0)
    norm = build_norm_layer(dict(type="LN2d", eps=1e-6), 6)[1]
    assert isinstance(norm, LayerNorm2d) and norm.eps == 1e-6
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected)
    manual = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(norm(x), manual * norm.weight[:, None, None] + norm.bias[:, None, None])
    with pytest.raises(ValueError, match=r"LayerNorm2d\(6\) takes \(N, 6, H, W\)"):
        norm(torch.randn(2, 5, 3, 3))


def test_linear_and_conv_pointwise_blocks_agree() -> None:
    """mmcls's two layouts of the pointwise convolutions give one function."""
    torch.manual_seed(0)
    linear = ConvNeXtBlock(8, layer_scale_init_value=0.5).eval()
    conv = ConvNeXtBlock(8, linear_pw_conv=False, layer_scale_init_value=0.5).eval()
    state = {
        k: v.view(*v.shape, 1, 1) if "pointwise" in k and k.endswith("weight") else v
        for k, v in linear.state_dict().items()
    }
    conv.load_state_dict(state)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(linear(x), conv(x))


def test_drop_path_frozen_stages_and_with_cp() -> None:
    model = small_convnext(drop_path_rate=0.2, frozen_stages=1).train()
    rates = [getattr(b.drop_path, "drop_prob", 0.0) for s in model.stages for b in s]
    torch.testing.assert_close(torch.tensor(rates), torch.tensor([0.0, 0.1, 0.2]))
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert not any(p.requires_grad for p in model.downsample_layers[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters()) and not model.stages[0].training
    plain, checkpointed = small_convnext(), small_convnext(with_cp=True)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    for a, b in zip(plain(x), checkpointed(x), strict=True):
        torch.testing.assert_close(a, b)


def test_default_init_is_mmcls() -> None:
    model = small_convnext(layer_scale_init_value=1.0)
    conv = model.stages[0][0].pointwise_conv1
    assert 0.015 < conv.weight.std() < 0.025 and (conv.bias == 0).all()
    assert (model.norm0.weight == 1).all() and (model.stages[1][0].gamma == 1).all()


def test_mmcls_checkpoint_through_pretrained_prefix(tmp_path: Path) -> None:
    """An mmcls classifier checkpoint (backbone.* and head.*), loaded as the MMRotate config does."""
    source = small_convnext()
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(10, 16)
    path = tmp_path / "convnext-cls.pth"
    torch.save({"meta": {"epoch": 300}, "state_dict": state}, path)
    loaded = ConvNeXt(
        arch=dict(ARCH),
        out_indices=[0, 1],
        gap_before_final_norm=False,
        init_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="backbone."),
    )
    loaded.init_weights()
    x = torch.randn(1, 3, 40, 32)
    with torch.no_grad():
        for a, b in zip(source(x), loaded.eval()(x), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_mmrotate_convnext_config_builds_without_mmcls(configs_dir: Path) -> None:
    assert PROVIDED_MODULES["mmcls.models"] == "rdet_models"
    assert import_custom_modules(["mmcls.models"]) == [rdet_models]
    cfg = Config.fromfile(
        configs_dir / "convnext" / "rotated_retinanet_obb_kld_stable_convnext_adamw_fpn_1x_dota_le90.py"
    )
    cfg.model.backbone.arch = "tiny"  # as in the file; only the checkpoint is left out
    cfg.model.backbone.init_cfg = None
    model = rdet_models.build_detector(cfg.model)
    assert type(model.backbone) is ConvNeXt
    assert model.backbone.out_indices == [0, 1, 2, 3] and not model.backbone.gap_before_final_norm
    assert model.backbone.stages[3][2].gamma[0] == 1.0  # layer_scale_init_value=1.0
    assert model.backbone.stages[3][2].drop_path.drop_prob == pytest.approx(0.4)
