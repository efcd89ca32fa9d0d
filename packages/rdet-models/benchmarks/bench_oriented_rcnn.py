"""Time Oriented R-CNN R50-FPN (MMRotate's oriented_rcnn_r50_fpn_1x_dota_le90 config as shipped,
random weights) on this machine: one training iteration (forward + backward) and one inference
of a 1024 x 1024 image, and where the time goes.

    python packages/rdet-models/benchmarks/bench_oriented_rcnn.py [--size 1024] [--repeat 2] [--device cpu]

Prints the mean seconds of each, the time per stage (backbone, neck, RPN head, proposals,
RoI head, backward) and torch.profiler's top-5 operators by self CPU time.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

import rdet_models
from rdet_core import Config


def label(fn, name: str):  # type: ignore[no-untyped-def]
    @functools.wraps(fn)
    def inner(*args, **kwargs):  # type: ignore[no-untyped-def]
        with record_function(name):
            return fn(*args, **kwargs)

    return inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    shared = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))
    cfg = Config.fromfile(
        shared / "configs/mmrotate-0.3.4/oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py"
    )
    cfg.merge_from_dict({"model.backbone.init_cfg": None})
    torch.manual_seed(0)
    model = rdet_models.build_detector(cfg.model).to(args.device)
    model.init_weights()
    s = args.size
    img = torch.randn(1, 3, s, s, device=args.device)
    metas = [dict(img_shape=(s, s, 3), pad_shape=(s, s, 3), ori_shape=(s, s, 3), scale_factor=[1.0] * 4)]
    boxes = torch.tensor(
        [
            [s * f, s * (1 - f), s / 10 + 40 * f, s / 30 + 10, f * 3 - 1.5]
            for f in (0.2, 0.35, 0.5, 0.65, 0.8)
        ],
        device=args.device,
    )
    labels = torch.tensor([0, 3, 5, 7, 14], device=args.device)

    # stage labels for the profiler
    model.backbone.forward = label(model.backbone.forward, "stage: backbone")
    model.neck.forward = label(model.neck.forward, "stage: neck (FPN)")
    rpn = model.rpn_head
    rpn.forward = label(rpn.forward, "stage: rpn head convs")
    rpn.loss = label(rpn.loss, "stage: rpn targets + loss")
    rpn.get_bboxes = label(rpn.get_bboxes, "stage: rpn proposals (decode + NMS)")
    roi = model.roi_head
    roi.bbox_roi_extractor.forward = label(roi.bbox_roi_extractor.forward, "stage: roi align rotated")
    roi.bbox_head.forward = label(roi.bbox_head.forward, "stage: bbox head fcs")
    roi.bbox_head.get_bboxes = label(roi.bbox_head.get_bboxes, "stage: bbox decode + NMS")
    roi.bbox_head.loss = label(roi.bbox_head.loss, "stage: bbox head loss")
    roi.bbox_assigner.assign = label(roi.bbox_assigner.assign, "stage: rcnn assign (rotated IoU)")

    def train_step() -> None:
        losses = model.forward_train(img, metas, [boxes], [labels])
        loss, _ = rdet_models.parse_losses(losses)
        with record_function("stage: backward"):
            loss.backward()

    def infer() -> None:
        with torch.no_grad():
            model.simple_test(img, metas, rescale=True)

    print(f"Oriented R-CNN R50-FPN, 1 image {s}x{s}, {args.device}, {torch.get_num_threads()} threads")
    for name, fn, mode in (
        ("training iteration (forward + backward)", train_step, True),
        ("inference", infer, False),
    ):
        model.train(mode)
        fn()  # warm-up
        t = time.perf_counter()
        for _ in range(args.repeat):
            fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        secs = (time.perf_counter() - t) / args.repeat
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        events = prof.key_averages()
        stages = sorted((e for e in events if e.key.startswith("stage:")), key=lambda e: -e.cpu_time_total)
        ops = sorted(
            (e for e in events if not e.key.startswith("stage:")), key=lambda e: -e.self_cpu_time_total
        )
        total = sum(e.self_cpu_time_total for e in events) / 1e6
        print(f"\n{name}: {secs:.2f} s (mean of {args.repeat})")
        print("  stages (inclusive):")
        for e in stages:
            print(f"    {e.key[7:]:38s} {e.cpu_time_total / 1e6:6.2f} s")
        print("  top-5 operators (self CPU):")
        for e in ops[:5]:
            pct = 100 * e.self_cpu_time_total / 1e6 / total
            print(f"    {e.key:38s} {e.self_cpu_time_total / 1e6:6.2f} s  {pct:4.1f}%  x{e.count}")


if __name__ == "__main__":
    main()
