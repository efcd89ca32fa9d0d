"""Swin Transformer (MMDetection 2.x's ``SwinTransformer``), with its arguments and module names:
``patch_embed.projection``, ``stages.N.blocks.M.attn.w_msa.qkv``, ``...w_msa.relative_position_bias_table``,
``...ffn.layers.0.0``, ``stages.N.downsample.reduction``, ``norm0`` .. ``norm3``, so that
MMDetection's and MMRotate's Swin checkpoints load unchanged, and the official (microsoft)
checkpoints load through :func:`swin_converter` (``convert_weights=True``).

Tokens are (N, H * W, C); a stage's output is returned as (N, C, H, W).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from rdet_models.init import BaseModule, ModuleList
from rdet_models.layers.conv_module import build_norm_layer
from rdet_models.layers.transformer import FFN, PatchEmbed, PatchMerging, to_2tuple
from rdet_models.layers.window_attention import ShiftWindowMSA, WindowMSA
from rdet_models.registry import MODELS

__all__ = ["SwinBlock", "SwinBlockSequence", "SwinTransformer", "swin_converter"]


class SwinBlock(BaseModule):
    """``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``; every second block of a stage shifts its
    windows by ``window_size // 2``. Module names: ``norm1``, ``attn``, ``norm2``, ``ffn``.

    Forward: (N, H * W, C), (H, W) -> (N, H * W, C).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        window_size: int = 7,
        shift: bool = False,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(
            embed_dims,
            num_heads,
            window_size,
            shift_size=window_size // 2 if shift else 0,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=drop_rate,
            dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
        )
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
            act_cfg=act_cfg,
            add_identity=True,
        )

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.norm1(x), hw_shape)
            return self.ffn(self.norm2(x), identity=x)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)


