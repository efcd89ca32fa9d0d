"""SwinTransformer: MMDetection 2.x's module names and shapes, shifted-window attention against a
direct masked attention over the whole map, the official-checkpoint conversion against the
official PatchMerging, and checkpoint round trips (without MMDetection: its names are written out)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rdet_models.backbones.swin import SwinTransformer, swin_converter
from rdet_models.checkpoint import CheckpointMismatchError, load_state_dict
from rdet_models.layers import PatchMerging
from rdet_models.layers.window_attention import MASK_VALUE, ShiftWindowMSA, shifted_window_mask
from rdet_models.registry import MODELS

TINY = dict(embed_dims=8, depths=(2, 1), num_heads=(1, 2), strides=(4, 2), window_size=3, out_indices=(0, 1))


def small_swin(**kwargs: object) -> SwinTransformer:
    torch.manual_seed(0)
    cfg = dict(embed_dims=24, depths=(1, 2, 1, 1), num_heads=(1, 2, 2, 4), window_size=4, drop_path_rate=0.0)
    cfg.update(kwargs)
    model = SwinTransformer(**cfg)
    model.init_weights()
    return model.eval()


# -- names ------------------------------------------------------------------------------------

#: MMDetection 2.28's state-dict keys of SwinTransformer(**TINY), written from mmdet/models/backbones/
#: swin.py, mmdet/models/utils/transformer.py (PatchEmbed, PatchMerging) and mmcv 1.7's FFN.
BLOCK_KEYS = [
    "norm1.weight",
    "norm1.bias",
    "attn.w_msa.relative_position_bias_table",
    "attn.w_msa.relative_position_index",
    "attn.w_msa.qkv.weight",
    "attn.w_msa.qkv.bias",
    "attn.w_msa.proj.weight",
    "attn.w_msa.proj.bias",
    "norm2.weight",
    "norm2.bias",
    "ffn.layers.0.0.weight",
    "ffn.layers.0.0.bias",
    "ffn.layers.1.weight",
    "ffn.layers.1.bias",
]
MMDET_KEYS = (
    [
        "patch_embed.projection.weight",
        "patch_embed.projection.bias",
        "patch_embed.norm.weight",
        "patch_embed.norm.bias",
    ]
    + [f"stages.0.blocks.{i}.{k}" for i in range(2) for k in BLOCK_KEYS]
    + [
        "stages.0.downsample.norm.weight",
        "stages.0.downsample.norm.bias",
        "stages.0.downsample.reduction.weight",
    ]
    + [f"stages.1.blocks.0.{k}" for k in BLOCK_KEYS]
    + ["norm0.weight", "norm0.bias", "norm1.weight", "norm1.bias"]
)


def test_state_dict_keys_and_shapes_are_mmdetections() -> None:
    state = SwinTransformer(**TINY).state_dict()
    assert list(state) == MMDET_KEYS
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["patch_embed.projection.weight"] == (8, 3, 4, 4)
    assert shapes["stages.0.blocks.1.attn.w_msa.relative_position_bias_table"] == (25, 1)  # (2*3-1)**2
    assert shapes["stages.1.blocks.0.attn.w_msa.relative_position_index"] == (9, 9)
    assert shapes["stages.0.blocks.0.ffn.layers.0.0.weight"] == (32, 8)  # mlp_ratio 4
    assert shapes["stages.0.downsample.norm.weight"] == (32,)  # 2x2x8 unfolded
    assert shapes["stages.0.downsample.reduction.weight"] == (16, 32)
    assert "stages.0.downsample.reduction.bias" not in state
    assert MODELS.get("SwinTransformer") is SwinTransformer


def test_relative_position_index_is_mmdetections() -> None:
    """MMDetection's double_step_seq construction, written out: index[i, j] = (dy + Wh - 1) *
    (2 Ww - 1) + dx + Ww - 1 for tokens i, j of a row-major window."""
    wh, ww = 3, 4
    seq1 = torch.arange(0, (2 * ww - 1) * wh, 2 * ww - 1)
    seq2 = torch.arange(0, ww)
    coords = (seq1[:, None] + seq2[None, :]).reshape(1, -1)
    expected = (coords + coords.T).flip(1)
    from rdet_models.layers.window_attention import WindowMSA

    assert torch.equal(WindowMSA(8, 2, (wh, ww)).relative_position_index, expected)


# -- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [
        ({}, (64, 96), [(24, 16, 24), (48, 8, 12), (96, 4, 6), (192, 2, 3)]),
        ({}, (50, 70), [(24, 13, 18), (48, 7, 9), (96, 4, 5), (192, 2, 3)]),  # padded: ceil
        ({"out_indices": (1, 3)}, (32, 32), [(48, 4, 4), (192, 1, 1)]),
        (
            {"window_size": 7, "patch_norm": False},
            (40, 56),
            [(24, 10, 14), (48, 5, 7), (96, 3, 4), (192, 2, 2)],
        ),
        (
            {"depths": (1, 1, 1), "num_heads": (2, 2, 4), "strides": (4, 2, 2), "out_indices": (0, 1, 2)},
            (36, 28),
            [(24, 9, 7), (48, 5, 4), (96, 3, 2)],
        ),
        (
            {"patch_size": 2, "strides": (2, 2, 2, 2), "use_abs_pos_embed": True, "pretrain_img_size": 32},
            (24, 40),
            [(24, 12, 20), (48, 6, 10), (96, 3, 5), (192, 2, 3)],
        ),
    ],
)
def test_stage_shapes(kwargs: dict, size: tuple[int, int], expected: list[tuple[int, int, int]]) -> None:
    model = small_swin(**kwargs)
    outs = model(torch.randn(2, 3, *size))
    assert [tuple(o.shape) for o in outs] == [(2, *e) for e in expected]
    assert all(o.is_contiguous() and torch.isfinite(o).all() for o in outs)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        SwinTransformer(embed_dims=8, depths=(1, 1), num_heads=(1,), strides=(4, 2))
    with pytest.raises(ValueError, match=r"strides\[0\].*patch_size"):
        SwinTransformer(
            embed_dims=8, depths=(1,), num_heads=(1,), strides=(2,), patch_size=4, out_indices=(0,)
        )
    with pytest.raises(ValueError, match="embed_dims 10 is not a multiple of num_heads 3"):
        SwinTransformer(embed_dims=10, depths=(1,), num_heads=(3,), strides=(4,), out_indices=(0,))
    with pytest.raises(ValueError, match="out_indices"):
        SwinTransformer(**{**TINY, "out_indices": (0, 2)})
    with pytest.raises(ValueError, match="init_cfg"):
        SwinTransformer(**TINY, init_cfg=dict(type="Kaiming", layer="Conv2d"))
    with pytest.raises(ValueError, match="cannot be set at the same time"):
        SwinTransformer(**TINY, pretrained="x.pth", init_cfg=dict(type="Pretrained", checkpoint="x.pth"))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        SwinTransformer(**TINY)(torch.randn(3, 32, 32))


# -- the attention ----------------------------------------------------------------------------


def direct_window_attention(attn: ShiftWindowMSA, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """What ShiftWindowMSA computes, without windows: one masked attention over the whole
    zero-padded, cyclically shifted map. Token pairs attend when they fall into the same shifted
    window and the same region of the shifted map (else -inf); the bias is the relative position
    bias of their offset in the shifted map."""
    w_msa, ws, shift = attn.w_msa, attn.window_size, attn.shift_size
    n, _, c = x.shape
    h, w = hw
    hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
    grid = F.pad(x.view(n, h, w, c), (0, 0, 0, wp - w, 0, hp - h))
    ys, xs = torch.meshgrid(torch.arange(hp), torch.arange(wp), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()  # positions in the shifted map; token = grid[(y+s) % hp, (x+s) % wp]
    tokens = grid[:, (ys + shift) % hp, (xs + shift) % wp]  # (n, hp*wp, c)

    def region(v: torch.Tensor, size: int) -> torch.Tensor:
        return (v >= size - ws).long() + (v >= size - shift).long() if shift else torch.zeros_like(v)

    window = (ys // ws) * (wp // ws) + xs // ws
    label = region(ys, hp) * 3 + region(xs, wp)
    allowed = (window[:, None] == window[None, :]) & (label[:, None] == label[None, :])
    dy, dx = ys[:, None] - ys[None, :], xs[:, None] - xs[None, :]
    table_index = (dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)
    bias = w_msa.relative_position_bias_table[table_index.clamp(0, (2 * ws - 1) ** 2 - 1)].permute(2, 0, 1)
    heads = w_msa.num_heads
    qkv = w_msa.qkv(tokens).view(n, -1, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    logits = (qkv[0] * w_msa.scale) @ qkv[1].transpose(-1, -2) + bias
    logits = logits.masked_fill(~allowed, float("-inf"))
    out = (logits.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(n, -1, c)
    out = w_msa.proj(out).view(n, hp, wp, c)
    unshifted = torch.roll(out, shifts=(shift, shift), dims=(1, 2))
    return unshifted[:, :h, :w].reshape(n, h * w, c)


@pytest.mark.parametrize(("hw", "shift"), [((8, 8), 0), ((8, 8), 2), ((7, 10), 2), ((5, 9), 1), ((4, 4), 3)])
def test_shifted_window_attention_equals_direct_masked_attention(hw: tuple[int, int], shift: int) -> None:
    torch.manual_seed(1)
    attn = ShiftWindowMSA(embed_dims=12, num_heads=3, window_size=4, shift_size=shift).eval()
    torch.nn.init.normal_(attn.w_msa.relative_position_bias_table, std=0.5)
    x = torch.randn(2, hw[0] * hw[1], 12, dtype=torch.float64)
    attn = attn.double()
    with torch.no_grad():
        torch.testing.assert_close(attn(x, hw), direct_window_attention(attn, x, hw), rtol=1e-9, atol=1e-9)


def test_shifted_window_mask_regions() -> None:
    """8x8 map, windows of 4 shifted by 2: the top-left window is one region (all 0); the bottom-right
    one mixes 4 regions of 4 tokens each, so each token sees 4 of 16 tokens."""
    mask = shifted_window_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()
    assert ((mask[3] == 0).sum(-1) == 4).all() and set(mask.unique().tolist()) == {0.0, MASK_VALUE}
    assert ((mask[1] == 0).sum(-1) == 8).all()  # top-right: 2 regions side by side


def test_drop_path_and_with_cp() -> None:
    model = small_swin(drop_path_rate=0.3)
    rates = [b.attn.drop.drop_prob for s in model.stages for b in s.blocks]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.3, 5))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
    checkpointed = small_swin(drop_path_rate=0.3, with_cp=True)
    x.requires_grad_(True)
    outs = checkpointed(x)  # eval: no drop path, same numbers through checkpointing
    for a, b in zip(plain, outs, strict=True):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in outs).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_frozen_stages() -> None:
    model = small_swin(frozen_stages=2).train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for s in model.stages[:2] for p in s.parameters())
    assert not model.norm0.weight.requires_grad and not model.norm1.weight.requires_grad
    assert all(p.requires_grad for p in model.stages[2].parameters()) and model.norm2.weight.requires_grad
    assert not model.stages[1].training and model.stages[2].training


def test_init_weights_without_checkpoint() -> None:
    """Truncated normal (std 0.02) Linear weights, unit LayerNorms, and relative position bias tables
    drawn like the official Swin. MMDetection 2.28 leaves the tables at zero: its
    SwinTransformer.init_weights does not call WindowMSA.init_weights."""
    model = small_swin()
    qkv = model.stages[0].blocks[0].attn.w_msa.qkv
    assert 0.015 < qkv.weight.std() < 0.025 and (qkv.bias == 0).all()  # cut at +-2 (mmcv), not 2 std
    assert (model.norm0.weight == 1).all() and (model.norm0.bias == 0).all()
    table = model.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert 0.01 < table.std() < 0.03


# -- checkpoints ------------------------------------------------------------------------------


def test_detector_checkpoint_round_trip(tmp_path: Path) -> None:
    """An MMDetection-style checkpoint (``backbone.*`` among other keys) through init_cfg Pretrained."""
    source = small_swin()
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["neck.lateral_convs.0.conv.weight"] = torch.zeros(1)
    path = tmp_path / "det.pth"
    torch.save({"meta": {}, "state_dict": state}, path)
    loaded = SwinTransformer(
        embed_dims=24,
        depths=(1, 2, 1, 1),
        num_heads=(1, 2, 2, 4),
        window_size=4,
        init_cfg=dict(type="Pretrained", checkpoint=str(path)),
    )
    loaded.init_weights()
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        for a, b in zip(source(x), loaded.eval()(x), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # strict loading of the plain state dict into a fresh model (rdet test / init_detector)
    fresh = small_swin(depths=(1, 2, 1, 1))
    load_state_dict(fresh, source.state_dict(), strict=True)
    with pytest.raises(CheckpointMismatchError, match="not one key matches"):
        small_swin().load_pretrained({"state_dict": {"something.else": torch.zeros(1)}})


def to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our names -> microsoft/Swin-Transformer's (the inverse of swin_converter, written here
    independently), PatchMerging's parameters back in the official x0, x1, x2, x3 order."""

    def official_order(v: torch.Tensor) -> torch.Tensor:  # unfold (c, k) channel-major -> (k', c)
        c4 = v.shape[-1]
        v = v.reshape(*v.shape[:-1], c4 // 4, 4).transpose(-1, -2)  # (..., k, c), k: (0,0),(0,1),(1,0),(1,1)
        return v[..., [0, 2, 1, 3], :].reshape(*v.shape[:-2], c4)  # x0=(0,0), x1=(1,0), x2=(0,1), x3=(1,1)

    out = {}
    for k, v in state.items():
        if k.startswith("norm"):  # norm0..3: the detection outputs' norms, not in the classifier
            continue
        if "downsample" in k:
            v = official_order(v)
        k = k.replace("stages", "layers").replace("attn.w_msa.", "attn.")
        k = k.replace("ffn.layers.0.0.", "mlp.fc1.").replace("ffn.layers.1.", "mlp.fc2.")
        out[k.replace("patch_embed.projection", "patch_embed.proj")] = v
    out.update({"norm.weight": torch.ones(8), "norm.bias": torch.zeros(8), "head.weight": torch.zeros(10, 8)})
    out["layers.0.blocks.1.attn_mask"] = torch.zeros(4, 9, 9)
    return out


def official_patch_merging(
    x: torch.Tensor, hw: tuple[int, int], norm: torch.nn.LayerNorm, reduction: torch.nn.Linear
) -> torch.Tensor:
    """microsoft/Swin-Transformer's PatchMerging.forward (even H and W)."""
    n, _, c = x.shape
    x = x.view(n, hw[0], hw[1], c)
    parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
    return reduction(norm(torch.cat(parts, -1).view(n, -1, 4 * c)))


def test_swin_converter_matches_the_official_patch_merging() -> None:
    torch.manual_seed(0)
    ours = PatchMerging(6, 12)
    torch.nn.init.normal_(ours.norm.weight)
    torch.nn.init.normal_(ours.norm.bias)
    norm, reduction = torch.nn.LayerNorm(24), torch.nn.Linear(24, 12, bias=False)
    with torch.no_grad():  # random official weights, converted to ours
        for p in (*norm.parameters(), *reduction.parameters()):
            p.normal_()
        official = {
            "layers.0.downsample.norm.weight": norm.weight,
            "layers.0.downsample.norm.bias": norm.bias,
            "layers.0.downsample.reduction.weight": reduction.weight,
        }
        converted = swin_converter(official)
        ours.norm.weight.copy_(converted["stages.0.downsample.norm.weight"])
        ours.norm.bias.copy_(converted["stages.0.downsample.norm.bias"])
        ours.reduction.weight.copy_(converted["stages.0.downsample.reduction.weight"])
        x = torch.randn(2, 6 * 8, 6)
        out, hw = ours(x, (6, 8))
        assert hw == (3, 4)
        torch.testing.assert_close(out, official_patch_merging(x, (6, 8), norm, reduction))
        # and the test's own inverse conversion undoes it
        back = to_official(converted)
        torch.testing.assert_close(back["layers.0.downsample.reduction.weight"], reduction.weight)


def test_official_checkpoint_loads_with_convert_weights(tmp_path: Path) -> None:
    source = SwinTransformer(**TINY)
    source.init_weights()
    path = tmp_path / "swin_official.pth"
    torch.save({"model": to_official(source.state_dict())}, path)
    with pytest.warns(UserWarning, match=r"4 missing \(norm0.weight"):  # only the output norms are new
        loaded = SwinTransformer(
            **TINY, convert_weights=True, init_cfg=dict(type="Pretrained", checkpoint=str(path))
        )
        loaded.init_weights()
    for k, v in source.state_dict().items():
        if not k.startswith("norm"):
            torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
    # without convert_weights only the patch embedding's norm fits: almost nothing, an error
    bare = SwinTransformer(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(
        CheckpointMismatchError,
        match=r"almost nothing fits.*loaded 2 keys; .* missing \(patch_embed.projection.weight",
    ):
        bare.init_weights()


def test_pretrained_window_size_change_resizes_the_bias_tables(tmp_path: Path) -> None:
    source = SwinTransformer(**TINY)
    source.init_weights()
    path = tmp_path / "w3.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    bigger = SwinTransformer(
        **{**TINY, "window_size": 5}, init_cfg=dict(type="Pretrained", checkpoint=str(path))
    )
    index_before = bigger.stages[0].blocks[0].attn.w_msa.relative_position_index.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: everything fits after resizing
        bigger.init_weights()
    w_msa = bigger.stages[0].blocks[0].attn.w_msa
    assert w_msa.relative_position_bias_table.shape == (81, 1)
    assert torch.equal(w_msa.relative_position_index, index_before)
    table = source.stages[0].blocks[0].attn.w_msa.relative_position_bias_table.detach()
    expected = F.interpolate(table.T.reshape(1, 1, 5, 5), size=(9, 9), mode="bicubic").reshape(1, 81).T
    torch.testing.assert_close(w_msa.relative_position_bias_table.detach(), expected)


def test_absolute_pos_embed_from_official_layout(tmp_path: Path) -> None:
    """Official checkpoints hold absolute_pos_embed as (1, L, C); it is reshaped to (1, C, H, W)."""
    kwargs = dict(**TINY, use_abs_pos_embed=True, pretrain_img_size=32)
    source = SwinTransformer(**kwargs)
    source.init_weights()
    state = source.state_dict()
    pos = state["absolute_pos_embed"]  # (1, 8, 8, 8)
    state["absolute_pos_embed"] = pos.flatten(2).transpose(1, 2)  # (1, 64, 8)
    path = tmp_path / "abs.pth"
    torch.save(state, path)
    loaded = SwinTransformer(**kwargs, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    loaded.init_weights()
    torch.testing.assert_close(loaded.absolute_pos_embed.detach(), pos)
