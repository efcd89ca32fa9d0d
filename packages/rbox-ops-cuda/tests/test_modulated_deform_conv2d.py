"""modulated_deform_conv2d (DCNv2) and the Pack modules: mask 1 = deform_conv2d (and its golden
case), gradcheck, compiled = torch, mask 0.5 = half a conv2d, mmcv's mask layout and state dicts,
bad input, NaN offsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rbox_ops import (
    DeformConv2d,
    DeformConv2dPack,
    ModulatedDeformConv2d,
    ModulatedDeformConv2dPack,
    deform_conv2d,
    modulated_deform_conv2d,
)

# (channels, out_channels, size, kernel, stride, padding, dilation, groups, deform_groups)
CASES = [
    (2, 3, (4, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),
    (4, 4, (6, 5), (2, 3), (2, 1), (1, 0), (1, 2), 2, 2),
    (4, 2, (4, 4), (3, 2), (2, 2), (2, 1), (2, 1), 1, 4),
    (6, 4, (5, 6), (3, 3), (1, 2), (0, 2), (1, 1), 2, 3),
]


def _inputs(case, device, dtype=torch.float64, scale=2.0, seed=0, batch=2):
    """input, offset, mask, weight, bias and the op's trailing arguments."""
    c, c_out, (h, w), (kh, kw), stride, padding, dilation, groups, dg = case
    g = torch.Generator().manual_seed(seed)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = torch.rand(batch, c, h, w, generator=g, dtype=dtype)
    # offsets away from integers, where the bilinear weights have kinks
    offset = (torch.rand(batch, 2 * dg * kh * kw, ho, wo, generator=g, dtype=dtype) - 0.5) * scale
    offset = torch.where((offset - offset.round()).abs() < 0.05, offset + 0.1, offset)
    mask = torch.rand(batch, dg * kh * kw, ho, wo, generator=g, dtype=dtype)
    weight = torch.rand(c_out, c // groups, kh, kw, generator=g, dtype=dtype) - 0.5
    bias = torch.rand(c_out, generator=g, dtype=dtype) - 0.5
    args = (stride, padding, dilation, groups, dg)
    return [t.to(device) for t in (x, offset, mask, weight, bias)], args


def test_golden_with_mask_one(golden, backend, device):
    """MMRotate 0.3.4's (mmcv's) deform_conv2d case, through the modulated op with mask 1 and no bias."""
    g = golden("ops_wave2")
    p = "deform_conv2d/input/"
    x = torch.from_numpy(g[p + "input"]).to(device).requires_grad_()
    offset = torch.from_numpy(g[p + "offset"]).to(device).requires_grad_()
    weight = torch.from_numpy(g[p + "weight"]).to(device).requires_grad_()
    names = ("stride", "padding", "dilation", "groups", "deform_groups")
    stride, padding, dilation, groups, dg = (int(g[p + name]) for name in names)
    kk = weight.shape[2] * weight.shape[3]
    mask = torch.ones(x.shape[0], dg * kk, *offset.shape[2:], device=device, requires_grad=True)
    out = modulated_deform_conv2d(x, offset, mask, weight, None, stride, padding, dilation, groups, dg)
    out.backward(torch.from_numpy(g[p + "grad_output"]).to(device))
    expected = {"output": out, "grad_input": x.grad, "grad_offset": offset.grad, "grad_weight": weight.grad}
    for name, value in expected.items():
        np.testing.assert_allclose(
            value.detach().cpu().numpy(),
            g[f"deform_conv2d/output/{name}"],
            rtol=1e-4,
            atol=1e-4,
            err_msg=name,
        )
    assert mask.grad is not None and mask.grad.abs().sum() > 0


@pytest.mark.parametrize("case", CASES)
def test_mask_one_is_deform_conv2d(backend, device, case):
    """Forward and the input, offset and weight gradients, with samples on and off the map."""
    (x, offset, _, weight, _), args = _inputs(case, device, torch.float32, scale=6.0, seed=2)
    mask = torch.ones(offset.shape[0], offset.shape[1] // 2, *offset.shape[2:], device=device)
    grad = torch.rand(deform_conv2d(x, offset, weight, *args).shape, device=device)
    results = []
    for fn in (
        lambda a, b, c: modulated_deform_conv2d(a, b, mask, c, None, *args),
        lambda a, b, c: deform_conv2d(a, b, c, *args),
    ):
        ts = [t.clone().requires_grad_() for t in (x, offset, weight)]
        out = fn(*ts)
        out.backward(grad)
        results.append([out.detach(), *(t.grad for t in ts)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_gradcheck(backend, device, case):
    """float64, w.r.t. input, offset, mask, weight and bias; scale 4: many samples off the map."""
    tensors, args = _inputs(case, device, scale=4.0, batch=1)  # small: gradcheck perturbs every value
    for t in tensors:
        t.requires_grad_()
    fn = lambda *a: modulated_deform_conv2d(*a, *args)  # noqa: E731
    # CUDA sums the input gradient with atomicAdd in a changing order (see test_deform_conv2d.py)
    nondet_tol = 1e-12 if device.type == "cuda" else 0.0
    assert torch.autograd.gradcheck(fn, tuple(tensors), eps=1e-6, atol=1e-5, nondet_tol=nondet_tol)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no bias"])
def test_backends_agree(built, monkeypatch, case, with_bias):
    """The compiled CPU kernel against the pure-torch code, forward and the five gradients."""
    (x, offset, mask, weight, bias), args = _inputs(case, "cpu", torch.float32, scale=6.0, seed=1)
    bias = bias if with_bias else None
    grad = torch.rand(modulated_deform_conv2d(x, offset, mask, weight, bias, *args).shape)
    results = []
    for name in ("torch", "cpu"):
        monkeypatch.setenv("RBOX_OPS_BACKEND", name)
        ts = [None if t is None else t.clone().requires_grad_() for t in (x, offset, mask, weight, bias)]
        out = modulated_deform_conv2d(*ts, *args)
        out.backward(grad)
        results.append([out.detach(), *(t.grad for t in ts if t is not None)])
    assert len(results[0]) == (6 if with_bias else 5)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_zero_offsets_half_mask_is_half_conv2d(backend, device, case):
    (x, offset, _, weight, bias), (stride, padding, dilation, groups, dg) = _inputs(
        case, device, torch.float32
    )
    mask = torch.full((offset.shape[0], offset.shape[1] // 2, *offset.shape[2:]), 0.5, device=device)
    out = modulated_deform_conv2d(
        x, torch.zeros_like(offset), mask, weight, bias, stride, padding, dilation, groups, dg
    )
    ref = 0.5 * F.conv2d(x, weight, None, stride, padding, dilation, groups) + bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_mask_layout_is_mmcv(backend, device):
    """Mask channel g * kh * kw + k scales kernel point k of deform group g (mmcv's dmcn_im2col): a
    one-hot mask is deform_conv2d with the weight kept at that point and group's channels only."""
    (x, offset, _, weight, _), args = _inputs(CASES[2], device, torch.float32, seed=3)  # 4 deform groups, 3x2
    n, c, kh, kw, dg = x.shape[0], x.shape[1], weight.shape[2], weight.shape[3], args[-1]
    for g, k in ((1, 4), (3, 1), (0, 5)):
        mask = torch.zeros(n, dg * kh * kw, *offset.shape[2:], device=device)
        mask[:, g * kh * kw + k] = 1
        kept = torch.zeros_like(weight)
        i, j, per_group = k // kw, k % kw, c // dg
        chans = slice(g * per_group, (g + 1) * per_group)
        kept[:, chans, i, j] = weight[:, chans, i, j]
        out = modulated_deform_conv2d(x, offset, mask, weight, None, *args)
        torch.testing.assert_close(out, deform_conv2d(x, offset, kept, *args), rtol=1e-5, atol=1e-5)


def test_nan_offset_samples_zero_and_stays_local(backend, device):
    """A NaN offset samples 0, as a point far off the map: the output and every gradient equal those
    of the far point, finite everywhere (deform_conv2d's rule)."""
    (x, offset, mask, weight, bias), args = _inputs(CASES[0], device, torch.float32, seed=4)
    far, nan = offset.clone(), offset.clone()
    far[0, 4:8, 1, 2], nan[0, 4:8, 1, 2] = 100.0, float("nan")  # kernel points 2 and 3 at pixel (1, 2)
    nan[1, 0, 3, 4] = float("nan")  # dy only
    far[1, 0, 3, 4] = 100.0
    grad = torch.rand(modulated_deform_conv2d(x, offset, mask, weight, bias, *args).shape, device=device)
    results = []
    for off in (nan, far):
        ts = [t.clone().requires_grad_() for t in (x, off, mask, weight, bias)]
        out = modulated_deform_conv2d(*ts, *args)
        out.backward(grad)
        results.append([out.detach(), *(t.grad for t in ts)])
    for a, b in zip(*results):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # far and NaN points everywhere: every sample is 0, the output is the bias, and every gradient
    # but the bias's is 0
    off = torch.full_like(offset, 100.0)
    off[0, :, 1, 1] = float("nan")
    ts = [t.clone().requires_grad_() for t in (x, off, mask, weight, bias)]
    out = modulated_deform_conv2d(*ts, *args)
    torch.testing.assert_close(out, bias.view(1, -1, 1, 1).expand_as(out))
    out.sum().backward()
    assert all((t.grad == 0).all() for t in ts[:4])
    torch.testing.assert_close(ts[4].grad, torch.full_like(bias, out[:, 0].numel()))


def test_modules_mmcv_signature_init_and_state_dict(backend, device):
    torch.manual_seed(0)
    m = ModulatedDeformConv2d(4, 6, 3, padding=1, deform_groups=2).to(device)
    assert list(m.state_dict()) == ["weight", "bias"]
    assert m.weight.shape == (6, 4, 3, 3) and m.bias.shape == (6,)
    stdv = 1 / (4 * 3 * 3) ** 0.5  # mmcv's init
    assert m.weight.abs().max() <= stdv and m.weight.abs().max() > 0.8 * stdv and (m.bias == 0).all()
    assert (m.kernel_size, m.stride, m.padding, m.dilation) == ((3, 3), (1, 1), (1, 1), (1, 1))
    assert "deform_groups=2" in repr(m) and "bias=True" in repr(m)
    x = torch.rand(2, 4, 7, 8, device=device)
    offset, mask = torch.rand(2, 36, 7, 8, device=device), torch.rand(2, 18, 7, 8, device=device)
    nn.init.uniform_(m.bias)
    ref = modulated_deform_conv2d(x, offset, mask, m.weight, m.bias, 1, 1, 1, 1, 2)
    torch.testing.assert_close(m(x, offset, mask), ref)
    no_bias = ModulatedDeformConv2d(4, 6, (3, 1), bias=False)
    assert list(no_bias.state_dict()) == ["weight"] and no_bias.bias is None
    auto = ModulatedDeformConv2d(4, 6, 3, bias="auto")  # mmcv: any truthy value makes a bias
    assert list(auto.state_dict()) == ["weight", "bias"]
    with pytest.warns(DeprecationWarning, match="deform_groups"):
        assert ModulatedDeformConv2d(4, 6, 3, deformable_groups=2).deform_groups == 2
    with pytest.raises(ValueError, match=r"divisible by deform_groups \(3\)"):
        ModulatedDeformConv2d(4, 6, 3, deform_groups=3)


def test_packs_start_as_convolutions(backend, device):
    """Zero-initialised conv_offset: DeformConv2dPack is F.conv2d, ModulatedDeformConv2dPack (mask
    sigmoid(0) = 0.5) is 0.5 * conv2d + bias; both learn the offsets (non-zero gradient)."""
    x = torch.rand(2, 4, 9, 7, device=device)
    dcn = DeformConv2dPack(4, 6, 3, stride=2, padding=1, deform_groups=2).to(device)
    assert list(dcn.state_dict()) == ["weight", "conv_offset.weight", "conv_offset.bias"]
    assert dcn.conv_offset.weight.shape == (2 * 2 * 9, 4, 3, 3) and dcn.conv_offset.stride == (2, 2)
    out = dcn(x)
    torch.testing.assert_close(out, F.conv2d(x, dcn.weight, None, 2, 1), rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    assert dcn.conv_offset.bias.grad.abs().sum() > 0
    dcn2 = ModulatedDeformConv2dPack(4, 6, (3, 3), padding=2, dilation=2, deform_groups=2).to(device)
    assert list(dcn2.state_dict()) == ["weight", "bias", "conv_offset.weight", "conv_offset.bias"]
    assert dcn2.conv_offset.weight.shape == (2 * 3 * 9, 4, 3, 3) and dcn2.conv_offset.dilation == (2, 2)
    assert (dcn2.conv_offset.weight == 0).all() and (dcn2.conv_offset.bias == 0).all()
    with torch.no_grad():
        dcn2.bias.uniform_()
    out = dcn2(x)
    ref = 0.5 * F.conv2d(x, dcn2.weight, None, 1, 2, 2) + dcn2.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    assert dcn2.conv_offset.bias.grad[: 2 * 2 * 9].abs().sum() > 0  # offsets
    assert dcn2.conv_offset.bias.grad[2 * 2 * 9 :].abs().sum() > 0  # mask


def _load_as_mmcv(module: nn.Module, state_dict) -> list[str]:
    """mmcv 1.x's ``load_state_dict`` (``load_checkpoint``): every module's ``_load_from_state_dict``
    sees the whole state dict (torch's own ``load_state_dict`` gives a child only its keys). Returns
    the missing keys."""
    metadata = getattr(state_dict, "_metadata", None)
    state_dict = dict(state_dict)
    missing: list[str] = []

    def load(m: nn.Module, prefix: str = "") -> None:
        local = {} if metadata is None else metadata.get(prefix[:-1], {})
        m._load_from_state_dict(state_dict, prefix, local, True, missing, [], [])
        for name, child in m._modules.items():
            if child is not None:
                load(child, prefix + name + ".")

    load(module)
    return missing


@pytest.mark.parametrize("pack", [DeformConv2dPack, ModulatedDeformConv2dPack])
def test_pack_loads_old_offset_keys_as_mmcv(pack):
    """mmcv's version < 2 upgrade: a sibling ``<name>_offset.*`` (mmdet 1.x's ResNet ``conv2_offset``)
    becomes ``<name>.conv_offset.*`` under mmcv's loader; a version-2 state dict is taken as it is."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv2 = pack(4, 4, 3, padding=1)

    src = Block()
    with torch.no_grad():
        for p in src.parameters():
            p.uniform_()
    new = src.state_dict()
    assert new._metadata["conv2"]["version"] == 2  # what rdet and mmcv save
    # the old names, and no metadata: version None
    old = {k.replace("conv2.conv_offset.", "conv2_offset."): v for k, v in new.items()}
    assert "conv2_offset.weight" in old and "conv2_offset.bias" in old
    dst = Block()
    assert _load_as_mmcv(dst, old) == []
    for k, v in new.items():
        torch.testing.assert_close(dst.state_dict()[k], v)
    # version 2 keeps the keys as they are: conv_offset is then missing (as mmcv)
    old_v2 = type(new)(old)
    old_v2._metadata = new._metadata
    assert _load_as_mmcv(Block(), old_v2) == ["conv2.conv_offset.weight", "conv2.conv_offset.bias"]
    # the current keys load with torch's loader, strict
    Block().load_state_dict(new)
    # mmcv maps no ``conv_offset_mask`` (mmdet 1.x's own Pack name)
    mask_keys = {k.replace("conv_offset.", "conv_offset_mask."): v for k, v in new.items()}
    with pytest.raises(RuntimeError, match="conv_offset_mask.weight"):
        Block().load_state_dict(mask_keys)


def test_half_precision_runs_in_float32(backend, device):
    (x, offset, mask, weight, bias), args = _inputs(CASES[1], device, torch.float32)
    out = modulated_deform_conv2d(x.half(), offset.half(), mask.half(), weight.half(), bias.half(), *args)
    assert out.dtype == torch.float16
    halves = [t.half().float() for t in (x, offset, mask, weight, bias)]
    torch.testing.assert_close(out.float(), modulated_deform_conv2d(*halves, *args), atol=2e-3, rtol=2e-3)
    # a float64 mask (or offset, weight, bias) with a float32 input is cast, as deform_conv2d's offset
    out = modulated_deform_conv2d(x, offset, mask.double(), weight, bias.double(), *args)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, modulated_deform_conv2d(x, offset, mask, weight, bias, *args))


def test_bad_input():
    x, offset, weight = torch.rand(1, 4, 6, 6), torch.rand(1, 18, 6, 6), torch.rand(2, 4, 3, 3)
    mask, bias = torch.rand(1, 9, 6, 6), torch.rand(2)
    modulated_deform_conv2d(x, offset, mask, weight, bias, padding=1)  # fine
    with pytest.raises(
        ValueError, match=r"mask must have shape \(1, 9, 6, 6\).*deform_groups=1.*got \(1, 18, 6, 6\)"
    ):
        modulated_deform_conv2d(x, offset, torch.rand(1, 18, 6, 6), weight, bias, padding=1)
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 18, 6, 6\).*deform_groups=2"):
        modulated_deform_conv2d(x, torch.rand(1, 36, 6, 6), mask, weight, bias, padding=1, deform_groups=2)
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 9, 6, 6\).*got \(9, 6, 6\)"):
        modulated_deform_conv2d(x, offset, mask[0], weight, bias, padding=1)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\).*got \(3,\)"):
        modulated_deform_conv2d(x, offset, mask, weight, torch.rand(3), padding=1)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\).*got \(1, 2\)"):
        modulated_deform_conv2d(x, offset, mask, weight, bias[None], padding=1)
    with pytest.raises(ValueError, match="mask is on meta but input is on cpu"):
        modulated_deform_conv2d(x, offset, mask.to("meta"), weight, bias, padding=1)
    with pytest.raises(ValueError, match="bias is on meta but input is on cpu"):
        modulated_deform_conv2d(x, offset, mask, weight, bias.to("meta"), padding=1)
    with pytest.raises(TypeError, match="mask must be a floating-point tensor"):
        modulated_deform_conv2d(x, offset, mask.long(), weight, bias, padding=1)
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        modulated_deform_conv2d(x, offset, None, weight, bias, padding=1)
    with pytest.raises(TypeError, match="bias must be a torch.Tensor or None"):
        modulated_deform_conv2d(x, offset, mask, weight, True, padding=1)
    # deform_conv2d's own checks come first
    with pytest.raises(ValueError, match=r"offset must have shape \(1, 18, 4, 4\)"):
        modulated_deform_conv2d(x, offset, mask, weight, bias)
    with pytest.raises(ValueError, match="weight must have shape"):
        modulated_deform_conv2d(x, offset, mask, weight, bias, padding=1, groups=2)


def test_compiled_op_checks_its_arguments(built):
    """Direct torch.ops calls get an error, not an out-of-bounds read."""
    x, offset, weight = torch.rand(1, 4, 6, 6), torch.rand(1, 18, 6, 6), torch.rand(2, 4, 3, 3)
    mask, bias = torch.rand(1, 9, 6, 6), torch.rand(2)
    op = torch.ops.rbox_ops.modulated_deform_conv2d
    args = (1, 1, 1, 1, 1, 1, 1, 1)
    assert op(x, offset, mask, weight, None, *args).shape == (1, 2, 6, 6)
    with pytest.raises(RuntimeError, match=r"modulated_deform_conv2d: mask must have shape \(1, 9, 6, 6\)"):
        op(x, offset, torch.rand(1, 9, 5, 6), weight, bias, *args)
    with pytest.raises(RuntimeError, match=r"bias must have shape \(2\)"):
        op(x, offset, mask, weight, torch.rand(3), *args)
    with pytest.raises(RuntimeError, match="mask must have the input's dtype"):
        op(x, offset, mask.double(), weight, bias, *args)
    with pytest.raises(RuntimeError, match="modulated_deform_conv2d: offset must have shape"):
        op(x, torch.rand(1, 8, 6, 6), mask, weight, bias, *args)
    backward = torch.ops.rbox_ops.modulated_deform_conv2d_backward
    with pytest.raises(RuntimeError, match="grad_output must be"):
        backward(torch.rand(1, 2, 5, 6), x, offset, mask, weight, *args)
    with pytest.raises(RuntimeError, match="mask must have shape"):
        backward(torch.rand(1, 2, 6, 6), x, offset, mask[:, :4], weight, *args)


def test_fake_kernel_and_compile(built, monkeypatch):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        out = torch.ops.rbox_ops.modulated_deform_conv2d(
            torch.empty(2, 4, 9, 9),
            torch.empty(2, 18, 5, 5),
            torch.empty(2, 9, 5, 5),
            torch.empty(6, 4, 3, 3),
            torch.empty(6),
            *(2, 2, 1, 1, 1, 1, 1, 1),
        )
        assert out.shape == (2, 6, 5, 5)
    monkeypatch.delenv("RBOX_OPS_BACKEND", raising=False)
    m = ModulatedDeformConv2dPack(4, 6, 3, padding=1)
    with torch.no_grad():
        m.conv_offset.weight.uniform_(-0.1, 0.1)
    x = torch.rand(1, 4, 6, 6, requires_grad=True)
    ref = m(x).sum()
    g_ref = torch.autograd.grad(ref, [x, m.weight, m.bias, m.conv_offset.weight])
    out = torch.compile(lambda a: m(a).sum(), backend="aot_eager", fullgraph=True)(x)
    g = torch.autograd.grad(out, [x, m.weight, m.bias, m.conv_offset.weight])
    torch.testing.assert_close(out, ref)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)


def test_deform_conv2d_module_is_unchanged_by_the_pack(backend, device):
    """DeformConv2dPack(x) is DeformConv2d(x, conv_offset(x)) with the same weight."""
    pack = DeformConv2dPack(4, 6, 3, padding=1).to(device)
    with torch.no_grad():
        pack.conv_offset.weight.uniform_(-0.2, 0.2)
    plain = DeformConv2d(4, 6, 3, padding=1).to(device)
    plain.weight = pack.weight
    x = torch.rand(1, 4, 7, 5, device=device)
    torch.testing.assert_close(pack(x), plain(x, pack.conv_offset(x)))
