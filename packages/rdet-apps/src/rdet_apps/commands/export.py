"""``rdet export``: a config + checkpoint as an ONNX model of standard operators, for ``rdet_deploy``."""

from __future__ import annotations

import argparse

from rdet_core import DictAction

HELP = "export a detector to ONNX (network and box decoding; NMS runs in rdet_deploy)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="output format (onnx)")
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    parser.add_argument(
        "--shape",
        type=int,
        nargs="+",
        default=None,
        help="network input H W (or one size for both); default: the test pipeline's largest padded image. "
        "With --dynamic: the size it is traced at",
    )
    parser.add_argument("--batch", type=int, default=1, help="images per run (default 1; two-stage: 1)")
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help="free input height and width, and batch (Oriented R-CNN: 1): rdet_deploy then pads each image "
        "only to the pipeline's size divisor; checked by one run at another size",
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
    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx

    shape = None
    if args.shape is not None:
        if len(args.shape) not in (1, 2) or min(args.shape) <= 0:
            raise ValueError(f"--shape {' '.join(map(str, args.shape))}: give H W or one size, positive")
        shape = (args.shape[0], args.shape[-1])
    if args.batch <= 0:
        raise ValueError(f"--batch {args.batch}: must be positive")
    model = init_detector(args.config, args.checkpoint, device="cpu", cfg_options=args.cfg_options)
    spec = export_onnx(model, args.out, input_shape=shape, batch=args.batch, dynamic=args.dynamic)
    inp = spec["input"]
    if inp["dynamic"]:
        batch = "N" if inp["batch"] is None else inp["batch"]
        pad = f"padded to multiples of {inp['size_divisor']}" if inp["size_divisor"] else "unpadded"
        shape_text = f"({batch}, 3, H, W), any size (rdet_deploy: {pad})"
    else:
        batch = inp["batch"]
        shape_text = f"({batch}, 3, {inp['height']}, {inp['width']})"
    print(
        f"{spec['model']} -> {args.out}: input img {shape_text} and img_shape ({batch}, 2) (each image's "
        "size before padding); outputs boxes, scores, score_factors (before NMS)"
    )
    return 0
