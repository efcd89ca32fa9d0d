"""chamfer_distance: brute force, mmcv's gradient (gradcheck, both backends), compiled == torch,
NaN, empty and bad input."""

from __future__ import annotations

import pytest
import torch

from rbox_ops import chamfer_distance


def _brute(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.tensor([[[float(((p - q) ** 2).sum()) for q in b[i]] for p in a[i]] for i in range(a.shape[0])])
    return d.min(-1).values, d.argmin(-1)


def test_matches_brute_force(backend, device):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 12, 2, generator=g) * 5, torch.randn(3, 7, 2, generator=g) * 5
    b[0, 3] = b[0, 5]  # a tie: the first index wins
    dist1, dist2, idx1, idx2 = chamfer_distance(a.to(device), b.to(device))
    assert dist1.shape == (3, 12) and dist2.shape == (3, 7) and idx1.dtype == torch.int32
    ref_d1, ref_i1 = _brute(a, b)
    ref_d2, ref_i2 = _brute(b, a)
    torch.testing.assert_close(dist1.cpu(), ref_d1, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dist2.cpu(), ref_d2, rtol=1e-6, atol=1e-6)
    assert torch.equal(idx1.cpu().long(), ref_i1) and torch.equal(idx2.cpu().long(), ref_i2)
    assert not (idx1[0].cpu() == 5).any()  # the tied point 5 of batch 0 loses to point 3


def test_gradcheck(backend, device):
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 6, 2, generator=g, dtype=torch.float64).to(device).requires_grad_(True)
    b = torch.randn(2, 9, 2, generator=g, dtype=torch.float64).to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: chamfer_distance(x, y)[:2], (a, b), fast_mode=True)
    # only dist1 used (the other output's gradient is None)
    dist1 = chamfer_distance(a, b)[0]
    ga, gb = torch.autograd.grad(dist1.sum(), (a, b))
    assert ga.shape == a.shape and gb.abs().sum() > 0


def test_compiled_matches_torch(built, monkeypatch):
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4, 30, 2, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 20, 2, generator=g, dtype=torch.float64, requires_grad=True)
    out = {}
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        d1, d2, i1, i2 = chamfer_distance(a, b)
        grads = torch.autograd.grad((d1 * 2).sum() + d2.sum(), (a, b))
        out[name] = (d1, d2, i1, i2, *grads)
    for x, y in zip(out["torch"], out["cpu"]):
        torch.testing.assert_close(x, y, atol=1e-12, rtol=0)


def test_nan_empty_and_bad_input(backend, device):
    a = torch.tensor([[[0.0, 0.0], [float("nan"), 1.0], [3.0, 0.0]]], device=device)
    b = torch.tensor([[[0.0, 1.0], [1.0, float("inf")]]], device=device)
    d1, d2, i1, i2 = chamfer_distance(a, b)
    assert i1.cpu().tolist() == [[0, -1, 0]] and d1[0, 1].isnan() and d1[0, 0] == 1 and d1[0, 2] == 10
    assert (
        i2.cpu().tolist() == [[0, -1]] and d2[0, 1].isnan()
    )  # a non-finite point: NaN, -1, nobody's nearest
    d1, d2, i1, i2 = chamfer_distance(a, torch.zeros(1, 0, 2, device=device))
    assert d1.isinf()[0, [0, 2]].all() and (i1 == -1).all() and d2.shape == (1, 0)
    with pytest.raises(ValueError, match="xyz1"):
        chamfer_distance(torch.zeros(2, 3), torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="xyz2"):
        chamfer_distance(torch.zeros(2, 3, 2), torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="xyz2 must have the batch size"):
        chamfer_distance(torch.zeros(2, 3, 2), torch.zeros(1, 3, 2))
    with pytest.raises(TypeError, match="xyz1"):
        chamfer_distance(torch.zeros(2, 3, 2, dtype=torch.int64), torch.zeros(2, 3, 2))
