"""``rdet test``: MMRotate's tools/test.py (evaluate, save results, write a DOTA submission)."""

from __future__ import annotations

import argparse
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rdet_apps.amp import add_amp_argument
from rdet_core import Config, DictAction

HELP = "test a checkpoint: --eval mAP, --out results.pkl, --format-only submission files, --show-dir pictures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "--out", help="write the results (a list per image of per-class (k, 6) arrays) to this .pkl"
    )
    parser.add_argument("--eval", nargs="+", default=[], help="metrics, e.g. mAP")
    parser.add_argument(
        "--format-only",
        action="store_true",
        help="write DOTA submission files (--eval-options submission_dir=DIR)",
    )
    parser.add_argument("--show-dir", help="draw the detections of every image into this folder")
    parser.add_argument(
        "--pr-curves",
        metavar="DIR",
        help="with --eval mAP: precision-recall curves per class into DIR (pr_<class>.csv: recall, "
        "precision; pr_curves.png with matplotlib)",
    )
    parser.add_argument("--show-score-thr", type=float, default=0.3, help="score threshold of the pictures")
    parser.add_argument(
        "--fuse-conv-bn",
        action="store_true",
        help="fold BatchNorm into the convolutions before it (faster inference, same detections)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    gpus = parser.add_mutually_exclusive_group()
    gpus.add_argument("--gpu-id", type=int, help="the GPU to test on without a launcher (--device cuda:N)")
    gpus.add_argument("--gpu-ids", type=int, nargs="+", help="(MMRotate's) the first of these GPUs is used")
    add_amp_argument(parser)
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="load a checkpoint that does not fit the model exactly (MMCV's behaviour): what fits is "
        "loaded, the rest reported; by default any missing, unexpected or mismatched key is an error",
    )
    parser.add_argument(
        "--launcher", choices=("none", "pytorch", "slurm"), default="none", help="distributed launcher"
    )
    parser.add_argument(
        "--gpu-collect",
        action="store_true",
        help="under a launcher, gather the results through the process group (rdet's default)",
    )
    parser.add_argument(
        "--tmpdir",
        help="under a launcher, gather the results through files in this folder instead (MMCV's CPU "
        "collection; it must be shared by the processes)",
    )
    parser.add_argument(
        "--work-dir", help="write the --eval metrics to <work-dir>/eval_<timestamp>.json (MMRotate's)"
    )
    parser.add_argument(
        "--local_rank",
        "--local-rank",
        dest="local_rank",
        type=int,
        default=0,
        help="what torch.distributed.launch passes (LOCAL_RANK, unless the environment has it)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override settings",
    )
    parser.add_argument(
        "--eval-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="options of the evaluation or of --format-only",
    )
    parser.add_argument(
        "--options", nargs="+", action=DictAction, metavar="KEY=VALUE", help="(deprecated: --eval-options)"
    )


def format_submission(
    dataset: Any, results: Sequence[Any], submission_dir: str | os.PathLike, nms_thr: float = 0.1
) -> list[Path]:
    """DOTA Task1 files (and their zip, :func:`submission_zip`) for ``results`` (per image ``Detections``, or MMRotate's
    per-class lists); patch results are merged onto the whole images first (class-wise
    rotated NMS at ``nms_thr``, as MMRotate)."""
    from rdet_eval import merge_patch_results, parse_patch_name, write_submission, zip_submission

    names = list(dataset.img_ids)
    try:
        for n in names:
            parse_patch_name(n)
        patches = True
    except ValueError:
        patches = False  # whole images: nothing to merge
    if patches:
        merged = merge_patch_results(list(zip(names, results)), nms_thr=nms_thr)
        names, results = list(merged), list(merged.values())
    files = write_submission(submission_dir, names, results, list(dataset.CLASSES))
    zip_submission(files, submission_zip(submission_dir))
    return files


