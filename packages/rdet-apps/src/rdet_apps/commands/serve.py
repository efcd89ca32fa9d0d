"""``rdet serve``: detect objects over HTTP (``POST /predict``), with batching of concurrent
requests. Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdet_core import DictAction

HELP = (
    "serve a checkpoint (CONFIG CHECKPOINT) or an exported MODEL.onnx over HTTP: POST /predict (an image as the body or the 'image' file of a "
    "form) answers JSON detections; GET /health, GET /classes; TorchServe's POST /predictions/<model-name> and GET /ping "
    "as MMRotate deploys a model (needs rdet-apps[serve])"
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file, or a model exported by `rdet export` (.onnx)")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint file (none for an .onnx model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000; 0: any free port)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE", help="override config settings"
    )
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="load a checkpoint that does not fit the model exactly (MMCV's behaviour)",
    )
    parser.add_argument(
        "--score-thr",
        type=float,
        default=0.3,
        help="default score threshold of the answers (0.3; a request's ?score_thr= overrides it)",
    )
    parser.add_argument(
        "--model-name",
        default=None,
        help="the name in TorchServe's POST /predictions/<name> (MMRotate's handler's answer; "
        "default: the checkpoint's or the .onnx file's stem, as mmrotate2torchserve names the .mar)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=_positive_int,
        default=8,
        help="most images per batched predict (8; 1: no batching)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=_non_negative_float,
        default=5.0,
        help="how long the first request of a batch waits for more, ms (5)",
    )
    parser.add_argument(
        "--max-queue", type=_positive_int, default=256, help="most requests waiting; more get 503 (256)"
    )
    parser.add_argument(
        "--max-upload-bytes",
        type=_positive_int,
        default=32 * 1024 * 1024,
        help="most bytes of a request body; more get 413 (32 MiB)",
    )
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=64 * 1024 * 1024,
        help="most pixels (height x width) of an image; more get 413 (64 Mpx)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rdet_apps.serve import ImageLimits, create_app, require_serve_extra, run_server

    require_serve_extra()  # before the model loads: a missing extra is the first thing said
    predictor = _predictor(args)
    # one small image first: kernels compile or load and CUDA starts before the first request
    predictor.predict([np.zeros((64, 64, 3), np.uint8)])
    app = create_app(
        predictor,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        limits=ImageLimits(max_upload_bytes=args.max_upload_bytes, max_pixels=args.max_pixels),
        score_thr=args.score_thr,
        model_name=args.model_name or Path(args.checkpoint or args.config).stem,
    )
    run_server(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _predictor(args: argparse.Namespace) -> object:
    """An ``OnnxPredictor`` for ``MODEL.onnx``, else a ``TorchPredictor`` of CONFIG + CHECKPOINT.

    Raises:
        ValueError: A checkpoint or ``--cfg-options`` / ``--device`` given with an .onnx model
            (it holds its weights and settings), or no checkpoint with a config.
    """
    from rdet_apps.apis import resolve_device
    from rdet_apps.serve import OnnxPredictor, TorchPredictor

    if str(args.config).lower().endswith(".onnx"):
        extra = [
            name
            for name, given in (
                (f"checkpoint {args.checkpoint}", args.checkpoint),
                ("--cfg-options", args.cfg_options),
                (f"--device {args.device}", args.device not in (None, "cpu")),
            )
            if given
        ]
        if extra:
            raise ValueError(
                f"{args.config} is an exported model (weights and settings inside): {', '.join(extra)} "
                "cannot apply; export again to change them"
            )
        return OnnxPredictor(args.config)
    if args.checkpoint is None:
        raise ValueError(f"rdet serve {args.config}: give the checkpoint file after the config")
    device = resolve_device(args.device, "--device")
    return TorchPredictor.from_files(
        args.config, args.checkpoint, device=device, cfg_options=args.cfg_options, strict=args.strict
    )
