"""Compiled kernels against the pure-torch code, same run, same inputs.

Run: .venv/bin/python -m pytest packages/rbox-ops-cuda/benchmarks --benchmark-enable
     --benchmark-group-by=func --benchmark-columns=min,mean,rounds
"""

from __future__ import annotations

import math

import pytest
import torch

import rbox_ops

BACKENDS = ["torch", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> torch.device:
    rbox_ops.build(cuda=request.param == "cuda")
    monkeypatch.setenv("RBOX_OPS_BACKEND", request.param)
    return torch.device("cuda" if request.param == "cuda" else "cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def random_boxes(n: int, seed: int, size: float = 1024.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 60 + 4
    theta = (torch.rand(n, 1, generator=g) - 0.5) * math.pi
    return torch.cat((ctr, wh, theta), 1)


def clustered(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n detector-like boxes: jittered copies of n / 50 objects, random scores."""
    g = torch.Generator().manual_seed(seed)
    objects = random_boxes(max(n // 50, 1), seed)
    pick = torch.randint(objects.shape[0], (n,), generator=g)
    boxes = objects[pick] + torch.randn(n, 5, generator=g) * torch.tensor([4.0, 4.0, 3.0, 3.0, 0.08])
    boxes[:, 2:4] = boxes[:, 2:4].clamp(min=2)
    return boxes, torch.rand(n, generator=g)


@pytest.mark.parametrize(
    "size", [1024.0, 128.0], ids=["spread over 1024 px", "in 128 px: most pairs clipped"]
)
def test_box_iou_rotated_2000x2000(benchmark, backend, size):
    b1, b2 = random_boxes(2000, 1, size).to(backend), random_boxes(2000, 2, size).to(backend)

    def run():
        out = rbox_ops.box_iou_rotated(b1, b2)
        _sync(backend)
        return out

    assert benchmark.pedantic(run, rounds=3, warmup_rounds=1).shape == (2000, 2000)


@pytest.mark.parametrize("n", [10_000, 30_000])
def test_nms_rotated_clustered(benchmark, backend, n):
    boxes, scores = clustered(n)
    boxes, scores = boxes.to(backend), scores.to(backend)

    def run():
        out = rbox_ops.nms_rotated(boxes, scores, 0.1)[1]
        _sync(backend)
        return out

    keep = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info["kept"] = int(keep.numel())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only (the CPU takes seconds)")
@pytest.mark.parametrize("n", [30_000, 100_000])
def test_nms_rotated_clustered_cuda(benchmark, n):
    rbox_ops.build(cuda=True)
    boxes, scores = clustered(n)
    boxes, scores = boxes.cuda(), scores.cuda()

    def run():
        out = torch.ops.rbox_ops.nms_rotated(boxes, scores, 0.1, None)
        torch.cuda.synchronize()
        return out

    keep = benchmark.pedantic(run, rounds=10, warmup_rounds=2)
    benchmark.extra_info["kept"] = int(keep.numel())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")
def test_box_iou_rotated_20000x20000_cuda(benchmark):
    rbox_ops.build(cuda=True)
    b1, b2 = random_boxes(20000, 1).cuda(), random_boxes(20000, 2).cuda()

    def run():
        out = torch.ops.rbox_ops.box_iou_rotated(b1, b2, 0, False)
        torch.cuda.synchronize()
        return out

    assert benchmark.pedantic(run, rounds=10, warmup_rounds=2).shape == (20000, 20000)


def _oriented_rcnn_roi_pool(device: torch.device):
    """Forward + backward of Oriented R-CNN's RoI pooling: 512 RoIs, 256 channels, 7 x 7, from a
    256 x 256 map (stride 4)."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 256, 256, 256, generator=g).to(device).requires_grad_()
    boxes = random_boxes(512, 3)
    boxes[:, 2:4] = torch.rand(512, 2, generator=g) * 200 + 16
    rois = torch.cat((torch.zeros(512, 1), boxes), 1).to(device)
    pool = rbox_ops.RoIAlignRotated(out_size=7, sample_num=2, clockwise=True, spatial_scale=0.25)
    grad = torch.randn(512, 256, 7, 7, generator=g).to(device)

    def run():
        feats.grad = None
        pool(feats, rois).backward(grad)
        _sync(device)

    return run


def rpn_proposals(levels: int = 5, per_level: int = 2000, seed: int = 3) -> tuple[torch.Tensor, ...]:
    """Oriented R-CNN's RPN at 1024 px: per level 2000 axis-aligned boxes (8-256 px) and scores."""
    g = torch.Generator().manual_seed(seed)
    n = levels * per_level
    xy = torch.rand(n, 2, generator=g) * 1024
    wh = torch.rand(n, 2, generator=g) * 248 + 8
    boxes = torch.cat((xy, xy + wh), 1)
    return boxes, torch.rand(n, generator=g), torch.arange(levels).repeat_interleave(per_level)


@pytest.mark.parametrize("iou_threshold", [0.8, 0.3])
def test_nms_rpn_proposals(benchmark, backend, iou_threshold):
    """batched_nms of 10,000 RPN proposals in 5 levels (axis-aligned: MMRotate's Oriented R-CNN
    RPN, iou 0.8; 0.3: more suppression)."""
    boxes, scores, levels = (t.to(backend) for t in rpn_proposals())
    cfg = dict(type="nms", iou_threshold=iou_threshold)

    def run():
        out = rbox_ops.batched_nms(boxes, scores, levels, cfg)[1]
        _sync(backend)
        return out

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


def test_roi_align_rotated_oriented_rcnn(benchmark, backend):
    """Forward + backward: 512 RoIs, 256 channels, 7 x 7, from a 256 x 256 map (stride 4)."""
    benchmark.pedantic(_oriented_rcnn_roi_pool(backend), rounds=3, warmup_rounds=1)


def test_roi_align_rotated_oriented_rcnn_one_thread(benchmark, monkeypatch):
    """The compiled CPU kernels of the case above on one thread: the map's NCHW <-> NHWC
    transposes (common/transpose_cpu.h) are a large part of it."""
    rbox_ops.build()
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        benchmark.pedantic(_oriented_rcnn_roi_pool(torch.device("cpu")), rounds=5, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)


def test_roi_align_faster_rcnn(benchmark, backend):
    """Forward + backward: 512 axis-aligned RoIs, 256 channels, 7 x 7, from a 256 x 256 map (stride 4)."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 256, 256, 256, generator=g).to(backend).requires_grad_()
    xy = torch.rand(512, 2, generator=g) * 800
    wh = torch.rand(512, 2, generator=g) * 200 + 16
    rois = torch.cat((torch.zeros(512, 1), xy, xy + wh), 1).to(backend)
    pool = rbox_ops.RoIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2)
    grad = torch.randn(512, 256, 7, 7, generator=g).to(backend)

    def run():
        feats.grad = None
        pool(feats, rois).backward(grad)
        _sync(backend)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("points", [1, 5])
def test_rotated_feature_align_r3det(benchmark, backend, points):
    """Forward + backward: R3Det's refinement at stride 8 of a 1024 x 1024 image (256 ch, 128 x 128)."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 256, 128, 128, generator=g).to(backend).requires_grad_()
    ys, xs = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    ctr = (torch.stack((ys, xs), -1)[None] + 0.5) * 8 + torch.randn(1, 128, 128, 2, generator=g) * 8
    wh = torch.rand(1, 128, 128, 2, generator=g) * 120 + 8
    theta = (torch.rand(1, 128, 128, 1, generator=g) - 0.5) * math.pi
    boxes = torch.cat((ctr, wh, theta), -1).to(backend)
    grad = torch.randn(1, 256, 128, 128, generator=g).to(backend)

    def run():
        feats.grad = None
        rbox_ops.rotated_feature_align(feats, boxes, 1 / 8, points).backward(grad)
        _sync(backend)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)


def test_points_in_polygons_20000x500(benchmark, backend):
    """ATSS-style: 20000 anchor centres against 500 ground-truth boxes' corners."""
    g = torch.Generator().manual_seed(0)
    points = (torch.rand(20000, 2, generator=g) * 1024).to(backend)
    b = random_boxes(500, 4)
    c, s = torch.cos(b[:, 4:]), torch.sin(b[:, 4:])
    dx = torch.cat((c * b[:, 2:3], s * b[:, 2:3]), 1) / 2
    dy = torch.cat((-s * b[:, 3:4], c * b[:, 3:4]), 1) / 2
    ctr = b[:, :2]
    polygons = torch.cat((ctr - dx - dy, ctr + dx - dy, ctr + dx + dy, ctr - dx + dy), 1).to(backend)

    def run():
        out = rbox_ops.points_in_polygons(points, polygons)
        _sync(backend)
        return out

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info["inside"] = int(out.sum())


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "forward+backward"])
def test_deform_conv2d_s2anet_align_conv(benchmark, backend, grad):
    """S2A-Net's AlignConv on its largest level: 256 -> 256 channels, 3 x 3, a 128 x 128 map."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, 128, 128, generator=g).to(backend).requires_grad_(grad)
    offset = (torch.randn(1, 18, 128, 128, generator=g) * 2).to(backend).requires_grad_(grad)
    conv = rbox_ops.DeformConv2d(256, 256, 3, padding=1).to(backend).requires_grad_(grad)
    out_grad = torch.randn(1, 256, 128, 128, generator=g).to(backend)

    def run():
        if grad:
            x.grad = offset.grad = conv.weight.grad = None
            conv(x, offset).backward(out_grad)
        else:
            with torch.no_grad():
                conv(x, offset)
        _sync(backend)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
