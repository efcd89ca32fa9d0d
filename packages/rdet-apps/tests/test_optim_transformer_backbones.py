"""The optimizer section of MMRotate's Swin and ConvNeXt configs (AdamW, weight_decay 0.05, no decay
for ``absolute_pos_embed``, ``relative_position_bias_table`` and ``norm``) on rdet's backbones: the
custom keys match MMDetection's parameter names as MMCV's DefaultOptimizerConstructor matches them
(substring of the full name, longest key first)."""

from __future__ import annotations

import pytest
import torch

from rdet_apps.engine.optim import build_optimizer, param_groups
from rdet_core import Config
from rdet_models.backbones import ConvNeXt, SwinTransformer


@pytest.fixture(scope="module")
def swin_optimizer_cfg(shared_dir) -> dict:
    path = (
        shared_dir
        / "configs"
        / "mmrotate-0.3.4"
        / "oriented_rcnn"
        / "oriented_rcnn_swin_tiny_fpn_1x_dota_le90.py"
    )
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return Config.fromfile(path).optimizer.to_dict()


def decays(model: torch.nn.Module, cfg: dict) -> dict[str, float]:
    groups = param_groups(model, cfg["lr"], cfg["weight_decay"], cfg["paramwise_cfg"])
    assert all(g["lr"] == cfg["lr"] for g in groups)
    return {g["name"]: g["weight_decay"] for g in groups}


def test_swin_config_optimizer(swin_optimizer_cfg: dict) -> None:
    cfg = swin_optimizer_cfg
    assert cfg["type"] == "AdamW" and cfg["weight_decay"] == 0.05
    model = SwinTransformer(
        embed_dims=8,
        depths=(2, 1),
        num_heads=(1, 2),
        strides=(4, 2),
        out_indices=(0, 1),
        use_abs_pos_embed=True,
    )
    wd = decays(model, cfg)
    no_decay = {k for k, v in wd.items() if v == 0.0}
    assert no_decay == {
        k for k in wd if "norm" in k or k.endswith(("relative_position_bias_table", "absolute_pos_embed"))
    }
    assert {
        "absolute_pos_embed",
        "norm0.weight",
        "patch_embed.norm.bias",
        "stages.0.downsample.norm.weight",
        "stages.1.blocks.0.attn.w_msa.relative_position_bias_table",
        "stages.0.blocks.1.norm2.weight",
    } <= no_decay
    assert (
        wd["stages.0.blocks.0.attn.w_msa.qkv.weight"] == 0.05
        and wd["stages.0.blocks.0.ffn.layers.1.bias"] == 0.05
    )
    assert wd["patch_embed.projection.weight"] == 0.05
    optimizer = build_optimizer(model, cfg)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.9, 0.999)
    assert len(optimizer.param_groups) == len(wd)


def test_convnext_config_optimizer(swin_optimizer_cfg: dict) -> None:
    """The ConvNeXt config inherits the same section (kld/..._adamw_...): by name, the blocks' and the
    outputs' ``norm`` skip decay; the LayerNorm2d inside downsample_layers (``downsample_layers.1.0``)
    and the layer scale ``gamma`` decay, as under MMCV."""
    model = ConvNeXt(
        arch={"depths": [1, 1], "channels": [8, 16]}, out_indices=[0, 1], gap_before_final_norm=False
    )
    wd = decays(model, swin_optimizer_cfg)
    assert wd["stages.0.0.norm.weight"] == wd["norm1.bias"] == 0.0
    assert wd["downsample_layers.1.0.weight"] == wd["stages.1.0.gamma"] == 0.05