def submission_zip(submission_dir: str | os.PathLike) -> Path:
    """Where the zip of the Task1 files goes: ``<dir>/<dir's name>.zip``, as MMRotate's
    ``DOTADataset.format_results`` writes it (scripts that upload it find it there)."""
    folder = Path(submission_dir).resolve()
    return folder / f"{folder.name}.zip"


_FORMAT_OPTIONS = ("submission_dir", "nms_thr")


def _check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> None:
    """Fail now, not after the inference pass, when ``path`` cannot be written: the folder (of
    a file: its parent) is created, and a file is tried in it."""
    import tempfile

    path = Path(path)
    parent = path if folder else path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise NotADirectoryError(f"{what} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: cannot write in {existing}")
    if not folder and path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise PermissionError(f"{what} {path}: exists and cannot be written")
    try:  # os.access says yes to root everywhere, and knows nothing of /proc or read-only mounts
        parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as err:
        raise PermissionError(f"{what} {path}: cannot write in {parent} ({err.strerror or err})") from err


def check_outputs(args: argparse.Namespace) -> None:
    """The outputs asked for can be written (before any inference); their folders are made.

    Raises:
        ValueError: ``--out`` not a .pkl; ``--show-score-thr`` outside [0, 1]; ``--pr-curves``
            without ``--eval mAP``.
        NotADirectoryError, PermissionError: an output that cannot be written, naming its option.
    """
    if args.out:
        if not str(args.out).endswith((".pkl", ".pickle")):
            raise ValueError(
                f"--out {args.out}: the results file must end in .pkl or .pickle (MMRotate's format)"
            )
        _check_writable(args.out, "--out")
    if not 0 <= args.show_score_thr <= 1:
        raise ValueError(f"--show-score-thr {args.show_score_thr}: must be in [0, 1]")
    if args.show_dir:
        _check_writable(args.show_dir, "--show-dir", folder=True)
    if getattr(args, "pr_curves", None):
        if "mAP" not in args.eval:
            raise ValueError(f"--pr-curves {args.pr_curves}: needs --eval mAP")
        _check_writable(args.pr_curves, "--pr-curves", folder=True)
    if args.format_only:
        _check_writable(args.eval_options.get("submission_dir", "submission"), "submission_dir", folder=True)
    if getattr(args, "work_dir", None):
        _check_writable(args.work_dir, "--work-dir", folder=True)


def check_classes(
    model_classes: Sequence[str] | None, dataset_classes: Sequence[str] | None, checkpoint: str
) -> None:
    """The model's classes (its checkpoint's ``meta['CLASSES']``) are the test set's, in the same
    order: the detections' label k is scored as the dataset's class k. MMRotate scores them
    anyway (a checkpoint trained with ``classes=('ship', 'plane')`` tested on the default order
    swaps the two silently).

    Raises:
        ValueError: Both are known and differ, naming both lists.
    """
    if model_classes is None or dataset_classes is None:
        return
    if tuple(model_classes) != tuple(dataset_classes):
        how = "in another order" if sorted(model_classes) == sorted(dataset_classes) else "other classes"
        raise ValueError(
            f"checkpoint {checkpoint}: its classes {list(model_classes)} are not the test set's "
            f"{list(dataset_classes)} ({how}): label k would be scored as another class; give the test "
            "set the checkpoint's classes (data.test.classes) or test the checkpoint its config was for"
        )


def config_evaluate_args(cfg: Any, dataset: Any) -> dict[str, Any]:
    """The config's ``evaluation`` arguments that go to ``dataset.evaluate`` with ``--eval``
    (MMRotate's tools/test.py: ``iou_thr``, ``scale_ranges``, ``nproc`` ...), without the hook's
    own keys and ``metric`` (``--eval`` names it); ``--eval-options`` override them.

    Raises:
        KeyError / ValueError: a key ``dataset.evaluate`` does not take, or a bad value, named
            as ``evaluation.<key>`` (before inference).
    """
    import inspect

    from rdet_apps.engine.config_checks import EVAL_HOOK_KEYS, check_evaluate_values

    evaluation = dict(cfg.get("evaluation") or {})
    found = {k: v for k, v in evaluation.items() if k not in EVAL_HOOK_KEYS and k != "metric"}
    params = inspect.signature(dataset.evaluate).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(k for k in found if k not in params or k in ("self", "results", "logger", "scorer"))
        if unknown:
            raise KeyError(
                f"evaluation.{unknown[0]}: not an argument of {type(dataset).__name__}.evaluate "
                f"(rdet test --eval passes the config's evaluation arguments on, as MMRotate's tools/test.py)"
            )
    if str(getattr(dataset.evaluate, "__module__", "")).startswith("rdet_data."):
        check_evaluate_values(found, "evaluation")
    return found


