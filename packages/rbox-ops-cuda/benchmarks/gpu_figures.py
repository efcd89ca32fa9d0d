"""GPU figures for nms_rotated and box_iou_rotated, printed as one JSON dict (no pytest).

Run on a CUDA machine: .venv/bin/python packages/rbox-ops-cuda/benchmarks/gpu_figures.py
Each figure is measured on its own (an error becomes "<name>_error"), so partial results
still print. Times are medians of >= 10 runs after a warm-up, timed with CUDA events.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
import traceback

import torch


def clustered(n: int, seed: int = 0, size: float = 1024.0) -> tuple[torch.Tensor, torch.Tensor]:
    """n detector-like boxes: jittered copies of n / 50 objects (as benchmarks/test_bench_ops.py)."""
    g = torch.Generator().manual_seed(seed)
    k = max(n // 50, 1)
    ctr = torch.rand(k, 2, generator=g) * size
    wh = torch.rand(k, 2, generator=g) * 60 + 4
    theta = (torch.rand(k, 1, generator=g) - 0.5) * math.pi
    objects = torch.cat((ctr, wh, theta), 1)
    pick = torch.randint(k, (n,), generator=g)
    boxes = objects[pick] + torch.randn(n, 5, generator=g) * torch.tensor([4.0, 4.0, 3.0, 3.0, 0.08])
    boxes[:, 2:4] = boxes[:, 2:4].clamp(min=2)
    return boxes, torch.rand(n, generator=g)


def random_boxes(n: int, seed: int, size: float = 1024.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 60 + 4
    theta = (torch.rand(n, 1, generator=g) - 0.5) * math.pi
    return torch.cat((ctr, wh, theta), 1)


def cuda_ms(fn, reps: int = 10, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def cpu_ms(fn, reps: int = 3) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> dict:
    out: dict = {}
    deadline = [time.monotonic() + 600]  # until the build is done

    def figure(name, fn):
        if time.monotonic() > deadline[0]:
            out[f"{name}_error"] = "skipped: out of time"
            return
        try:
            fn()
        except Exception as exc:  # report and go on
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:500]
            traceback.print_exc(file=sys.stderr)
        print(json.dumps(out), file=sys.stderr, flush=True)  # partial results as we go

    import rbox_ops

    t0 = time.perf_counter()
    figure("build", lambda: out.update(build=rbox_ops.build(cuda=True)))
    out["build_s"] = round(time.perf_counter() - t0, 1)
    deadline[0] = time.monotonic() + 80
    out["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    torch.set_num_threads(16)
    op = torch.ops.rbox_ops

    for n in (10_000, 30_000, 100_000):

        def nms_figures(n=n):
            b, s = clustered(n)
            bc, sc = b.cuda(), s.cuda()
            out[f"nms_rotated_{n}_cuda_ms"] = round(cuda_ms(lambda: op.nms_rotated(bc, sc, 0.1, None)), 3)
            out[f"nms_rotated_{n}_sort_gather_ms"] = round(
                cuda_ms(lambda: bc.index_select(0, sc.sort(stable=True, descending=True)[1])), 3
            )
            keep_gpu = op.nms_rotated(bc, sc, 0.1, None).cpu()
            out[f"nms_rotated_{n}_kept"] = int(keep_gpu.numel())
            keep_cpu = op.nms_rotated(b, s, 0.1, None)
            out[f"nms_rotated_{n}_keep_match"] = bool(torch.equal(keep_cpu, keep_gpu))
            if not out[f"nms_rotated_{n}_keep_match"]:
                out[f"nms_rotated_{n}_kept_cpu"] = int(keep_cpu.numel())
            out[f"nms_rotated_{n}_cpu16_ms"] = round(
                cpu_ms(lambda: op.nms_rotated(b, s, 0.1, None), reps=1), 1
            )

        figure(f"nms_rotated_{n}", nms_figures)

    def iou_figures(n=20_000):
        b1, b2 = random_boxes(n, 1).cuda(), random_boxes(n, 2).cuda()
        out["box_iou_20k_cuda_ms"] = round(cuda_ms(lambda: op.box_iou_rotated(b1, b2, 0, False)), 3)
        buf = torch.empty(n, n, device="cuda")
        src = torch.empty(n, n, device="cuda")
        gb = n * n * 4 / 1e9
        out["write_bound_GB"] = round(gb, 3)
        # the bound: writing the (n, n) float32 output once, timed as a fill of that size
        out["write_bound_fill_ms"] = round(cuda_ms(lambda: buf.fill_(0)), 3)
        out["fill_TBps"] = round(gb / out["write_bound_fill_ms"], 2)
        # the copy rate (read + write counted) and the bound it gives: GB / rate
        out["copy_ms"] = round(cuda_ms(lambda: buf.copy_(src)), 3)
        out["copy_TBps"] = round(2 * gb / out["copy_ms"], 2)
        out["write_bound_copy_rate_ms"] = round(gb / out["copy_TBps"], 3)
        out["box_iou_20k_ratio_to_fill"] = round(out["box_iou_20k_cuda_ms"] / out["write_bound_fill_ms"], 2)
        out["box_iou_20k_ratio_to_copy_rate"] = round(
            out["box_iou_20k_cuda_ms"] / out["write_bound_copy_rate_ms"], 2
        )
        # where the time goes (stages left out): no pair's bounding circles meet (boxes of 0.5 px:
        # the writes and the circle tests alone), and every pair's meet (2000 x 2000 boxes around
        # one point: the exact overlap alone, 4M pairs); the pairs with some overlap in the 20k set
        tiny1, tiny2 = b1.clone(), b2.clone()
        tiny1[:, 2:4] = tiny2[:, 2:4] = 0.5
        out["box_iou_20k_no_candidates_ms"] = round(
            cuda_ms(lambda: op.box_iou_rotated(tiny1, tiny2, 0, False)), 3
        )
        near1, near2 = b1[:2000].clone(), b2[:2000].clone()
        near1[:, :2] = near2[:, :2] = 512.0
        out["box_iou_2k_all_candidates_ms"] = round(
            cuda_ms(lambda: op.box_iou_rotated(near1, near2, 0, False)), 3
        )
        out["box_iou_20k_pairs_overlapping"] = int((op.box_iou_rotated(b1, b2, 0, False) > 0).sum())
        small1, small2 = b1[:2000], b2[:2000]
        gpu = op.box_iou_rotated(small1, small2, 0, False).cpu()
        cpu = op.box_iou_rotated(small1.cpu(), small2.cpu(), 0, False)
        out["box_iou_2k_max_abs_diff_cuda_cpu"] = float((gpu - cpu).abs().max())
        out["box_iou_2k_bit_equal_fraction"] = float((gpu == cpu).float().mean())

    figure("box_iou", iou_figures)
    return out


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print(json.dumps({"error": "CUDA is not available"}))
        sys.exit(1)
    result = main()
    print(json.dumps(result, indent=1))
