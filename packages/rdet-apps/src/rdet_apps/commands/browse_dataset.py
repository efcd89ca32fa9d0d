"""``rdet browse-dataset``: pictures of the training pipeline's output, boxes drawn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rdet_core import Config, DictAction

DEFAULT_SKIP = ("DefaultFormatBundle", "Normalize", "Collect")

HELP = "draw the ground truth after the training pipeline, to check data and augmentations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("--output-dir", default="work_dirs/browse", help="where the pictures go")
    parser.add_argument(
        "--skip-type",
        nargs="+",
        default=list(DEFAULT_SKIP),
        help="pipeline steps to leave out",
    )
    parser.add_argument("--max-images", type=int, default=None, help="stop after this many")
    # MMRotate's browse_dataset.py shows a window unless --not-show; rdet always writes the
    # pictures (opencv-headless has no windows), so both flags of MMRotate's command line are
    # accepted and change nothing
    parser.add_argument("--not-show", action="store_true", help="(MMRotate's; rdet never opens a window)")
    parser.add_argument(
        "--show-interval", type=float, default=2.0, help="(MMRotate's, for its window; rdet opens none)"
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
    import numpy as np

    from rdet_apps.progress import track
    from rdet_apps.visualization import show_result
    from rdet_data import build_dataset

    if args.max_images is not None and args.max_images <= 0:
        raise ValueError(f"--max-images {args.max_images}: must be positive")
    cfg = Config.fromfile(args.config)
    from rdet_apps.cfg_options import merge_cfg_options

    merge_cfg_options(cfg, args.cfg_options)
    train = dict(cfg.data.train)
    while "dataset" in train:  # RepeatDataset / ClassBalancedDataset wrappers
        train = dict(train["dataset"])
    if "pipeline" in train:  # a dataset that returns DetSample itself may have none
        types = [step["type"] for step in train["pipeline"]]
        unknown = [t for t in args.skip_type if t not in types and t not in DEFAULT_SKIP]
        if unknown:
            raise ValueError(
                f"--skip-type {' '.join(unknown)}: not a step of data.train's pipeline ({', '.join(types)})"
            )
        train["pipeline"] = [step for step in train["pipeline"] if step["type"] not in args.skip_type]
    dataset = build_dataset(train)
    names = [str(c) for c in dataset.CLASSES]
    out = Path(args.output_dir)
    count = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    for i in track(range(count), desc="browsing"):
        img, boxes, labels, filename = _picture(dataset[i])
        result = [
            np.hstack([boxes[labels == c], np.ones(((labels == c).sum(), 1), np.float32)])
            for c in range(len(names))
        ]
        name = Path(filename).name if filename else f"{i:06d}.png"
        show_result(img, result, names, 0.0, out / name)
    print(f"{count} pictures in {out}")
    return 0


def _picture(item: Any) -> tuple[Any, Any, Any, str | None]:
    """(image (H, W, 3) uint8, boxes (k, 5), labels (k,), file or None) of a dataset item: a
    pipeline's dict (``Collect`` skipped) or a ``DetSample`` (its (C, H, W) float image is
    stretched to 0..255 for the picture)."""
    import numpy as np

    from rdet_core.structures import DetSample

    if isinstance(item, DetSample):
        img = np.asarray(
            item.image.detach().cpu() if hasattr(item.image, "detach") else item.image, np.float32
        )
        img = img.transpose(1, 2, 0)
        low, high = float(img.min()), float(img.max())
        img = ((img - low) / max(high - low, 1e-6) * 255).astype(np.uint8)
        gt = item.gt
        if gt is None:
            return img, np.zeros((0, 5), np.float32), np.zeros(0, np.int64), item.meta.filename
        return img, np.asarray(gt.boxes, np.float32), np.asarray(gt.labels), item.meta.filename
    raw = item["img"]
    img = np.asarray(raw.data if not isinstance(raw, np.ndarray) and hasattr(raw, "data") else raw)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(
            f"the pipeline gives an image of shape {tuple(img.shape)}, not (H, W, 3): leave the "
            f"formatting steps out with --skip-type (default {' '.join(DEFAULT_SKIP)})"
        )
    img = np.ascontiguousarray(img).astype(np.uint8)
    boxes, labels = np.asarray(item["gt_bboxes"], np.float32), np.asarray(item["gt_labels"])
    filename = item["img_info"]["filename"] if "img_info" in item else None
    return img, boxes, labels, filename
