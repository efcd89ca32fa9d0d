"""``rdet benchmark``: MMRotate's tools/analysis_tools/benchmark.py (inference speed)."""

from __future__ import annotations

import argparse

from rdet_apps.amp import add_amp_argument
from rdet_core import DictAction

HELP = "inference speed (images/s) of a checkpoint on the config's test data or random images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--repeat-num", type=int, default=1, help="repeat the measurement (default 1)")
    parser.add_argument("--max-iter", type=int, default=2000, help="images to run, warm-up included (2000)")
    parser.add_argument("--log-interval", type=int, default=50, help="print the speed every N images (50)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="random images of this size through the test pipeline instead of the config's test data",
    )
    parser.add_argument(
        "--fuse-conv-bn",
        action="store_true",
        help="fold BatchNorm into the convolutions before it (faster inference, same detections)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    add_amp_argument(parser)
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="load a checkpoint that does not fit the model exactly",
    )
    parser.add_argument(
        "--launcher",
        choices=("none", "pytorch", "slurm"),
        default="none",
        help="as MMRotate's docs run it (python -m torch.distributed.launch ... --launcher pytorch): each "
        "process joins the group and times its own device; none (default): this process alone",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override settings",
    )


def run(args: argparse.Namespace) -> int:
    from rdet_apps.tools.benchmark import WARMUP

    for name in ("repeat_num", "max_iter", "log_interval"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be positive")
    if args.max_iter <= WARMUP:
        raise ValueError(f"--max-iter {args.max_iter}: must exceed the {WARMUP} warm-up iterations")
    if args.shape is not None and min(args.shape) <= 0:
        raise ValueError(f"--shape {args.shape[0]} {args.shape[1]}: sizes must be positive")
    rank, world = 0, 1
    if args.launcher != "none":
        from rdet_apps.engine import dist_params, init_dist
        from rdet_core import Config

        cfg = Config.fromfile(args.config)
        from rdet_apps.cfg_options import merge_cfg_options

        merge_cfg_options(cfg, args.cfg_options)
        rank, world = init_dist(args.launcher, **dist_params(cfg))
    try:
        return _run(args, rank, world)
    finally:
        if args.launcher != "none":
            from rdet_apps.engine import leave_process_group

            leave_process_group()


def _run(args: argparse.Namespace, rank: int, world: int) -> int:
    import numpy as np

    from rdet_apps.apis import init_detector, resolve_device
    from rdet_apps.tools.benchmark import WARMUP, measure, random_batches

    who = f"rank {rank} of {world}: " if world > 1 else ""
    device = resolve_device(args.device, "--device")
    model = init_detector(
        args.config,
        args.checkpoint,
        device=device,
        cfg_options=args.cfg_options,
        strict=args.strict,
        fuse_conv_bn=args.fuse_conv_bn,
        amp=args.amp,
    )
    if args.shape is not None:
        source = f"random {args.shape[0]}x{args.shape[1]} images"

        def batches():
            return random_batches(model, tuple(args.shape), args.max_iter)
    else:
        from rdet_data import build_dataloader, build_dataset

        test_cfg = dict(model.cfg.data.test)
        test_cfg.pop("samples_per_gpu", None)
        dataset = build_dataset({**test_cfg, "test_mode": True})
        workers = model.cfg.data.get("workers_per_gpu", 2)
        loader = build_dataloader(
            dataset, samples_per_gpu=1, workers_per_gpu=workers, dist=False, shuffle=False
        )
        if len(dataset) == 0:
            raise ValueError(f"{args.config}: the test set is empty; give --shape H W for random images")
        source = f"the config's test data ({len(dataset)} images, repeated up to --max-iter)"

        def batches():
            while True:  # MMRotate stops at the loader's end; a small test set is repeated
                yield from loader

    precision = f"{model.amp} autocast" if model.amp else "float32"
    print(
        f"{who}benchmark on {device} ({precision}), {source}: {WARMUP} warm-up iterations, then timed (model only)"
    )
    speeds = []
    for r in range(args.repeat_num):
        fps = measure(model, batches(), args.max_iter, args.log_interval)
        print(f"{who}Overall fps: {fps:.2f} img / s" + (f" (run {r + 1})" if args.repeat_num > 1 else ""))
        speeds.append(fps)
    if args.repeat_num > 1:
        print(f"Overall average fps: {np.mean(speeds):.2f} img / s, std {np.std(speeds):.2f}")
    return 0
