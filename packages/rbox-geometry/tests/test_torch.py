"""torch in, torch out: numpy parity, dtype and device kept, gradients (gradcheck, float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rbox_geometry as rg

from .conftest import random_boxes
from .test_conversions import BAD_SHAPES

torch = pytest.importorskip("torch")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _t(a, dtype=torch.float64, device="cpu", grad=False):
    return torch.tensor(np.asarray(a), dtype=dtype, device=device, requires_grad=grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_parity_dtype_device(device, dtype):
    rng = np.random.default_rng(0)
    b = rg.regularize(random_boxes(rng, 60, 0, 50), "le90")
    b2 = random_boxes(rng, 40, 0, 50)
    tb, tb2 = _t(b, dtype, device), _t(b2, dtype, device)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-9)
    calls = [
        lambda x, y: rg.obb2poly(x, "le90"),
        lambda x, y: rg.obb2poly_np(x, "le90"),
        lambda x, y: rg.poly2obb(rg.obb2poly(x), "le135"),
        lambda x, y: rg.poly2obb_np(rg.obb2poly(x), "le90"),
        lambda x, y: rg.min_area_rect(rg.obb2poly(x), "oc"),
        lambda x, y: rg.obb2hbb(x, "le90"),
        lambda x, y: rg.obb2xyxy(x, "oc"),
        lambda x, y: rg.hbb2obb(rg.obb2xyxy(x), "le135"),
        lambda x, y: rg.regularize(x, "oc"),
        lambda x, y: rg.norm_angle(x[:, 4] * 3, "le135"),
        lambda x, y: rg.rbbox_overlaps(x, y),
        lambda x, y: rg.rbbox_overlaps(x[:40], y, "iof", is_aligned=True),
        lambda x, y: rg.polygon_overlaps(rg.obb2poly(x), rg.obb2poly(y)),
        lambda x, y: rg.xywhr2gaussian(x)[1],
        lambda x, y: rg.flip_rboxes(x, (100, 100), "horizontal", "le90"),
        lambda x, y: rg.rotate_rboxes(x, 0.4, (10, 20), "le90"),
        lambda x, y: rg.points_in_rboxes(y[:, :2], x),
    ]
    for f in calls:
        want = f(b, b2)
        got = f(tb, tb2)
        assert isinstance(got, torch.Tensor)
        assert got.device.type == device
        if got.dtype != torch.bool:
            assert got.dtype == dtype
        np.testing.assert_allclose(got.detach().cpu().double().numpy(), want, **tol, equal_nan=True)


def test_torch_not_needed_for_numpy():
    out = rg.obb2poly(np.zeros((2, 5)))
    assert isinstance(out, np.ndarray)


def test_gradcheck_conversions():
    b = _t(rg.regularize(random_boxes(np.random.default_rng(1), 6), "le90"), grad=True)
    assert torch.autograd.gradcheck(lambda x: rg.obb2poly(x), (b,))
    assert torch.autograd.gradcheck(lambda x: rg.obb2xyxy(x), (b,))
    assert torch.autograd.gradcheck(lambda x: rg.xywhr2gaussian(x)[1], (b,))
    assert torch.autograd.gradcheck(lambda x: rg.regularize(x, "oc"), (b,))
    assert torch.autograd.gradcheck(lambda x: rg.gaussian2xywhr(*rg.xywhr2gaussian(x), "le90"), (b,))
    p = _t(rg.obb2poly(b.detach().numpy()), grad=True)
    assert torch.autograd.gradcheck(lambda x: rg.poly2obb(x, "le90"), (p,))
    # a generic quadrilateral: at a tie between two candidate rectangles (any exact
    # rectangle, or (0,0),(10,1),(9,6),(1.5,4) whose two best rectangles both have area 51)
    # the minimum-area rectangle is not differentiable
    q = _t([[0.3, 0.1, 10.2, 1.7, 8.1, 6.6, 1.2, 4.9]], grad=True)
    assert torch.autograd.gradcheck(lambda x: rg.min_area_rect(x, "le90"), (q,))


def test_gradcheck_overlaps():
    # generic positions (no coincident edges or vertices), where the IoU is differentiable
    b1 = _t([[10, 10, 8, 4, 0.3], [20, 15, 6, 6, -0.5], [0, 0, 3, 9, 1.1]], grad=True)
    b2 = _t([[12, 11, 7, 5, -0.2], [18, 14, 5, 9, 0.9], [1, 1, 4, 4, 0.2]], grad=True)
    for mode in ("iou", "iof"):
        assert torch.autograd.gradcheck(lambda x, y, m=mode: rg.rbbox_overlaps(x, y, m), (b1, b2))
        assert torch.autograd.gradcheck(
            lambda x, y, m=mode: rg.rbbox_overlaps(x, y, m, is_aligned=True), (b1, b2)
        )
    p1 = rg.obb2poly(b1.detach()).requires_grad_(True)
    p2 = rg.obb2poly(b2.detach()) + 0.1 * torch.sin(torch.arange(24.0, dtype=torch.float64)).reshape(3, 8)
    p2.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: rg.polygon_overlaps(x, y), (p1, p2))


def test_iou_gradient_direction():
    a = _t([[0, 0, 4, 4, 0.0]])
    b = _t([[3, 0, 4, 4, 0.0]], grad=True)
    rg.rbbox_overlaps(a, b).sum().backward()
    assert b.grad[0, 0] < 0  # moving b towards a increases IoU
    assert math.isfinite(float(b.grad.abs().sum()))


@pytest.mark.parametrize(("fn", "shape", "message"), BAD_SHAPES)
def test_wrong_shapes_raise_naming_the_argument_for_tensors(fn, shape, message):
    """The same check and message as for numpy input (one implementation serves both)."""
    with pytest.raises(ValueError, match=message):
        fn(torch.zeros(shape))