class SwinBlockSequence(BaseModule):
    """One Swin stage: ``blocks`` (alternately unshifted and shifted), then an optional
    ``downsample`` (:class:`PatchMerging`).

    Forward: (N, H * W, C), (H, W) -> (downsampled tokens, their (H', W'), the stage's tokens
    before downsampling, (H, W)); without ``downsample`` the first pair repeats the second.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        depth: int,
        window_size: int = 7,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float | Sequence[float] = 0.0,
        downsample: nn.Module | None = None,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        rates = list(drop_path_rate) if isinstance(drop_path_rate, Sequence) else [drop_path_rate] * depth
        if len(rates) != depth:
            raise ValueError(f"drop_path_rate has {len(rates)} entries for a stage of depth {depth}")
        self.blocks = ModuleList(
            [
                SwinBlock(
                    embed_dims,
                    num_heads,
                    feedforward_channels,
                    window_size=window_size,
                    shift=i % 2 == 1,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=rates[i],
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                )
                for i in range(depth)
            ]
        )
        self.downsample = downsample

    def forward(
        self, x: torch.Tensor, hw_shape: tuple[int, int]
    ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor, tuple[int, int]]:
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw_shape = self.downsample(x, hw_shape)
        return x_down, down_hw_shape, x, hw_shape


def _unfold_order(v: torch.Tensor) -> torch.Tensor:
    """The official PatchMerging's concatenation order (x0, x1, x2, x3 = (0,0), (1,0), (0,1), (1,1)
    pixel by pixel) -> ``nn.Unfold``'s (channel-major, kernel positions (0,0), (0,1), (1,0), (1,1))
    along the last axis of a reduction weight (out, 4C) or a norm parameter (4C,)."""
    c4 = v.shape[-1]
    v = v.reshape(*v.shape[:-1], 4, c4 // 4)[..., [0, 2, 1, 3], :]
    return v.transpose(-1, -2).reshape(*v.shape[:-2], c4)


def swin_converter(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official Swin checkpoint's state dict (microsoft/Swin-Transformer names) -> ours
    (MMDetection 2.x's ``swin_converter``, without its ``backbone.`` prefix).

    ``layers`` -> ``stages``, ``attn.`` -> ``attn.w_msa.``, ``mlp.fc1`` / ``mlp.fc2`` ->
    ``ffn.layers.0.0`` / ``ffn.layers.1``, ``patch_embed.proj`` -> ``patch_embed.projection``,
    PatchMerging's reduction and norm reordered for ``nn.Unfold``. The classifier (``head``),
    its final ``norm`` and the precomputed ``attn_mask`` buffers have no counterpart and are
    dropped (MMDetection keeps the last two and ignores them at load time).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(("head", "norm.")) or key.endswith("attn_mask"):
            continue
        if key.startswith("layers"):
            if "attn." in key:
                key = key.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in key:
                key = key.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in key:
                key = key.replace("mlp.fc2.", "ffn.layers.1.")
            elif "mlp." in key:
                key = key.replace("mlp.", "ffn.")
            elif "downsample" in key and ("reduction." in key or "norm." in key):
                value = _unfold_order(value)
            key = key.replace("layers", "stages", 1)
        elif key.startswith("patch_embed") and "proj" in key:
            key = key.replace("proj", "projection")
        out[key] = value
    return out


@MODELS.register_module()
class SwinTransformer(BaseModule):
    """Swin Transformer backbone, MMDetection 2.x's arguments and module names.

    Args:
        pretrain_img_size: image size of pretraining (sizes ``absolute_pos_embed``).
        embed_dims: channels of stage 0; stage i has ``embed_dims * 2**i``.
        patch_size: the patch embedding's kernel and stride (must equal ``strides[0]``).
        window_size: attention window, in tokens.
        mlp_ratio: FFN hidden channels / channels.
        depths / num_heads: blocks and attention heads per stage (same length).
        strides: patch embedding stride, then each PatchMerging's.
        out_indices: stages whose (normed) outputs are returned.
        patch_norm: LayerNorm after the patch embedding and in PatchMerging.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        use_abs_pos_embed: add a learned absolute position embedding after the patch embedding.
        convert_weights: the ``Pretrained`` checkpoint is an official one (see :func:`swin_converter`).
        frozen_stages: freeze the patch embedding and stages 0 .. frozen_stages - 1; -1 none.
        init_cfg: None (truncated-normal init) or ``dict(type='Pretrained', checkpoint=...)``.

    Forward: (N, 3, H, W) -> tuple of (N, embed_dims * 2**i, ceil(H / (4 * 2**i)),
    ceil(W / (4 * 2**i))) for i in out_indices (with the default strides).
    """

    def __init__(
        self,
        pretrain_img_size: int | tuple[int, int] = 224,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int = 4,
        window_size: int = 7,
        mlp_ratio: int | float = 4,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        strides: Sequence[int] = (4, 2, 2, 2),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        patch_norm: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = False,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        pretrained: str | None = None,
        convert_weights: bool = False,
        frozen_stages: int = -1,
        init_cfg: dict | None = None,
    ) -> None:
        if pretrained is not None and init_cfg is not None:
            raise ValueError("init_cfg and pretrained cannot be set at the same time")
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise TypeError(f"pretrained must be a str or None, got {type(pretrained).__name__}")
            warnings.warn(
                "SwinTransformer(pretrained=...) is deprecated; use init_cfg",
                DeprecationWarning,
                stacklevel=2,
            )
            init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        if init_cfg is not None and (not isinstance(init_cfg, dict) or init_cfg.get("type") != "Pretrained"):
            raise ValueError(
                f"SwinTransformer init_cfg must be None or dict(type='Pretrained', checkpoint=...), got {init_cfg!r}"
            )
        super().__init__(init_cfg)
        depths, num_heads, strides = tuple(depths), tuple(num_heads), tuple(strides)
        num_stages = len(depths)
        if len(num_heads) != num_stages or len(strides) < num_stages:
            raise ValueError(
                f"depths {depths}, num_heads {num_heads} and strides {strides} need one entry per stage"
            )
        if strides[0] != patch_size:
            raise ValueError(
                f"strides[0] ({strides[0]}) must equal patch_size ({patch_size}): non-overlapping patches"
            )
        if not out_indices or not all(0 <= i < num_stages for i in out_indices):
            raise ValueError(f"out_indices {tuple(out_indices)} must be in [0, {num_stages})")
        self.out_indices = tuple(out_indices)
        self.convert_weights, self.frozen_stages = convert_weights, frozen_stages
        self.use_abs_pos_embed = use_abs_pos_embed
        pretrain_size = to_2tuple(
            pretrain_img_size[0]
            if isinstance(pretrain_img_size, (tuple, list)) and len(pretrain_img_size) == 1
            else pretrain_img_size,
            "pretrain_img_size",
        )
        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=embed_dims,
            conv_type="Conv2d",
            kernel_size=patch_size,
            stride=strides[0],
            norm_cfg=norm_cfg if patch_norm else None,
        )
        if use_abs_pos_embed:
            rows, cols = pretrain_size[0] // patch_size, pretrain_size[1] // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros((1, embed_dims, rows, cols)))
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = ModuleList()
        channels = embed_dims
        for i in range(num_stages):
            downsample = None
            if i < num_stages - 1:
                downsample = PatchMerging(
                    channels, 2 * channels, stride=strides[i + 1], norm_cfg=norm_cfg if patch_norm else None
                )
            self.stages.append(
                SwinBlockSequence(
                    embed_dims=channels,
                    num_heads=num_heads[i],
                    feedforward_channels=int(mlp_ratio * channels),
                    depth=depths[i],
                    window_size=window_size,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample=downsample,
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                )
            )
            if downsample is not None:
                channels = downsample.out_channels
        self.num_features = [int(embed_dims * 2**i) for i in range(num_stages)]
        for i in self.out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])

    def train(self, mode: bool = True) -> SwinTransformer:
        """Train mode, keeping the frozen parts in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for p in self.patch_embed.parameters():
                p.requires_grad = False
            if self.use_abs_pos_embed:
                self.absolute_pos_embed.requires_grad = False
            self.drop_after_pos.eval()
        for i in range(1, self.frozen_stages + 1):
            parts = [self.stages[i - 1]]
            if (i - 1) in self.out_indices:
                parts.append(getattr(self, f"norm{i - 1}"))
            for m in parts:
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False

    def init_weights(self) -> None:
        """Without ``init_cfg``: truncated normal (std 0.02) Linear weights and relative position
        bias tables, zero biases, unit LayerNorms. With ``Pretrained``: see :meth:`load_pretrained`."""
        if self.init_cfg is None:
            if self.use_abs_pos_embed:
                nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, WindowMSA):
                    m.init_weights()
        else:
            self.load_pretrained(self.init_cfg["checkpoint"])
        self._is_init = True

    def load_pretrained(self, checkpoint: str | os.PathLike | dict[str, Any]) -> None:
        """Load a Swin checkpoint (a file / URL, or an unpickled checkpoint) as MMDetection does:
        the official names converted when ``convert_weights``; a detector's ``backbone.*`` keys
        taken (unprefixed) when there are any, else all keys; ``absolute_pos_embed`` reshaped from
        (1, L, C); relative position bias tables resized bicubically to this window size. Keys
        that do not fit are reported in one warning; a checkpoint of which nothing fits raises
        :class:`rdet_models.checkpoint.CheckpointMismatchError`."""
        from rdet_models.checkpoint import extract_state_dict, load_state_dict, read_checkpoint

        name = "checkpoint" if isinstance(checkpoint, dict) else os.fspath(checkpoint)
        raw = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(name)
        state = extract_state_dict(raw, name)
        if self.convert_weights:
            state = swin_converter(state)
        if any(k.startswith("backbone.") for k in state):
            state = {k[9:]: v for k, v in state.items() if k.startswith("backbone.")}
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        own = self.state_dict()
        pos = state.get("absolute_pos_embed")
        if pos is not None and "absolute_pos_embed" in own and pos.ndim == 3:
            n2, c2, h, w = own["absolute_pos_embed"].shape
            if pos.shape == (n2, h * w, c2):
                state["absolute_pos_embed"] = pos.view(n2, h, w, c2).permute(0, 3, 1, 2).contiguous()
        for key in [k for k in state if k.endswith("relative_position_bias_table") and k in own]:
            table, current = state[key], own[key]
            (l1, heads1), (l2, heads2) = table.shape, current.shape
            if heads1 == heads2 and l1 != l2:
                s1, s2 = round(l1**0.5), round(l2**0.5)
                resized = F.interpolate(
                    table.permute(1, 0).reshape(1, heads1, s1, s1).float(), size=(s2, s2), mode="bicubic"
                )
                state[key] = resized.view(heads2, l2).permute(1, 0).contiguous().to(table.dtype)
                index_key = key.replace("relative_position_bias_table", "relative_position_index")
                if index_key in state:  # a buffer of the window size: ours, recomputed
                    state[index_key] = own[index_key]
        load_state_dict(self, state, strict=False, source=name)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            pos = self.absolute_pos_embed
            if tuple(pos.shape[2:]) != tuple(hw_shape):
                pos = F.interpolate(pos, size=hw_shape, mode="bicubic", align_corners=False)
            x = x + pos.flatten(2).transpose(1, 2)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                outs.append(
                    out.view(-1, *out_hw_shape, self.num_features[i]).permute(0, 3, 1, 2).contiguous()
                )
        return tuple(outs)
