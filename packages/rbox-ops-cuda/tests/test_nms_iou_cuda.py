"""The CUDA nms_rotated / box_iou_rotated against the CPU kernels (CUDA tests run only where
CUDA is available), and the bounding-circle prefilter against the exact overlap (every backend)."""

from __future__ import annotations

import math

import pytest
import torch

import rbox_ops
from rbox_ops import box_iou_rotated, nms, nms_rotated

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def clustered(n: int, seed: int = 0, size: float = 1024.0) -> tuple[torch.Tensor, torch.Tensor]:
    """n detector-like boxes: jittered copies of n / 50 objects, random scores (the benchmarks')."""
    g = torch.Generator().manual_seed(seed)
    k = max(n // 50, 1)
    objects = torch.cat(
        (
            torch.rand(k, 2, generator=g) * size,
            torch.rand(k, 2, generator=g) * 60 + 4,
            (torch.rand(k, 1, generator=g) - 0.5) * math.pi,
        ),
        1,
    )
    pick = torch.randint(k, (n,), generator=g)
    boxes = objects[pick] + torch.randn(n, 5, generator=g) * torch.tensor([4.0, 4.0, 3.0, 3.0, 0.08])
    boxes[:, 2:4] = boxes[:, 2:4].clamp(min=2)
    return boxes, torch.rand(n, generator=g)


def uniform(n: int, seed: int = 0, size: float = 1024.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b = torch.cat(
        (
            torch.rand(n, 2, generator=g) * size,
            torch.rand(n, 2, generator=g) * 60 + 1,
            (torch.rand(n, 1, generator=g) - 0.5) * math.pi,
        ),
        1,
    )
    return b, torch.rand(n, generator=g)


def touching() -> torch.Tensor:
    """Pairs that touch at an edge or a corner, or just meet / just miss (circles that just meet)."""
    s = 2.0
    d = s * math.sqrt(2)  # two squares turned 45 degrees, corner to corner: their circles just meet
    rows = [
        [0.0, 0, s, s, 0],
        [s, 0, s, s, 0],  # shares an edge with the first
        [s, s, s, s, 0],  # shares a corner
        [s * (1 + 1e-6), 0, s, s, 0],  # just apart
        [s * (1 - 1e-6), 0, s, s, 0],  # just overlapping
        [100.0, 0, s, s, math.pi / 4],
        [100.0 + d, 0, s, s, math.pi / 4],  # corner to corner
        [100.0 + d * (1 - 1e-5), 0, s, s, math.pi / 4],
        [100.0 + d * (1 + 1e-5), 0, s, s, math.pi / 4],
        [100.0 + d * (1 - 1e-3), 0, s, s, math.pi / 4],
        [1e4, 1e4, 30, 1, 0.3],  # long and thin, tip to tip
        [1e4 + 30 * math.cos(0.3), 1e4 + 30 * math.sin(0.3), 30, 1, 0.3],
        [5e3, 5e3, 1e-8, 1e-8, 0],  # area under 1e-14
        [5e3, 5e3, 0, 4, 0],  # zero width
        [float("nan"), 5, 4, 4, 0],
        [5, 5, float("inf"), 4, 0],
        [-1e3, -1e3, 1e3, 1e3, 0],
        [1e6, -1e6, 4, 4, 1.0],  # far away
    ]
    return torch.tensor(rows, dtype=torch.float64)


def iou_cases(dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    t = touching()
    b1, _ = uniform(700, 1)
    b2, _ = clustered(900, 2)
    return [(t.to(dtype), t.to(dtype)), (torch.cat((b1, t)).to(dtype), torch.cat((t, b2)).to(dtype))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["iou", "iof"])
def test_prefilter_keeps_every_overlap(backend, device, dtype, mode):
    """The pairwise kernels skip pairs whose bounding circles do not meet; the aligned ones do
    not: the two agree pair for pair (bit for bit on the CPU)."""
    if backend == "torch":
        pytest.skip("the pure-torch code has no prefilter")
    for b1, b2 in iou_cases(dtype):
        b1, b2 = b1.to(device), b2.to(device)
        pairwise = box_iou_rotated(b1, b2, mode)
        i, j = torch.meshgrid(torch.arange(len(b1)), torch.arange(len(b2)), indexing="ij")
        aligned = box_iou_rotated(b1[i.reshape(-1)], b2[j.reshape(-1)], mode, aligned=True).view_as(pairwise)
        assert torch.isfinite(pairwise).all()
        if backend == "cpu":
            assert torch.equal(pairwise, aligned)
        else:
            assert torch.equal(pairwise == 0, aligned == 0)
            torch.testing.assert_close(pairwise, aligned, atol=1e-6, rtol=0)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", [0, 1])
def test_box_iou_rotated_cuda_matches_cpu(built, dtype, mode):
    cases = iou_cases(dtype)
    big, _ = clustered(4000, 5)
    cases.append((big.to(dtype), uniform(3000, 6)[0].to(dtype)))
    cases.append((big[:1].to(dtype), big[:0].to(dtype)))
    for b1, b2 in cases:
        cpu = torch.ops.rbox_ops.box_iou_rotated(b1, b2, mode, False)
        gpu = torch.ops.rbox_ops.box_iou_rotated(b1.cuda(), b2.cuda(), mode, False).cpu()
        assert gpu.shape == cpu.shape
        torch.testing.assert_close(gpu, cpu, atol=1e-6, rtol=0)
        far = cpu == 0
        assert (gpu[far] < 1e-6).all()


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_box_iou_rotated_cuda_identical_boxes(built, dtype):
    """A box with itself has IoU and IoF 1 on the GPU, aligned and pairwise. nvcc fuses a * b + c
    into an FMA; in the clipping that made cross(v, v) nonzero and moved a box's corners by an
    ulp between two copies of the same code, and identical pairs came out 0 or 1/3."""
    b = torch.cat((uniform(5000, 3)[0], clustered(5000, 4)[0], touching()[:12].float())).to(dtype)
    n = b.shape[0]
    for mode in (0, 1):
        gpu = torch.ops.rbox_ops.box_iou_rotated(b.cuda(), b.cuda(), mode, True).cpu()
        torch.testing.assert_close(gpu, torch.ones(n, dtype=dtype), atol=1e-5, rtol=0)
        pair = torch.ops.rbox_ops.box_iou_rotated(b[-300:].cuda(), b[-300:].cuda(), mode, False).cpu()
        torch.testing.assert_close(pair.diagonal(), torch.ones(300, dtype=dtype), atol=1e-5, rtol=0)


def _keep_flags(keep: torch.Tensor, n: int) -> torch.Tensor:
    flags = torch.zeros(n, dtype=torch.bool)
    flags[keep.cpu()] = True
    return flags


def assert_same_keep(
    b: torch.Tensor, s: torch.Tensor, thr: float, labels: torch.Tensor | None = None
) -> None:
    """The CUDA keep equals the CPU one; in float32 a difference is accepted only where it starts
    at a rounding tie (an IoU within 1e-5 of the threshold), where host and device may differ."""
    cpu = torch.ops.rbox_ops.nms_rotated(b, s, thr, labels)
    gpu = torch.ops.rbox_ops.nms_rotated(b.cuda(), s.cuda(), thr, None if labels is None else labels.cuda())
    assert gpu.device.type == "cuda" and gpu.dtype == torch.long
    gpu = gpu.cpu()
    if torch.equal(gpu, cpu):
        return
    assert b.dtype == torch.float32, f"keep differs: {len(cpu)} kept on the CPU, {len(gpu)} on CUDA"
    order = s.sort(descending=True, stable=True).indices
    fa, fb = _keep_flags(cpu, len(b))[order], _keep_flags(gpu, len(b))[order]
    assert torch.equal(gpu, order[fb]), "the CUDA keep is not in descending score order"
    p = int((fa != fb).nonzero()[0])
    j = order[p]
    before = order[:p][fa[:p]]
    if labels is not None:
        before = before[labels[before] == labels[j]]
    iou = box_iou_rotated(b[before].double(), b[j : j + 1].double())[:, 0]
    assert ((iou - thr).abs() < 1e-5).any(), f"keep differs first at sorted position {p}, not a rounding tie"


@needs_cuda
@pytest.mark.parametrize("n", [10_000, 30_000])
def test_nms_rotated_cuda_clustered(built, n):
    b, s = clustered(n, seed=n)
    for thr in (0.1, 0.5):
        assert_same_keep(b, s, thr)
    assert_same_keep(b.double(), s.double(), 0.1)
    labels = torch.randint(3, (n,), generator=torch.Generator().manual_seed(1))
    assert_same_keep(b, s, 0.1, labels)


@needs_cuda
def test_nms_rotated_cuda_100k(built):
    b, s = clustered(100_000, seed=7)
    assert_same_keep(b, s, 0.1)


@needs_cuda
@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 127, 129, 1000, 5000])
def test_nms_rotated_cuda_sizes(built, n):
    b, s = uniform(n, seed=n, size=200.0)  # dense: many overlaps
    for thr in (0.05, 0.3, 0.7):
        assert_same_keep(b, s, thr)
        assert_same_keep(b.double(), s.double(), thr)
    assert_same_keep(b, s, 0.0)  # no prefilter: every pair is clipped
    assert_same_keep(b, s, -1.0)
    b, s = clustered(n, seed=n + 1)
    assert_same_keep(b, s, 0.1)
    if n:
        labels = torch.randint(4, (n,), generator=torch.Generator().manual_seed(n))
        assert_same_keep(b, s, 0.1, labels)


@needs_cuda
def test_nms_rotated_cuda_ties_duplicates_degenerate(built):
    b, s = clustered(3000, seed=11)
    assert_same_keep(b, (s * 10).round() / 10, 0.1)  # exact score ties
    assert_same_keep(b, torch.zeros(3000), 0.1)  # all tied: input order
    dup = b.repeat(3, 1)  # every box three times, with equal and with different scores
    assert_same_keep(dup, s.repeat(3), 0.1)
    assert_same_keep(dup, torch.rand(9000, generator=torch.Generator().manual_seed(2)), 0.5)
    odd = b.clone()
    odd[::7, 2] = 0  # zero width
    odd[1::7, 2:4] = 1e-8  # area under 1e-14
    odd[2::7, 0] = float("nan")
    odd[3::7, 4] = float("inf")
    odd[4::7, 1] = -float("inf")
    scores = s.clone()
    scores[5::11] = float("nan")  # NaN scores sort first (as on the CPU and in torch)
    for thr in (0.1, 0.0):
        assert_same_keep(odd, s, thr)
        assert_same_keep(odd, scores, thr)


@needs_cuda
def test_nms_rotated_cuda_keeps_the_api(built, monkeypatch):
    """Through the public function: dets and keep on the device, same as the CPU."""
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
    b, s = clustered(2000, seed=3)
    dets, keep = nms_rotated(b.cuda(), s.cuda(), 0.1)
    dets_cpu, keep_cpu = nms_rotated(b, s, 0.1)
    assert keep.is_cuda and dets.is_cuda
    torch.testing.assert_close(keep.cpu(), keep_cpu)
    torch.testing.assert_close(dets.cpu(), dets_cpu)


@needs_cuda
@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 3000, 40_000])
def test_nms_axis_aligned_cuda(built, n):
    g = torch.Generator().manual_seed(n)
    xy = torch.rand(n, 2, generator=g) * 500
    xyxy = torch.cat((xy, xy + torch.rand(n, 2, generator=g) * 40 + 1), 1)
    s = torch.rand(n, generator=g)
    for offset in (0, 1):
        cpu = torch.ops.rbox_ops.nms(xyxy, s, 0.3, offset)
        gpu = torch.ops.rbox_ops.nms(xyxy.cuda(), s.cuda(), 0.3, offset)
        assert torch.equal(gpu.cpu(), cpu)
    _, keep = nms(xyxy.cuda(), s.cuda(), 0.3)
    assert keep.is_cuda


def test_circle_prefilter_on_the_cpu_kernel(built):
    """The CPU NMS uses the same bounding-circle test as the CUDA kernel: it agrees with the
    pure-torch NMS (axis-aligned bounds) on touching, duplicate and degenerate boxes."""
    from rbox_ops.nms_rotated import nms_rotated_torch

    t = touching()
    b = torch.cat((t, t, clustered(500, 9)[0].double()))
    s = torch.rand(len(b), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for thr in (1e-9, 0.1, 0.5):
        assert torch.equal(torch.ops.rbox_ops.nms_rotated(b, s, thr, None), nms_rotated_torch(b, s, thr))
    assert rbox_ops.backend("cpu") == "cpu"
