"""Time Rotated RetinaNet (MMRotate's obb le90 config) on this machine: a training step and inference.

    python packages/rdet-models/benchmarks/bench_retinanet.py [--full] [--size 512] [--device cpu]

Default: the small-backbone variant of the golden model cases (ResNet-18 at 1/4 width);
``--full``: the config as shipped (ResNet-50, 256-channel FPN and head).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import rdet_models
from rdet_core import Config

SMALL = {
    "model.backbone.depth": 18,
    "model.backbone.base_channels": 16,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 32,
    "model.bbox_head.in_channels": 32,
    "model.bbox_head.feat_channels": 32,
    "model.bbox_head.stacked_convs": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shared = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))
    cfg = Config.fromfile(
        shared / "configs/mmrotate-0.3.4/rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py"
    )
    cfg.merge_from_dict({"model.backbone.init_cfg": None, **({} if args.full else SMALL)})
    model = rdet_models.build_detector(cfg.model).to(args.device)
    model.init_weights()
    s = args.size
    img = torch.randn(2, 3, s, s, device=args.device)
    metas = [
        dict(img_shape=(s, s, 3), pad_shape=(s, s, 3), ori_shape=(s, s, 3), scale_factor=[1.0] * 4)
        for _ in range(2)
    ]
    boxes = torch.tensor(
        [[s / 4, s / 4, s / 5, s / 12, 0.3], [s / 2, s / 2, s / 8, s / 6, -1.0]], device=args.device
    )
    labels = torch.tensor([0, 3], device=args.device)

    def train_step() -> None:
        loss, _ = rdet_models.parse_losses(model.forward_train(img, metas, [boxes, boxes], [labels, labels]))
        loss.backward()

    def infer() -> None:
        with torch.no_grad():
            model.simple_test(img, metas, rescale=True)

    for name, fn, mode in (("train step", train_step, True), ("inference", infer, False)):
        model.train(mode)
        fn()  # warm-up
        t = time.perf_counter()
        for _ in range(args.repeat):
            fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t) / args.repeat * 1000
        print(f"{'full' if args.full else 'small'} {name}: 2 images {s}x{s}: {ms:.0f} ms on {args.device}")


if __name__ == "__main__":
    main()
