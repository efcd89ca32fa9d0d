"""Window multi-head self-attention of the Swin Transformer, with MMDetection 2.x's module names
(``w_msa.qkv``, ``w_msa.relative_position_bias_table``, ``w_msa.proj``): plain windows
(:class:`WindowMSA`) and cyclically shifted, masked ones (:class:`ShiftWindowMSA`).

Tokens are (N, H * W, C) in row-major order; windows are ``window_size`` x ``window_size`` tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rdet_models.init import BaseModule
from rdet_models.layers.transformer import build_dropout, to_2tuple

__all__ = [
    "MASK_VALUE",
    "ShiftWindowMSA",
    "WindowMSA",
    "shifted_window_mask",
    "window_partition",
    "window_reverse",
]

#: the logit added between tokens of one shifted window that come from different image regions
#: (MMDetection's value; exp(-100) is 4e-44, i.e. no attention)
MASK_VALUE = -100.0


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(N, H, W, C) with H and W multiples of ``window_size`` -> (N * nW, ws * ws, C), windows in
    row-major order per image, tokens row-major within a window."""
    n, h, w, c = x.shape
    x = x.view(n, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (N * nW, ws * ws, C) -> (N, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window_size, w // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def shifted_window_mask(
    h_pad: int, w_pad: int, window_size: int, shift_size: int, device: torch.device | None = None
) -> torch.Tensor:
    """The additive attention mask of shifted windows: (nW, ws * ws, ws * ws), 0 between tokens of
    the same image region and :data:`MASK_VALUE` between tokens that the cyclic shift brought
    together from different regions (the regions: ``[0, -ws)``, ``[-ws, -shift)``, ``[-shift, end)``
    along each axis of the shifted (H_pad, W_pad) grid)."""

    def labels(size: int) -> torch.Tensor:
        idx = torch.arange(size, device=device)
        return (idx >= size - window_size).long() + (idx >= size - shift_size).long()

    region = labels(h_pad)[:, None] * 3 + labels(w_pad)[None, :]  # (H_pad, W_pad)
    windows = window_partition(region[None, :, :, None], window_size)[..., 0]  # (nW, ws*ws)
    different = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(different.shape, device=device).masked_fill(different, MASK_VALUE)


class WindowMSA(BaseModule):
    """Multi-head self-attention inside windows, with a learned relative position bias.

    Args:
        embed_dims: channels C (a multiple of ``num_heads``).
        window_size: (Wh, Ww) tokens.
        qk_scale: the logit scale, default ``head_dims ** -0.5``.

    Forward: x (B, Wh * Ww, C) (B = windows x images), mask None or (nW, Wh * Ww, Wh * Ww) added
    to the logits of every image's nW windows -> (B, Wh * Ww, C).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: tuple[int, int],
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f"embed_dims {embed_dims} is not a multiple of num_heads {num_heads}")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = to_2tuple(window_size, "window_size")
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        # index of (dy + Wh - 1, dx + Ww - 1) for every pair of the window's row-major tokens
        ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
        dy = ys.flatten()[:, None] - ys.flatten()[None, :]
        dx = xs.flatten()[:, None] - xs.flatten()[None, :]
        self.register_buffer("relative_position_index", (dy + wh - 1) * (2 * ww - 1) + (dx + ww - 1))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def init_weights(self) -> None:
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """(num_heads, Wh * Ww, Wh * Ww): the bias added to the logits."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias().to(qkv.dtype)[None]  # (1, heads, n, n)
        if mask is not None:  # windows are image-major: mask[w] is every image's window w
            nw = mask.shape[0]
            if b % nw:
                raise ValueError(f"{b} windows are not a multiple of the mask's {nw} windows per image")
            # one 4-d mask per window: SDPA on a 5-d (images, nW, ...) view is 1.7x slower on CPU
            bias = (bias + mask.to(qkv.dtype)[:, None]).repeat(b // nw, 1, 1, 1)  # (b, heads, n, n)
        out = F.scaled_dot_product_attention(
            qkv[0],
            qkv[1],
            qkv[2],
            attn_mask=bias,
            dropout_p=self.attn_drop.p if self.training else 0.0,
            scale=self.scale,
        )
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


class ShiftWindowMSA(BaseModule):
    """Window attention over an (H, W) token grid, padded bottom-right to multiples of the window
    and, with ``shift_size > 0``, cyclically shifted by ``-shift_size`` first (masked so that only
    tokens of one image region attend to each other). Module names: ``w_msa``, ``drop``.

    Forward: query (N, H * W, C), hw_shape (H, W) -> (N, H * W, C).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        dropout_layer: dict | None = dict(type="DropPath", drop_prob=0.0),  # noqa: B006 - never mutated
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, window_size={window_size}), got {shift_size}")
        self.window_size, self.shift_size = window_size, shift_size
        self.w_msa = WindowMSA(
            embed_dims,
            num_heads,
            to_2tuple(window_size, "window_size"),
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=proj_drop_rate,
        )
        self.drop = build_dropout(dropout_layer)

    def forward(self, query: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        n, length, c = query.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(f"{length} tokens do not make hw_shape {tuple(hw_shape)}")
        ws, shift = self.window_size, self.shift_size
        query = query.view(n, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        query = F.pad(query, (0, 0, 0, pad_r, 0, pad_b))
        h_pad, w_pad = query.shape[1], query.shape[2]
        mask = None
        if shift > 0:
            query = torch.roll(query, shifts=(-shift, -shift), dims=(1, 2))
            mask = shifted_window_mask(h_pad, w_pad, ws, shift, query.device)
        windows = self.w_msa(window_partition(query, ws), mask=mask)
        x = window_reverse(windows, ws, h_pad, w_pad)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(n, h * w, c)
        return self.drop(x)