def check_evaluation(dataset: Any, args: argparse.Namespace) -> None:
    """``--eval`` metrics and ``--eval-options`` that the dataset understands (before inference)."""
    import inspect

    supported = tuple(getattr(dataset, "METRICS", ("mAP",)))
    for metric in args.eval:
        if metric not in supported:
            raise ValueError(
                f"--eval {metric}: {type(dataset).__name__} computes {', '.join(supported)} "
                "(MMRotate's bbox / segm / proposal metrics are MMDetection's, not for rotated boxes)"
            )
    if args.format_only:
        allowed = set(_FORMAT_OPTIONS)
    else:
        params = inspect.signature(dataset.evaluate).parameters
        allowed = {n for n in params if n not in ("self", "results", "metric", "logger", "scorer", "kwargs")}
    unknown = sorted(set(args.eval_options) - allowed)
    if unknown:
        import difflib

        hints = [
            f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, allowed, 1)) else k
            for k in unknown
        ]
        raise KeyError(
            f"--eval-options {', '.join(hints)}: not an option of {'--format-only' if args.format_only else type(dataset).__name__ + '.evaluate'}; options: {', '.join(sorted(allowed))}"
        )
    if not args.format_only and str(getattr(dataset.evaluate, "__module__", "")).startswith("rdet_data."):
        from rdet_apps.engine.config_checks import check_evaluate_values

        check_evaluate_values(args.eval_options, "--eval-options")  # before inference, not after it


