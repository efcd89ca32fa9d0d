"""riroi_align_rotated: mmcv's kernel as a plain-Python loop, gradcheck, backends agree, bad input."""

from __future__ import annotations

import math

import pytest
import torch

import rbox_ops
from rbox_ops import RiRoIAlignRotated, riroi_align_rotated


def _bilinear(plane: list[list[float]], y: float, x: float) -> float:
    """mmcv's bilinear_interpolate (common_cuda_helper.hpp), line by line."""
    height, width = len(plane), len(plane[0])
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (
        hy * hx * plane[y_low][x_low]
        + hy * lx * plane[y_low][x_high]
        + ly * hx * plane[y_high][x_low]
        + ly * lx * plane[y_high][x_high]
    )


def _reference(features, rois, out_size, spatial_scale, num_samples, num_orientations, clockwise):
    """mmcv 1.7.2's riroi_align_rotated_forward_cuda_kernel, one output value at a time."""
    feats = features.tolist()
    channels = features.shape[1]
    groups = channels // num_orientations
    out = torch.zeros(len(rois), channels, out_size, out_size, dtype=torch.float64)
    for n, (batch, cx, cy, w, h, theta) in enumerate(rois.tolist()):
        cx, cy = cx * spatial_scale, cy * spatial_scale
        w, h = max(w * spatial_scale, 1.0), max(h * spatial_scale, 1.0)
        bin_h, bin_w = h / out_size, w / out_size
        ind_float = theta * num_orientations / (2 * math.pi)
        ind = math.floor(ind_float)
        l_var = ind_float - ind
        r_var = 1.0 - l_var
        ind = (ind + num_orientations) % num_orientations
        grid_h = num_samples if num_samples > 0 else math.ceil(h / out_size)
        grid_w = num_samples if num_samples > 0 else math.ceil(w / out_size)
        t = -theta if clockwise else theta
        cos_t, sin_t = math.cos(t), math.sin(t)
        for c in range(groups):
            for o in range(num_orientations):
                ind_rot = (o - ind + num_orientations) % num_orientations
                ind_rot_plus = (ind_rot + 1) % num_orientations
                plane = feats[int(batch)][c * num_orientations + ind_rot]
                plane_plus = feats[int(batch)][c * num_orientations + ind_rot_plus]
                for ph in range(out_size):
                    for pw in range(out_size):
                        acc = 0.0
                        for iy in range(grid_h):
                            yy = -h / 2 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                            for ix in range(grid_w):
                                xx = -w / 2 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                                y = yy * cos_t - xx * sin_t + cy
                                x = yy * sin_t + xx * cos_t + cx
                                acc += r_var * _bilinear(plane, y, x) + l_var * _bilinear(plane_plus, y, x)
                        out[n, c * num_orientations + o, ph, pw] = acc / max(grid_h * grid_w, 1)
    return out


