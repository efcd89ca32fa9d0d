"""Pure-torch bilinear RoI pooling shared by roi_align and roi_align_rotated.

Same sampling as csrc/common/roi_sampling.h. Average pooling is a sparse (bins x pixels)
matrix times the (pixels x channels) features, so it is differentiable w.r.t. the
features and needs no (samples x channels) temporary; max pooling gathers the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RoiGeom:
    """Per-RoI sampling geometry, each field (R,); see roi_sampling.h."""

    batch: torch.Tensor  # long; -1 for a RoI to skip
    start_h: torch.Tensor
    start_w: torch.Tensor
    bin_h: torch.Tensor
    bin_w: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    ctr_h: torch.Tensor
    ctr_w: torch.Tensor
    grid_h: torch.Tensor  # long
    grid_w: torch.Tensor  # long


#: the adaptive grid's cap per bin side (csrc/common/roi_sampling.h: kMaxAdaptiveGrid)
MAX_ADAPTIVE_GRID = 64


def _grid(sampling_ratio: int, extent: torch.Tensor, pooled: int) -> torch.Tensor:
    if sampling_ratio > 0:
        return torch.full_like(extent, sampling_ratio, dtype=torch.long)
    g = torch.ceil(extent / pooled)
    return torch.where(g > 0, g, torch.zeros_like(g)).nan_to_num(0).clamp(max=MAX_ADAPTIVE_GRID).long()


def _batch(rois: torch.Tensor, batch_size: int) -> torch.Tensor:
    ok = torch.isfinite(rois).all(1) & (rois[:, 0] >= 0) & (rois[:, 0] < batch_size)
    return torch.where(ok, rois[:, 0].nan_to_num(0).long(), torch.full_like(rois[:, 0], -1, dtype=torch.long))


def rotated_geom(rois, batch_size, scale, pooled, sampling_ratio, aligned, clockwise) -> RoiGeom:
    """rois (R, 6) = (batch_index, cx, cy, w, h, theta)."""
    offset = 0.5 if aligned else 0.0
    roi_w, roi_h = rois[:, 3] * scale, rois[:, 4] * scale
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    theta = -rois[:, 5] if clockwise else rois[:, 5]
    return RoiGeom(
        _batch(rois, batch_size), -roi_h / 2, -roi_w / 2, roi_h / pooled[0], roi_w / pooled[1],
        torch.cos(theta), torch.sin(theta), rois[:, 2] * scale - offset, rois[:, 1] * scale - offset,
        _grid(sampling_ratio, roi_h, pooled[0]), _grid(sampling_ratio, roi_w, pooled[1]),
    )  # fmt: skip


def aligned_geom(rois, batch_size, scale, pooled, sampling_ratio, aligned) -> RoiGeom:
    """rois (R, 5) = (batch_index, x1, y1, x2, y2)."""
    offset = 0.5 if aligned else 0.0
    start_w, start_h = rois[:, 1] * scale - offset, rois[:, 2] * scale - offset
    roi_w, roi_h = rois[:, 3] * scale - offset - start_w, rois[:, 4] * scale - offset - start_h
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    zero = torch.zeros_like(start_w)
    return RoiGeom(
        _batch(rois, batch_size), start_h, start_w, roi_h / pooled[0], roi_w / pooled[1], zero + 1, zero, zero,
        zero, _grid(sampling_ratio, roi_h, pooled[0]), _grid(sampling_ratio, roi_w, pooled[1]),
    )  # fmt: skip


def bilinear_taps(
    y: torch.Tensor, x: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear taps of points (y, x) on a (height, width) map, as csrc/common/bilinear.h.

    Returns flat offsets ``y * width + x`` (..., 4) and weights (..., 4) of the four taps, and
    whether each point is valid (...,): one more than a pixel outside the map, or NaN, has zero
    weights at offset 0.
    """
    dt = y.dtype
    valid = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)
    y = torch.where(valid, y, torch.zeros_like(y)).clamp(min=0)
    x = torch.where(valid, x, torch.zeros_like(x)).clamp(min=0)
    y_low, x_low = y.long(), x.long()
    top, right = y_low >= height - 1, x_low >= width - 1
    y_low = torch.where(top, height - 1, y_low)
    x_low = torch.where(right, width - 1, x_low)
    y_high = torch.where(top, y_low, y_low + 1)
    x_high = torch.where(right, x_low, x_low + 1)
    y = torch.where(top, y_low.to(dt), y)
    x = torch.where(right, x_low.to(dt), x)
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    w = torch.stack((hy * hx, hy * lx, ly * hx, ly * lx), -1) * valid[..., None]
    pos = torch.stack(
        (y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high), -1
    )
    return pos, w, valid


