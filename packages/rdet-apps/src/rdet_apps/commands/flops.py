"""``rdet flops``: MMRotate's tools/analysis_tools/get_flops.py (FLOPs and parameters)."""

from __future__ import annotations

import argparse

from rdet_core import DictAction

HELP = "FLOPs and parameters of a config's model, per top-level module and in total"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument(
        "--shape", type=int, nargs="+", default=[1024, 1024], help="input size: H W, or one size for both"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override settings",
    )


def run(args: argparse.Namespace) -> int:
    from rdet_apps.apis import init_detector, resolve_device
    from rdet_apps.tools.flops import NOT_COUNTED, count_flops

    if len(args.shape) == 1:
        shape = (args.shape[0], args.shape[0])
    elif len(args.shape) == 2:
        shape = tuple(args.shape)
    else:
        raise ValueError(f"--shape {' '.join(map(str, args.shape))}: give H W or one size")
    if min(shape) <= 0:
        raise ValueError(f"--shape {' '.join(map(str, args.shape))}: sizes must be positive")
    device = resolve_device(args.device, "--device")
    model = init_detector(args.config, None, device=device, cfg_options=args.cfg_options)
    report = count_flops(model, shape)
    print(f"{type(model).__name__}, input shape {tuple(report.shape)}")
    print(report.table())
    print(", ".join(f"{op}: {n / 1e9:.4f} G" for op, n in report.ops.items()))
    print("FLOPs count a multiply-add as 2 (PyTorch's FlopCounterMode); MMCV's get_flops reports")
    print("multiply-adds: divide by 2 to compare. rbox_ops.deform_conv2d is counted as a convolution.")
    print("Not counted: " + "; ".join(NOT_COUNTED) + ".")
    return 0