def _rois(n: int, batch: int, size: float, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """(n, 6) RoIs in a size x size image, angles in (-2 pi, 2 pi), some reaching past the edges."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(batch, (n, 1), generator=g).double()
    ctr = torch.rand(n, 2, generator=g, dtype=torch.float64) * size
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * size / 2 + 0.5
    theta = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * 4 * math.pi
    return torch.cat((idx, ctr, wh, theta), 1).to(dtype)


@pytest.mark.parametrize("clockwise", [True, False])
@pytest.mark.parametrize("num_samples", [0, 2])
def test_matches_plain_python_definition(backend, device, clockwise, num_samples):
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 8, 7, 9, generator=g, dtype=torch.float64)
    rois = _rois(6, 2, 32.0, seed=2)
    rois[0, 5] = 2 * math.pi / 4  # exactly one orientation step: a pure channel shift
    expected = _reference(features, rois, 3, 0.25, num_samples, 4, clockwise)
    out = riroi_align_rotated(features.to(device), rois.to(device), 3, 0.25, num_samples, 4, clockwise)
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-9, atol=1e-10)
    out32 = riroi_align_rotated(
        features.float().to(device), rois.float().to(device), 3, 0.25, num_samples, 4, clockwise
    )
    torch.testing.assert_close(out32.cpu().double(), expected, rtol=1e-4, atol=1e-5)


def test_one_orientation_step_shifts_the_channels(backend, device):
    """theta = 2 pi / O: output orientation o is roi_align_rotated's (aligned=False) orientation o - 1."""
    features = torch.randn(1, 16, 8, 8, dtype=torch.float64, device=device)
    rois = torch.tensor([[0, 14.0, 17.0, 12.0, 9.0, 2 * math.pi / 8]], dtype=torch.float64, device=device)
    out = riroi_align_rotated(features, rois, 2, 0.5, 2, 8, True)
    plain = rbox_ops.roi_align_rotated(features, rois, 2, 0.5, 2, aligned=False, clockwise=True)
    torch.testing.assert_close(out.view(2, 8, 2, 2), plain.view(2, 8, 2, 2).roll(1, dims=1))


def test_gradcheck(backend, device):
    x = torch.rand(2, 8, 5, 6, dtype=torch.float64, device=device, requires_grad=True)
    rois = _rois(4, 2, 20.0, seed=3).to(device)
    fn = lambda t: riroi_align_rotated(t, rois, 2, 0.3, 2, 4, True)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


def test_compiled_matches_torch(built, monkeypatch):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 32, 24, 20, generator=g)
    rois = _rois(40, 2, 80.0, seed=5, dtype=torch.float32)
    grad = torch.randn(40, 32, 7, 7, generator=g)
    results = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        t = x.clone().requires_grad_()
        out = riroi_align_rotated(t, rois, 7, 0.25, 0, 8, True)
        out.backward(grad)
        results[name] = (out.detach(), t.grad)
    torch.testing.assert_close(results["cpu"][0], results["torch"][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results["cpu"][1], results["torch"][1], rtol=1e-5, atol=1e-5)


def test_bad_rois_pool_zeros_and_get_no_gradient(backend, device):
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64, device=device, requires_grad=True)
    rois = _rois(5, 2, 24.0, seed=6).to(device)
    rois[1, 5] = float("nan")
    rois[2, 0] = 2  # batch index past the batch
    rois[3, 0] = -1
    rois[4, 3] = float("inf")
    out = riroi_align_rotated(x, rois, 2, 0.25, 2, 4, False)
    assert torch.isfinite(out).all()
    assert (out[1:] == 0).all() and (out[0] != 0).any()
    out[1:].sum().backward()
    assert (x.grad == 0).all()


def test_no_rois_give_an_empty_output_and_a_zero_gradient(backend, device):
    x = torch.rand(2, 16, 8, 8, device=device, requires_grad=True)
    out = riroi_align_rotated(x, torch.zeros(0, 6, device=device), 3, 0.5, 2, 8)
    assert out.shape == (0, 16, 3, 3)
    out.sum().backward()
    assert x.grad.shape == x.shape and x.grad.is_contiguous() and (x.grad == 0).all()


def test_wrong_arguments_name_themselves():
    x, rois = torch.randn(1, 8, 4, 4), torch.tensor([[0, 4.0, 4.0, 3.0, 2.0, 0.1]])
    with pytest.raises(ValueError, match="features"):
        riroi_align_rotated(x[0], rois, 2, 1.0)
    with pytest.raises(ValueError, match="rois"):
        riroi_align_rotated(x, rois[:, :5], 2, 1.0)
    with pytest.raises(ValueError, match="num_orientations"):
        riroi_align_rotated(x, rois, 2, 1.0, num_orientations=3)
    with pytest.raises(ValueError, match="num_samples"):
        riroi_align_rotated(x, rois, 2, 1.0, num_samples=-1)
    with pytest.raises(ValueError, match="out_size"):
        riroi_align_rotated(x, rois, (2, 0), 1.0)
    with pytest.raises(TypeError, match="rois"):
        riroi_align_rotated(x, rois.long(), 2, 1.0)
    with pytest.raises(ValueError, match="num_orientations"):
        RiRoIAlignRotated(7, 0.25, num_orientations=0)


def test_module_has_mmcv_arguments(backend, device):
    layer = RiRoIAlignRotated(
        out_size=7, spatial_scale=0.25, num_samples=2, num_orientations=8, clockwise=True
    )
    assert layer.output_size == (7, 7) and layer.out_size == 7
    x = torch.randn(1, 16, 10, 10, device=device)
    rois = torch.tensor([[0, 20.0, 18.0, 16.0, 8.0, -0.4]], device=device)
    torch.testing.assert_close(layer(x, rois), riroi_align_rotated(x, rois, 7, 0.25, 2, 8, True))
    assert layer(x, rois[:0]).shape == (0, 16, 7, 7)
