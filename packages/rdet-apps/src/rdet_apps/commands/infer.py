"""``rdet infer``: detect objects in images (whole huge images by patches), draw and save them."""

from __future__ import annotations

import argparse
from pathlib import Path

from rdet_core import DictAction

HELP = "detect objects in images or folders; huge images go by patches; pictures and DOTA-style txt out"

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("images", nargs="+", help="image files or folders of images")
    parser.add_argument("--out-dir", default="work_dirs/infer", help="where pictures and detections go")
    parser.add_argument(
        "--score-thr", type=float, default=0.3, help="score threshold of pictures and txt files"
    )
    parser.add_argument(
        "--patch-size",
        type=int,
        help="detect by patches of this size (default: only images larger than the test scale)",
    )
    parser.add_argument("--patch-gap", type=int, default=200, help="overlap of neighbouring patches, pixels")
    parser.add_argument("--merge-iou", type=float, default=0.1, help="NMS IoU threshold when merging patches")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, key=value (as rdet test)",
    )
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="load a checkpoint that does not fit the model exactly (MMCV's behaviour): what fits is "
        "loaded, the rest reported; by default any missing, unexpected or mismatched key is an error",
    )


def _images(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such image or folder: {p}")
    if not out:
        raise FileNotFoundError(f"no images found in {', '.join(paths)}")
    return out


def _test_scale(cfg) -> int:
    for step in cfg.data.test.pipeline:
        scale = step.get("img_scale")
        if scale is not None:
            scale = scale[0] if isinstance(scale, list) else scale
            return int(max(scale))
    return 1024


def _label_lines(dets, names: list[str], score_thr: float) -> list[str]:
    """``x1 y1 ... x4 y4 class score`` lines of the detections at or above ``score_thr``,
    class by class, each class in the detections' order."""
    import numpy as np

    from rbox_geometry import obb2poly

    keep = dets[dets.scores >= score_thr]
    keep = keep[np.argsort(keep.labels, kind="stable")]
    polys = obb2poly(np.asarray(keep.boxes, np.float64))
    return [
        " ".join(f"{v:.1f}" for v in poly) + f" {names[label]} {score:.3f}"
        for poly, label, score in zip(polys, keep.labels, keep.scores)
    ]


def run(args: argparse.Namespace) -> int:
    import cv2
    import torch

    from rdet_apps.apis import init_detector, predict_by_patches, predict_images
    from rdet_apps.progress import track
    from rdet_apps.visualization import show_result

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = init_detector(
        args.config, args.checkpoint, device=device, cfg_options=args.cfg_options, strict=args.strict
    )
    names = [str(c) for c in (model.CLASSES or range(model.num_classes))]
    scale = _test_scale(model.cfg)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in track(_images(args.images), desc="inference"):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read image {path}")
        size = args.patch_size or (scale if max(img.shape[:2]) > scale else None)
        if size:
            dets = predict_by_patches(
                model, img, [size], [max(size - args.patch_gap, 1)], [1.0], args.merge_iou
            )
        else:
            (dets,) = predict_images(model, img)
        show_result(img, dets, names, args.score_thr, out_dir / path.name)
        lines = _label_lines(dets, names, args.score_thr)
        (out_dir / f"{path.stem}.txt").write_text("".join(f"{x}\n" for x in lines))
        print(f"{path.name}: {len(lines)} objects{' (by patches of ' + str(size) + ')' if size else ''}")
    print(f"pictures and detections in {out_dir}")
    return 0
