"""ORConv2d and RotationInvariantPooling (S2A-Net's ODM head): MMRotate's indices, names and
checkpoint keys, shapes, rotation equivariance / invariance, bad configurations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rbox_ops import active_rotated_filter
from rdet_models.layers import ORConv2d, RotationInvariantPooling
from rdet_models.layers.orconv import orientation_indices


def _rot90_cw(x: torch.Tensor) -> torch.Tensor:
    """A quarter turn clockwise on screen (y down) of the last two dimensions."""
    return torch.rot90(x, k=-1, dims=(-2, -1))


@pytest.fixture(scope="module")
def arf_golden(golden_dir):
    path = golden_dir / "ops_wave2.npz"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    with np.load(path) as data:
        return {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("active_rotated_filter/")}


def test_indices_are_mmrotates(arf_golden):
    """The golden indices are those of MMRotate's ORConv2d(4, 6, 3, arf_config=(1, 8))."""
    conv = ORConv2d(4, 6, 3, arf_config=(1, 8))
    want = torch.from_numpy(arf_golden["input/indices"])
    assert conv.indices.dtype == torch.int32 and conv.indices.shape == (1, 3, 3, 8)
    assert torch.equal(conv.indices, want)
    assert torch.equal(conv.get_indices(), want)


def test_rotate_arf_matches_golden(arf_golden):
    conv = ORConv2d(4, 6, 3, arf_config=(1, 8))
    assert conv.weight.shape == (6, 4, 1, 3, 3) and conv.bias.shape == (48,)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(arf_golden["input/weight"]))
    out = conv.rotate_arf()
    out.backward(torch.from_numpy(arf_golden["input/grad_output"]))
    np.testing.assert_allclose(out.detach().numpy(), arf_golden["output/output"], atol=1e-4)
    np.testing.assert_allclose(conv.weight.grad.numpy(), arf_golden["output/grad_weight"], atol=1e-4)


def test_s2anet_checkpoint_loads(golden_dir):
    """The golden S2A-Net's odm_head.or_conv (feat_channels 32): weight, bias and indices, unchanged."""
    path = golden_dir / "models" / "s2anet_le135.pth"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    prefix = "odm_head.or_conv."
    mine = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    conv = ORConv2d(32, 4, 3, padding=1, arf_config=(1, 8))
    assert set(conv.state_dict()) == set(mine) == {"weight", "bias", "indices"}
    assert torch.equal(mine["indices"], conv.indices)
    conv.load_state_dict(mine, strict=True)
    assert torch.equal(conv.weight, mine["weight"])
    assert conv(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)


def test_indices_small_cases():
    # a 1 x 1 kernel only cycles the orientation channels: orientation i goes to (i + r) % 4
    idx = orientation_indices(4, 4, 1).view(4, 4)
    assert idx.tolist() == [[(i + r) % 4 + 1 for r in range(4)] for i in range(4)]
    # 8 orientations, 4 rotations: each quarter turn moves orientation i by two
    idx = orientation_indices(8, 4, 1).view(8, 4)
    assert idx[:, 1].tolist() == [(i + 2) % 8 + 1 for i in range(8)]
    # a 3 x 3 kernel's quarter turn is torch.rot90, clockwise on screen
    idx = orientation_indices(1, 4, 3).view(9, 4).long() - 1
    w = torch.arange(9.0)
    turned = torch.empty(9)
    turned[idx[:, 1]] = w
    assert torch.equal(turned.view(3, 3), _rot90_cw(w.view(3, 3)))


@pytest.mark.parametrize(
    ("arf", "shape_in", "shape_out"),
    [((1, 8), (2, 4, 9, 11), (2, 48, 9, 11)), ((4, 4), (1, 16, 7, 7), (1, 24, 4, 4))],
)
def test_forward_shape(arf, shape_in, shape_out):
    stride = 1 if arf == (1, 8) else 2
    conv = ORConv2d(4, 6, 3, arf_config=arf, padding=1, stride=stride)
    assert conv.weight.shape == (6, 4, arf[0], 3, 3) and conv.bias.shape == (6 * arf[1],)
    assert conv(torch.randn(shape_in)).shape == shape_out
    assert "arf_config=" in repr(conv)


