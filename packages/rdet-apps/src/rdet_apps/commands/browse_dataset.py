"""``rdet browse-dataset``: pictures of the training pipeline's output, boxes drawn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rdet_core import Config, DictAction

HELP = "draw the ground truth after the training pipeline, to check data and augmentations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("--output-dir", default="work_dirs/browse", help="where the pictures go")
    parser.add_argument(
        "--skip-type",
        nargs="+",
        default=["DefaultFormatBundle", "Normalize", "Collect"],
        help="pipeline steps to leave out",
    )
    parser.add_argument("--max-images", type=int, default=None, help="stop after this many")
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

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    train = dict(cfg.data.train)
    while "dataset" in train:  # RepeatDataset / ClassBalancedDataset wrappers
        train = dict(train["dataset"])
    if "pipeline" in train:  # a dataset that returns DetSample itself may have none
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
    img = np.ascontiguousarray(item["img"]).astype(np.uint8)
    boxes, labels = np.asarray(item["gt_bboxes"], np.float32), np.asarray(item["gt_labels"])
    filename = item["img_info"]["filename"] if "img_info" in item else None
    return img, boxes, labels, filename