def _samples(g: RoiGeom, sel: torch.Tensor, gh: int, gw: int, pooled, height: int, width: int):
    """Flat feature indices (S, 4) and weights (S, 4) of RoIs ``sel`` with a gh x gw grid.

    Samples are ordered (roi, ph, pw, iy, ix).
    """
    dev, dt = g.start_h.device, g.start_h.dtype
    ph = torch.arange(pooled[0], device=dev, dtype=dt).view(1, -1, 1, 1, 1)
    pw = torch.arange(pooled[1], device=dev, dtype=dt).view(1, 1, -1, 1, 1)
    iy = torch.arange(gh, device=dev, dtype=dt).view(1, 1, 1, -1, 1) + 0.5
    ix = torch.arange(gw, device=dev, dtype=dt).view(1, 1, 1, 1, -1) + 0.5

    def col(t: torch.Tensor) -> torch.Tensor:
        return t[sel].view(-1, 1, 1, 1, 1)

    bin_h, bin_w = col(g.bin_h), col(g.bin_w)
    yy = col(g.start_h) + ph * bin_h + iy * bin_h / gh
    xx = col(g.start_w) + pw * bin_w + ix * bin_w / gw
    cos, sin = col(g.cos), col(g.sin)
    y = (yy * cos - xx * sin + col(g.ctr_h)).expand(-1, pooled[0], pooled[1], gh, gw).reshape(-1)
    x = (yy * sin + xx * cos + col(g.ctr_w)).expand(-1, pooled[0], pooled[1], gh, gw).reshape(-1)
    pos, w, _ = bilinear_taps(y, x, height, width)
    base = g.batch[sel].repeat_interleave(pooled[0] * pooled[1] * gh * gw) * (height * width)
    return pos + base[:, None], w


def roi_pool(features: torch.Tensor, g: RoiGeom, pooled: tuple[int, int], mode: str = "avg") -> torch.Tensor:
    """Pool (B, C, H, W) features over RoIs -> (R, C, PH, PW); differentiable w.r.t. features."""
    b, c, h, w = features.shape
    r = g.batch.shape[0]
    bins = pooled[0] * pooled[1]
    flat = features.permute(0, 2, 3, 1).reshape(b * h * w, c)
    usable = g.batch >= 0
    groups = torch.stack((g.grid_h, g.grid_w), 1)[usable].unique(dim=0).tolist() if r else []
    rows = [torch.zeros(0, dtype=torch.long, device=features.device)]
    cols, vals, max_rows = [rows[0]], [flat.new_zeros(0).detach()], []
    for gh, gw in groups:
        if gh * gw == 0:
            continue  # an empty RoI: no samples, output 0 (as mmcv)
        sel = (usable & (g.grid_h == gh) & (g.grid_w == gw)).nonzero(as_tuple=True)[0]
        bin_rows = (sel[:, None] * bins + torch.arange(bins, device=sel.device)).reshape(-1)
        pos, wt = _samples(g, sel, gh, gw, pooled, h, w)
        if mode == "avg":
            rows.append(bin_rows.repeat_interleave(gh * gw * 4))
            cols.append(pos.reshape(-1))
            vals.append((wt / (gh * gw)).reshape(-1).detach())
        else:
            v = (flat[pos.reshape(-1)].view(-1, 4, c) * wt.view(-1, 4, 1)).sum(1)
            max_rows.append((bin_rows, v.view(-1, gh * gw, c).amax(1)))
    # a sparse (bins x pixels) matrix, even when empty, keeps the output on the autograd graph
    index = torch.stack((torch.cat(rows), torch.cat(cols)))
    mat = torch.sparse_coo_tensor(index, torch.cat(vals), (r * bins, b * h * w), check_invariants=False)
    out = torch.sparse.mm(mat, flat)
    for bin_rows, v in max_rows:
        out = out.index_put((bin_rows,), v)
    return out.view(r, pooled[0], pooled[1], c).permute(0, 3, 1, 2).contiguous()


def register_pooling_kernels(name: str) -> None:
    """Fake kernels and autograd of a compiled RoI pooling op ``rbox_ops::<name>``.

    The op takes ``(input, rois, pooled_height, pooled_width, *params)`` and returns
    ``(R, C, pooled_height, pooled_width)``; its backward op ``<name>_backward`` takes
    ``(grad, rois, batch, channels, height, width, pooled_height, pooled_width, *params)``
    and returns the gradient of ``input`` (the only differentiable argument).
    """

    @torch.library.register_fake(f"rbox_ops::{name}")
    def _(input, rois, pooled_height, pooled_width, *params):
        return input.new_empty((rois.shape[0], input.shape[1], pooled_height, pooled_width))

    @torch.library.register_fake(f"rbox_ops::{name}_backward")
    def _(grad_output, rois, batch_size, channels, height, width, *args):
        return grad_output.new_empty((batch_size, channels, height, width))

    backward_op = getattr(torch.ops.rbox_ops, f"{name}_backward")

    def setup_context(ctx, inputs, output):
        input, rois, *params = inputs
        ctx.save_for_backward(rois)
        ctx.shape = tuple(input.shape)
        ctx.params = params

    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        return (backward_op(grad, rois, *ctx.shape, *ctx.params), None, *([None] * len(ctx.params)))

    torch.library.register_autograd(f"rbox_ops::{name}", backward, setup_context=setup_context)