@pytest.mark.parametrize("arf", [(1, 4), (1, 8), (4, 4), (8, 8), (4, 8), (8, 4)])
@pytest.mark.parametrize("kernel_size", [3, 1])
def test_rotation_equivariance(arf, kernel_size):
    """Turning the input a quarter clockwise (and cycling each input plane's orientation channels
    by nOrientation / 4) turns the output the same way and cycles each filter's rotation
    channels by nRotation / 4: ORConv(rot x)[o, k] == rot(ORConv(x)[o, k - R / 4])."""
    n, r = arf
    torch.manual_seed(0)
    conv = ORConv2d(3, 5, kernel_size, arf_config=arf, padding=kernel_size // 2).double()
    with torch.no_grad():  # a bias shared by a filter's rotations keeps the property
        conv.bias.copy_(torch.randn(5, dtype=torch.float64).repeat_interleave(r))
    x = torch.randn(2, 3 * n, 9, 9, dtype=torch.float64)
    x_turned = _rot90_cw(torch.roll(x.view(2, 3, n, 9, 9), n // 4, dims=2)).reshape(2, 3 * n, 9, 9)
    y = conv(x)
    want = _rot90_cw(torch.roll(y.view(2, 5, r, 9, 9), r // 4, dims=2)).reshape_as(y)
    torch.testing.assert_close(conv(x_turned), want, rtol=1e-10, atol=1e-10)
    # and the property is not trivial: the turned input gives a different output
    assert not torch.allclose(conv(x_turned), y)


def test_odm_features_are_rotation_invariant():
    """S2A-Net's ODM: ORConv2d(arf_config=(1, 8)) then RotationInvariantPooling(nOrientation=8):
    a quarter turn of the input turns the pooled features, with nothing else changed."""
    torch.manual_seed(1)
    conv = ORConv2d(4, 6, 3, arf_config=(1, 8), padding=1).double()
    pool = RotationInvariantPooling(48, 8)
    x = torch.randn(1, 4, 11, 11, dtype=torch.float64)
    torch.testing.assert_close(pool(conv(_rot90_cw(x))), _rot90_cw(pool(conv(x))), rtol=1e-10, atol=1e-10)


def test_rotation_invariant_pooling():
    pool = RotationInvariantPooling(256, 8)
    x = torch.randn(2, 48, 5, 7, requires_grad=True)
    out = pool(x)
    assert out.shape == (2, 6, 5, 7)
    torch.testing.assert_close(out, x.view(2, 6, 8, 5, 7).max(dim=2).values)
    g = x.view(2, 6, 8, 5, 7)
    for perm in (
        torch.randperm(8),
        torch.roll(torch.arange(8), 3),
    ):  # the order within a group does not matter
        torch.testing.assert_close(pool(g[:, :, perm].reshape(2, 48, 5, 7)), out)
    # but the groups are consecutive channels: mixing groups changes the result
    assert not torch.equal(pool(x[:, torch.randperm(48, generator=torch.Generator().manual_seed(0))]), out)
    out.sum().backward()  # the gradient goes to one maximum per group
    assert x.grad.sum().item() == out.numel()
    assert RotationInvariantPooling(16, nOrientation=4)(torch.randn(1, 16, 3, 3)).shape == (1, 4, 3, 3)


def test_gradcheck_and_gradients_reach_weight_and_bias():
    conv = ORConv2d(1, 2, 3, arf_config=(2, 4), padding=1).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_()
    b = torch.randn(8, dtype=torch.float64, requires_grad=True)
    fn = lambda a, w, b: F.conv2d(a, active_rotated_filter(w, conv.indices), b, padding=1)  # noqa: E731
    # fast mode: float64 conv2d is slow on CPU; the op itself has full gradchecks in rbox-ops-cuda
    assert torch.autograd.gradcheck(fn, (x, w, b), eps=1e-6, atol=1e-5, fast_mode=True)
    conv(x).square().sum().backward()
    assert conv.weight.grad.abs().sum() > 0 and conv.bias.grad.abs().sum() > 0 and x.grad is not None
    assert not conv.indices.requires_grad


def test_bad_configuration():
    with pytest.raises(ValueError, match="arf_config must be given"):
        ORConv2d(4, 6, 3)
    with pytest.raises(ValueError, match="nOrientation must be a power of 2"):
        ORConv2d(4, 6, 3, arf_config=(3, 8))
    with pytest.raises(ValueError, match="nRotation must be 1, 2, 4 or 8"):
        ORConv2d(4, 6, 3, arf_config=(1, 16))
    with pytest.raises(ValueError, match="kernel_size must be 1 or 3"):
        ORConv2d(4, 6, 5, arf_config=(1, 8))
    with pytest.raises(ValueError, match="kernel_size must be square"):
        ORConv2d(4, 6, (3, 1), arf_config=(1, 8))
    with pytest.raises(ValueError, match="arf_config must be"):
        ORConv2d(4, 6, 3, arf_config=(1, 8, 2))
    assert ORConv2d(4, 6, 3, arf_config=4).indices.shape == (4, 3, 3, 4)
    with pytest.raises(ValueError, match="not a multiple of nOrientation=8"):
        RotationInvariantPooling(4, 8)(torch.randn(1, 12, 3, 3))
    with pytest.raises(ValueError, match=r"x must be a \(N, C, H, W\) tensor"):
        RotationInvariantPooling(4, 8)(torch.randn(16, 3, 3))


def test_broken_indices_buffer_is_reported():
    conv = ORConv2d(4, 6, 3, arf_config=(1, 8))
    x = torch.randn(1, 4, 5, 5)
    conv(x)
    with torch.no_grad():
        conv.indices[0, 0, 0, 0] = 42  # e.g. a corrupt checkpoint
    with pytest.raises(ValueError, match="indices must map"):
        conv(x)
