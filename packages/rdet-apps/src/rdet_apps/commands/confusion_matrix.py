"""``rdet confusion-matrix``: MMRotate's tools/analysis_tools/confusion_matrix.py."""

from __future__ import annotations

import argparse

import numpy as np

from rdet_core import DictAction

HELP = "confusion matrix of rdet test --out results against the test annotations (PNG, CSV, NPY)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="test config file")
    parser.add_argument("prediction_path", help="results .pkl written by rdet test --out")
    parser.add_argument("save_dir", help="folder of confusion_matrix.png / .csv / .npy")
    parser.add_argument("--show", action="store_true", help="show the matrix in a window too")
    parser.add_argument("--color-theme", default="plasma", help="matplotlib colour map (default plasma)")
    parser.add_argument(
        "--score-thr", type=float, default=0.3, help="detections below this score are left out (0.3)"
    )
    parser.add_argument(
        "--tp-iou-thr", type=float, default=0.5, help="IoU at which a detection matches an object (0.5)"
    )
    parser.add_argument(
        "--nms-iou-thr", type=float, default=None, help="rotated NMS per class first, at this IoU"
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
    from rdet_apps.tools.confusion import check_color_theme, load_results, save_confusion_matrix
    from rdet_core import Config
    from rdet_data import build_dataset
    from rdet_eval import confusion_matrix

    if not 0 <= args.score_thr <= 1:
        raise ValueError(f"--score-thr {args.score_thr}: must lie in [0, 1] (scores do)")
    if not 0 < args.tp_iou_thr <= 1:
        raise ValueError(f"--tp-iou-thr {args.tp_iou_thr}: must lie in (0, 1]")
    if args.nms_iou_thr is not None and not 0 < args.nms_iou_thr <= 1:
        raise ValueError(f"--nms-iou-thr {args.nms_iou_thr}: must lie in (0, 1]")
    check_color_theme(args.color_theme)
    cfg = Config.fromfile(args.config)
    from rdet_apps.cfg_options import merge_cfg_options

    merge_cfg_options(cfg, args.cfg_options)
    test_cfg = dict(cfg.data.test)
    test_cfg.pop("samples_per_gpu", None)
    dataset = build_dataset({**test_cfg, "test_mode": True})
    classes = list(dataset.CLASSES)
    results = load_results(args.prediction_path, len(dataset), len(classes))
    annotations = [dataset.get_ann_info(i) for i in range(len(dataset))]
    matrix = confusion_matrix(
        results,
        annotations,
        score_thr=args.score_thr,
        tp_iou_thr=args.tp_iou_thr,
        nms_iou_thr=args.nms_iou_thr,
        num_classes=len(classes),
    )
    paths = save_confusion_matrix(matrix, classes, args.save_dir, args.show, args.color_theme)
    print(
        f"matched with their class (diagonal): {int(np.trace(matrix[:-1, :-1]))}, objects missed: "
        f"{int(matrix[:-1, -1].sum())}, detections of no object: {int(matrix[-1, :-1].sum())}"
    )
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