def run(args: argparse.Namespace) -> int:
    from rdet_apps.apis import init_detector
    from rdet_apps.apis.inference import resolve_device
    from rdet_apps.apis.test import (
        check_show_dir,
        evaluate_results,
        multi_gpu_test,
        single_gpu_test,
        to_mmrotate_results,
    )
    from rdet_apps.commands.train import apply_launcher_args, gpu_device
    from rdet_apps.engine import dist_params, init_dist, leave_process_group
    from rdet_apps.engine.config_checks import check_multiprocessing_config
    from rdet_apps.engine.workers import loader_args, setup_multi_processes
    from rdet_data import build_dataloader, build_dataset

    apply_launcher_args(args, eval_alias=True)
    if not (args.out or args.eval or args.format_only or args.show_dir):
        raise ValueError("nothing to do: give --out, --eval, --format-only or --show-dir")
    if args.format_only and args.eval:
        raise ValueError("--eval and --format-only cannot be both given")
    distributed = args.launcher != "none"
    if (args.gpu_id is not None or args.gpu_ids) and args.device is not None:
        raise ValueError("--gpu-id / --gpu-ids and --device cannot be both given")
    device = gpu_device(args, distributed) or resolve_device(args.device, "--device")
    if not distributed and (args.tmpdir or args.gpu_collect):
        raise ValueError("--tmpdir / --gpu-collect gather the results of several processes: give --launcher")
    if args.tmpdir and args.gpu_collect:
        raise ValueError("--tmpdir and --gpu-collect cannot be both given (one way of gathering the results)")
    check_outputs(args)
    cfg = Config.fromfile(args.config)
    from rdet_apps.cfg_options import merge_cfg_options

    merge_cfg_options(cfg, args.cfg_options)
    check_multiprocessing_config(cfg)
    setup_multi_processes(cfg)
    rank = init_dist(args.launcher, **dist_params(cfg))[0] if distributed else 0
    test_cfg = dict(cfg.data.test)
    test_cfg.pop("samples_per_gpu", None)
    dataset = build_dataset({**test_cfg, "test_mode": True})
    if args.eval:  # MMRotate's tools/test.py: the config's evaluation arguments, then --eval-options
        args.eval_options = {**config_evaluate_args(cfg, dataset), **args.eval_options}
    check_evaluation(dataset, args)
    if args.show_dir:
        check_show_dir(dataset, args.show_dir, "--show-dir")
    loader = build_dataloader(dataset, **loader_args(cfg.data, "test", dist=distributed))
    model = init_detector(
        cfg,
        args.checkpoint,
        device=device,
        strict=args.strict,
        fuse_conv_bn=args.fuse_conv_bn,
        amp=args.amp,
    )
    check_classes(model.CLASSES, dataset.CLASSES, args.checkpoint)
    model.CLASSES = model.CLASSES or dataset.CLASSES
    results = (
        multi_gpu_test(
            model, loader, show_dir=args.show_dir, show_score_thr=args.show_score_thr, tmpdir=args.tmpdir
        )
        if distributed
        else single_gpu_test(model, loader, args.show_dir, args.show_score_thr)
    )
    leave_process_group()  # rank 0 has gathered the results: the rest is its own
    if rank != 0:
        return 0
    if args.out:
        with open(args.out, "wb") as f:  # MMRotate's format: its tools load this file
            pickle.dump(to_mmrotate_results(results, len(dataset.CLASSES)), f)
        print(f"results written to {args.out}")
    if args.format_only:
        out = args.eval_options.get("submission_dir", "submission")
        files = format_submission(dataset, results, out, args.eval_options.get("nms_thr", 0.1))
        print(f"{len(files)} submission files and {submission_zip(out).name} in {out}")
    if args.eval:
        all_metrics: dict[str, Any] = {}
        for metric in args.eval:
            metrics = evaluate_results(dataset, results, {**args.eval_options, "metric": metric})
            all_metrics.update(metrics)
            print(
                ", ".join(
                    f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items()
                )
            )
        if args.work_dir:
            write_metrics(args.work_dir, args.config, all_metrics)
    if getattr(args, "pr_curves", None):
        write_pr(dataset, results, args.pr_curves, args.eval_options)
    return 0


def write_metrics(work_dir: str | os.PathLike, config: str, metrics: dict[str, Any]) -> Path:
    """MMRotate's ``--work-dir`` record: ``<work_dir>/eval_<timestamp>.json`` holding
    ``{"config": ..., "metric": {...}}``. Returns its path."""
    import json
    import time

    folder = Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"eval_{time.strftime('%Y%m%d_%H%M%S', time.localtime())}.json"
    plain = {k: float(v) if isinstance(v, (int, float)) else v for k, v in metrics.items()}
    path.write_text(json.dumps({"config": str(config), "metric": plain}, indent=2, default=str))
    print(f"metrics written to {path}")
    return path


def write_pr(dataset: Any, results: Sequence[Any], out_dir: str, eval_options: dict[str, Any]) -> None:
    """Precision-recall curves per class (``--pr-curves``) at the evaluation's first IoU."""
    from rdet_apps.tools.pr_curves import pr_curves, write_pr_curves

    iou = eval_options.get("iou_thr", 0.5)
    iou = float(iou if isinstance(iou, (int, float)) else next(iter(iou)))
    annotations = [dataset.get_ann_info(i) for i in range(len(dataset))]
    curves = pr_curves(
        results, annotations, list(dataset.CLASSES), iou, bool(eval_options.get("use_07_metric", True))
    )
    files = write_pr_curves(curves, out_dir, iou)
    png = any(f.suffix == ".png" for f in files)
    print(
        f"precision-recall curves of {len(curves)} classes in {out_dir}"
        + ("" if png else " (CSV only: pip install 'rdet-apps[plot]' for the picture)")
    )
