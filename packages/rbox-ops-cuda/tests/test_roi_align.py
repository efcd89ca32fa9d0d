"""roi_align_rotated and roi_align: golden forward/backward, gradcheck, modules, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbox_ops import RoIAlign, RoIAlignRotated, roi_align, roi_align_rotated


@pytest.mark.parametrize("case", ["case_0", "case_1", "case_2"])
def test_golden(golden, backend, device, case):
    g = golden("roi_align_rotated")
    x = torch.from_numpy(g[f"{case}/input/features"]).to(device).requires_grad_()
    rois = torch.from_numpy(g[f"{case}/input/rois"]).to(device)
    out = roi_align_rotated(
        x,
        rois,
        tuple(g[f"{case}/input/out_size"].tolist()),
        float(g[f"{case}/input/spatial_scale"]),
        int(g[f"{case}/input/sampling_ratio"]),
        bool(g[f"{case}/input/aligned"]),
        bool(g[f"{case}/input/clockwise"]),
    )
    out.backward(torch.from_numpy(g[f"{case}/input/grad_output"]).to(device))
    np.testing.assert_allclose(out.detach().cpu().numpy(), g[f"{case}/output/output"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.cpu().numpy(), g[f"{case}/output/grad_features"], rtol=1e-4, atol=1e-4)


def _rois(device, rotated: bool) -> torch.Tensor:
    if rotated:  # (b, cx, cy, w, h, theta), one partly outside the map
        r = [[0, 5.0, 4.0, 6.0, 3.0, 0.4], [1, 2.0, 6.5, 5.0, 4.0, -1.1], [0, 7.5, 1.0, 3.0, 5.0, 2.0]]
    else:  # (b, x1, y1, x2, y2)
        r = [[0, 1.0, 1.5, 6.0, 5.0], [1, 0.2, 3.0, 7.7, 7.5], [0, 5.0, -1.0, 9.0, 2.0]]
    return torch.tensor(r, dtype=torch.float64, device=device)


@pytest.mark.parametrize(("sampling_ratio", "aligned", "clockwise"), [(2, True, False), (0, False, True)])
def test_gradcheck_rotated(backend, device, sampling_ratio, aligned, clockwise):
    x = torch.rand(2, 3, 7, 8, dtype=torch.float64, device=device, requires_grad=True)
    rois = _rois(device, True)
    fn = lambda t: roi_align_rotated(t, rois, (3, 2), 1.0, sampling_ratio, aligned, clockwise)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(("sampling_ratio", "aligned"), [(2, True), (0, False)])
def test_gradcheck_aligned(backend, device, sampling_ratio, aligned):
    x = torch.rand(2, 3, 7, 8, dtype=torch.float64, device=device, requires_grad=True)
    rois = _rois(device, False)
    fn = lambda t: roi_align(t, rois, (3, 2), 1.0, sampling_ratio, "avg", aligned)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


def test_roi_align_matches_rotated_at_zero_angle(backend, device):
    x = torch.rand(2, 4, 20, 24, device=device)
    xyxy = torch.tensor([[0, 4.0, 6.0, 30.0, 22.0], [1, 10.0, 2.0, 60.0, 70.0]], device=device)
    cxcywh = torch.cat(
        (
            xyxy[:, :1],
            (xyxy[:, 1:3] + xyxy[:, 3:5]) / 2,
            xyxy[:, 3:5] - xyxy[:, 1:3],
            torch.zeros_like(xyxy[:, :1]),
        ),
        1,
    )
    a = roi_align(x, xyxy, 7, 0.25, 2)
    b = roi_align_rotated(x, cxcywh, 7, 0.25, 2)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_roi_align_max_pool(backend, device):
    x = torch.rand(1, 2, 10, 10, device=device)
    rois = torch.tensor([[0, 1.0, 1.0, 8.0, 8.0]], device=device)
    avg = roi_align(x, rois, 2, 1.0, 2, "avg")
    mx = roi_align(x, rois, 2, 1.0, 2, "max")
    assert (mx >= avg - 1e-6).all()
    const = torch.full((1, 2, 10, 10), 3.0, device=device)
    torch.testing.assert_close(
        roi_align(const, rois, 2, 1.0, 2, "max"), torch.full((1, 2, 2, 2), 3.0, device=device)
    )


def test_modules_accept_mmcv_and_mmrotate_names(backend, device):
    x = torch.rand(1, 2, 16, 16, device=device)
    rois = torch.tensor([[0, 20.0, 24.0, 16.0, 8.0, 0.3]], device=device)
    mmrotate = RoIAlignRotated(out_size=7, sample_num=2, clockwise=True, spatial_scale=0.25)
    mmcv = RoIAlignRotated(7, 0.25, 2, clockwise=True)
    torch.testing.assert_close(mmrotate(x, rois), mmcv(x, rois))
    assert mmrotate(x, rois).shape == (1, 2, 7, 7)
    assert "output_size=(7, 7)" in repr(mmrotate)
    hbb = RoIAlign((7, 6), 0.25, 2)(x, torch.tensor([[0, 2.0, 2.0, 30.0, 20.0]], device=device))
    assert hbb.shape == (1, 2, 7, 6)
    with pytest.raises(ValueError, match="exactly one of output_size and out_size"):
        RoIAlignRotated(7, 0.25, out_size=7)


def test_empty_nan_and_bad_batch_index(backend, device):
    x = torch.rand(2, 3, 8, 8, device=device, requires_grad=True)
    out = roi_align_rotated(x, torch.zeros(0, 6, device=device), 7)
    assert out.shape == (0, 3, 7, 7)
    out.sum().backward()
    assert x.grad is not None and (x.grad == 0).all()
    assert x.grad.shape == x.shape and x.grad.is_contiguous()  # NCHW, as the input
    rois = torch.tensor(
        [[0, 4.0, 4.0, 3.0, 3.0, 0.0], [0, float("nan"), 4.0, 3.0, 3.0, 0.0], [5, 4.0, 4.0, 3.0, 3.0, 0.0]],
        device=device,
    )
    out = roi_align_rotated(x, rois, 2)
    assert torch.isfinite(out).all() and (out[1:] == 0).all() and out[0].abs().sum() > 0
    assert roi_align(x, torch.zeros(0, 5, device=device), 2).shape == (0, 3, 2, 2)


def test_half_precision_runs_in_float32(backend, device):
    x = torch.rand(1, 2, 8, 8, device=device)
    rois = torch.tensor([[0, 4.0, 4.0, 3.0, 3.0, 0.2]], device=device)
    out = roi_align_rotated(x.half(), rois.half(), 2)
    assert out.dtype == torch.float16
    torch.testing.assert_close(
        out.float(), roi_align_rotated(x, rois.half().float(), 2), atol=1e-3, rtol=1e-3
    )


def test_bad_input():
    x = torch.rand(1, 2, 8, 8)
    with pytest.raises(ValueError, match=r"rois must have shape \(N, 6\), got \(1, 5\)"):
        roi_align_rotated(x, torch.zeros(1, 5), 7)
    with pytest.raises(ValueError, match="input must have 4 dimensions"):
        roi_align_rotated(x[0], torch.zeros(1, 6), 7)
    with pytest.raises(TypeError, match="input must be a floating-point tensor"):
        roi_align_rotated(x.long(), torch.zeros(1, 6), 7)
    with pytest.raises(ValueError, match="output_size must be a positive int"):
        roi_align_rotated(x, torch.zeros(1, 6), (7, 0))
    with pytest.raises(ValueError, match="pool_mode must be"):
        roi_align(x, torch.zeros(1, 5), 7, pool_mode="sum")


def test_huge_rois_sample_a_capped_grid_and_negative_sampling_is_an_error(backend, device):
    """sampling_ratio=0 on a 1e5-pixel RoI: mmcv asks for ceil(1e5 / 7)^2 samples per bin and
    hangs; here the adaptive grid stops at 64 per bin side, and equals sampling_ratio=64."""
    from rbox_ops import roi_align_rotated

    x = torch.rand(1, 2, 16, 16, device=device)
    huge = torch.tensor([[0, 8.0, 8, 1e5, 1e5, 0.3]], device=device)
    adaptive = roi_align_rotated(x, huge, 7, 1.0, 0)
    assert torch.equal(adaptive, roi_align_rotated(x, huge, 7, 1.0, 64))
    small = torch.tensor([[0, 8.0, 8, 12, 9, 0.3]], device=device)  # 2 x 2 samples: below the cap
    assert torch.equal(roi_align_rotated(x, small, 7, 1.0, 0), roi_align_rotated(x, small, 7, 1.0, 2))
    with pytest.raises(ValueError, match="sampling_ratio must be >= 0"):
        roi_align_rotated(x, small, 7, 1.0, -1)
