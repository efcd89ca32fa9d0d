"""``rdet infer``: detect objects in images (whole huge images by patches), draw and save them."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from rdet_apps.amp import add_amp_argument
from rdet_apps.tools.video import VIDEO_SUFFIXES
from rdet_core import DictAction

HELP = (
    "detect objects in images, folders or videos; huge images go by patches; pictures and "
    "DOTA-style txt out (videos: an annotated .mp4 and a .jsonl of detections per frame)"
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "images",
        nargs="+",
        help="image files, videos (.mp4 .avi .mov .mkv: an annotated <name>.mp4 and <name>.jsonl of "
        "detections per frame) or folders of them",
    )
    parser.add_argument("--out-dir", default="work_dirs/infer", help="where pictures and detections go")
    parser.add_argument(
        "--score-thr", type=float, default=0.3, help="score threshold of pictures and txt files, in [0, 1]"
    )
    parser.add_argument(
        "--patch-size",
        type=int,
        action="append",
        help="detect by patches of this size; repeat it for several sizes (MMRotate's huge_image_demo "
        "--patch_sizes; default: only images larger than the test scale, by patches of it)",
    )
    parser.add_argument(
        "--patch-gap",
        type=int,
        default=200,
        help="overlap of neighbouring patches, pixels: 0 <= gap < patch size (default 200)",
    )
    parser.add_argument(
        "--img-ratio",
        dest="img_ratios",
        type=float,
        action="append",
        help="detect on the image scaled by this ratio; repeat it for several, merged (MMRotate's "
        "huge_image_demo --img_ratios, multi-scale testing; default 1.0: the image as it is)",
    )
    parser.add_argument(
        "--merge-iou", type=float, default=0.1, help="NMS IoU threshold when merging patches, in (0, 1]"
    )
    parser.add_argument(
        "--fuse-conv-bn",
        action="store_true",
        help="fold BatchNorm into the convolutions before it (faster inference, same detections)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    add_amp_argument(parser)
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, key=value (as rdet test)",
    )
    parser.add_argument(
        "--palette",
        choices=("dota", "random"),
        default="dota",
        help="box colours of the pictures: MMRotate's DOTA palette (extended past 15 classes) or fixed "
        "random ones (image_demo's --palette)",
    )
    parser.add_argument(
        "--high-bit-depth",
        choices=("error", "scale"),
        default="error",
        help="images of more than 8 bits (16-bit SAR PNG / TIFF): refuse them (default), or scale "
        "them to 8 bits as OpenCV / MMCV do (value / 256 for 16 bits)",
    )
    parser.add_argument(
        "--out-format",
        choices=("txt", "json"),
        default="txt",
        help="detections per image: DOTA-style txt (x1 y1 ... x4 y4 class score) or json (boxes "
        "cx, cy, w, h, theta in pixels and radians, polygons, classes, scores, image size)",
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
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such image or folder: {p}")
    if not out:
        raise FileNotFoundError(f"no images found in {', '.join(paths)}")
    return list(dict.fromkeys(out))  # an image given twice is done once


def output_names(paths: list[Path]) -> dict[Path, str]:
    """A distinct output name (no suffix) per image: its stem; its file name where two images
    share a stem (``a.tif``, ``a.png``); its folder and file name where two share a file name."""
    from collections import Counter

    unique = list(dict.fromkeys(paths))
    stems = Counter(p.stem for p in unique)
    names = {p: p.stem if stems[p.stem] == 1 else p.name for p in unique}
    clash = Counter(names.values())
    names = {p: f"{p.resolve().parent.name}_{n}" if clash[n] > 1 else n for p, n in names.items()}
    used: Counter[str] = Counter()
    for p, n in names.items():  # still equal (folders of one name): number them
        used[n] += 1
        names[p] = n if used[n] == 1 else f"{n}_{used[n]}"
    return names


def _json_detections(dets, names: list[str], score_thr: float, shape: tuple[int, ...]) -> dict:
    import numpy as np

    from rbox_geometry import obb2poly

    keep = dets[dets.scores >= score_thr]
    boxes = np.asarray(keep.boxes, np.float64)
    return {
        "height": int(shape[0]),
        "width": int(shape[1]),
        "boxes_cxcywha": boxes.round(3).tolist(),
        "polygons": obb2poly(boxes).round(2).tolist() if len(boxes) else [],
        "scores": np.asarray(keep.scores, np.float64).round(5).tolist(),
        "classes": [names[int(c)] for c in keep.labels],
    }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _test_scale(cfg) -> int:
    """The longer side of the test pipeline's (first) ``img_scale``: one scale is a pair of
    numbers, tuple or list (``[320, 320]`` from ``--cfg-options``); several, a list of pairs.
    1024 when no step has one.

    Raises:
        ValueError: an ``img_scale`` that is neither, naming its config key.
    """
    for i, step in enumerate(cfg.data.test.pipeline):
        scale = step.get("img_scale")
        if scale is None:
            continue
        first = scale[0] if isinstance(scale, (list, tuple)) and scale else None
        if isinstance(first, (list, tuple)):  # several scales: the first, as MMRotate's demo
            scale = first
        if not (isinstance(scale, (list, tuple)) and len(scale) == 2 and all(map(_is_number, scale))):
            raise ValueError(
                f"data.test.pipeline.{i}.img_scale = {step.get('img_scale')!r}: must be a scale "
                "(width, height) or a list of them"
            )
        return int(max(scale))
    return 1024


def txt_class_names(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The class names as ``--out-format txt`` writes them: DOTA's label lines are split on
    whitespace (``x1 y1 ... x4 y4 class difficult``; its own names are hyphenated,
    ``small-vehicle``), so a name with spaces (DOTA8's ``small vehicle``) would make 11 fields and
    mis-parse. Each run of whitespace becomes ``-``; returns the names and ``{name: written}`` of
    those changed.

    Raises:
        ValueError: a name that is empty, or that would be written as another class's name,
            naming both and ``--out-format json`` (which keeps the names as they are).
    """
    import re

    out = [re.sub(r"\s+", "-", n.strip()) for n in names]
    for i, (name, written) in enumerate(zip(names, out)):
        if not written:
            raise ValueError(
                f"class {i} has an empty name {name!r}: a DOTA txt line needs a class name; give the "
                "model's classes names or use --out-format json"
            )
        other = out.index(written)
        if other != i:
            raise ValueError(
                f"classes {names[other]!r} and {name!r} would both be written as {written!r} in the txt "
                "files (whitespace in a class name becomes '-'); rename one or use --out-format json"
            )
    return out, {n: w for n, w in zip(names, out) if n != w}


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


def check_patches(
    patch_size: int | list[int] | None,
    patch_gap: int,
    scale: int | None = None,
    img_ratios: list[float] | None = None,
) -> None:
    """``--patch-size`` (one or several) and ``--patch-gap`` that tile an image: positive sizes
    and ``0 <= gap < size`` (a negative gap leaves strips that no patch covers; a gap of the size
    or more, patches that never move on), and a step (size - gap) of at least 1/8 of the
    size (``--patch-size 512 --patch-gap 511`` would be about 262,000 patches of a 1024-pixel
    image: ``rdet_apps.apis.patches.MAX_OVERLAP``); ``--img-ratio`` positive and finite. ``scale``: the
    patch size when ``--patch-size`` is not given (the config's test scale), checked once the
    config is read.

    Raises:
        ValueError: naming ``--patch-size`` / ``--patch-gap`` / ``--img-ratio``.
    """
    sizes = [patch_size] if isinstance(patch_size, int) else list(patch_size or [])
    for size in sizes:
        if size < 1:
            raise ValueError(f"--patch-size {size}: must be a positive number of pixels")
    if patch_gap < 0:
        raise ValueError(
            f"--patch-gap {patch_gap}: the overlap of neighbouring patches cannot be negative "
            "(strips between the patches would be detected by none); 0 puts them edge to edge"
        )
    for ratio in img_ratios or []:
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"--img-ratio {ratio}: must be a positive scale factor of the image")
    from rdet_apps.apis.patches import MAX_OVERLAP

    for size in sizes or ([scale] if scale is not None else []):
        where = f"--patch-size {size}" if sizes else f"the test scale {size} (no --patch-size)"
        if patch_gap >= size:
            raise ValueError(f"--patch-gap {patch_gap}: must be smaller than the patch size, {where}")
        if (size - patch_gap) * MAX_OVERLAP < size:
            raise ValueError(
                f"--patch-gap {patch_gap} with {where}: each pixel would be in about "
                f"{math.ceil(size / (size - patch_gap)) ** 2} patches; the gap may be at most "
                f"{size - math.ceil(size / MAX_OVERLAP)} (the step, size - gap, at least "
                f"1/{MAX_OVERLAP} of the size)"
            )


def check_thresholds(score_thr: float, merge_iou: float) -> None:
    """``--score-thr`` a finite number in [0, 1]; ``--merge-iou`` an IoU in (0, 1] (a score
    over 1 or NaN keeps no detection; an IoU over 1 merges nothing).

    Raises:
        ValueError: naming ``--score-thr`` / ``--merge-iou``.
    """
    if not 0 <= score_thr <= 1:
        raise ValueError(f"--score-thr {score_thr}: must be in [0, 1] (scores are probabilities)")
    if not 0 < merge_iou <= 1:
        raise ValueError(f"--merge-iou {merge_iou}: an IoU threshold must be in (0, 1]")


def picture_suffix(path: Path) -> str:
    """The suffix of the picture of ``path``: its own, or ``.png`` where OpenCV has no writer
    for it (``ok.dat``, no suffix)."""
    import cv2

    return path.suffix if path.suffix and cv2.haveImageWriter(f"x{path.suffix}") else ".png"


def output_files(path: Path, name: str, out_dir: Path, out_format: str) -> list[Path]:
    """The files ``rdet infer`` writes for the input ``path`` of output name ``name``."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return [out_dir / f"{name}.mp4", out_dir / f"{name}.jsonl"]
    return [out_dir / f"{name}{picture_suffix(path)}", out_dir / f"{name}.{out_format}"]


def check_no_overwrite(images: list[Path], outputs: dict[Path, str], out_dir: Path, out_format: str) -> None:
    """No output file is one of the inputs (``--out-dir`` the images' own folder): paths are
    compared resolved, and existing files by identity (links).

    Raises:
        ValueError: naming ``--out-dir``, the output and the input it would overwrite.
    """

    def identity(p: Path) -> tuple[int, int]:  # one file under two names (hard links)
        st = p.stat()
        return st.st_dev, st.st_ino

    inputs = {p.resolve(): p for p in images}
    ids = {identity(p): p for p in images}
    for path in images:
        for out in output_files(path, outputs[path], out_dir, out_format):
            hit = inputs.get(out.resolve())
            if hit is None and out.is_file():
                hit = ids.get(identity(out))
            if hit is not None:
                raise ValueError(
                    f"--out-dir {out_dir}: {out} would overwrite the input {hit}; give another --out-dir"
                )


def run(args: argparse.Namespace) -> int:
    from rdet_apps.apis import init_detector, predict_by_patches, predict_images
    from rdet_apps.apis.inference import resolve_device
    from rdet_apps.progress import track
    from rdet_apps.visualization import show_result
    from rdet_data.transforms.loading import imread

    args.img_ratios = args.img_ratios or [1.0]
    check_patches(args.patch_size, args.patch_gap, img_ratios=args.img_ratios)
    check_thresholds(args.score_thr, args.merge_iou)
    device = resolve_device(args.device, "--device")
    images = _images(args.images)
    out_dir = Path(args.out_dir)
    outputs = output_names(images)
    check_no_overwrite(images, outputs, out_dir, args.out_format)
    try:  # before the model: a folder that cannot be made fails at once
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(
            f"--out-dir {out_dir}: cannot make this folder ({err.strerror or err})"
        ) from err
    model = init_detector(
        args.config,
        args.checkpoint,
        device=device,
        cfg_options=args.cfg_options,
        strict=args.strict,
        fuse_conv_bn=args.fuse_conv_bn,
        amp=args.amp,
    )
    names = [str(c) for c in (model.CLASSES or range(model.num_classes))]
    txt_names = names
    if args.out_format == "txt":
        txt_names, renamed = txt_class_names(names)
        if renamed:
            shown = ", ".join(f"{n!r} as {w!r}" for n, w in renamed.items())
            print(f"rdet infer: class names with whitespace are written with '-' in the txt files: {shown}")
    scale = _test_scale(model.cfg)
    check_patches(args.patch_size, args.patch_gap, scale, args.img_ratios)
    unreadable: list[str] = []
    for path in track(images, desc="inference"):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            from rdet_apps.tools.video import infer_video

            name = outputs[path]
            video_out, lines_out = out_dir / f"{name}.mp4", out_dir / f"{name}.jsonl"
            try:
                frames = infer_video(
                    model, path, video_out, lines_out, names, args.score_thr, _json_detections
                )
            except ValueError as e:  # one bad video does not stop a folder, as an unreadable image
                unreadable.append(str(path))
                print(f"{e}; skipped", file=sys.stderr)
                continue
            print(f"{path.name}: {frames} frames -> {video_out.name}, {lines_out.name}")
            continue
        try:  # rdet-data's reader, as inference_detector: a truncated file is refused, not grey-filled
            img = imread(str(path), high_bit_depth=args.high_bit_depth)
        except FileNotFoundError as e:  # one bad file does not stop a folder; counted, exit status 1
            unreadable.append(str(path))
            print(f"{e}; skipped", file=sys.stderr)
            continue
        sizes = args.patch_size or ([scale] if max(img.shape[:2]) > scale or args.img_ratios != [1.0] else [])
        if sizes:
            steps = [size - args.patch_gap for size in sizes]
            dets = predict_by_patches(model, img, sizes, steps, args.img_ratios, args.merge_iou)
        else:
            (dets,) = predict_images(model, img)
        name = outputs[path]
        picture = out_dir / f"{name}{picture_suffix(path)}"
        show_result(img, dets, names, args.score_thr, picture, palette=args.palette)
        if picture.suffix != path.suffix:
            print(
                f"{path}: OpenCV cannot write a {path.suffix or 'suffix-less'} picture; drawn into {picture}"
            )
        if args.out_format == "json":
            record = _json_detections(dets, names, args.score_thr, img.shape)
            (out_dir / f"{name}.json").write_text(json.dumps({"image": str(path), **record}) + "\n")
            count = len(record["scores"])
        else:
            lines = _label_lines(dets, txt_names, args.score_thr)
            (out_dir / f"{name}.txt").write_text("".join(f"{x}\n" for x in lines))
            count = len(lines)
        how = f" (by patches of {', '.join(map(str, sizes))})" if sizes else ""
        if sizes and args.img_ratios != [1.0]:
            how = how[:-1] + f"; image ratios {', '.join(map(str, args.img_ratios))})"
        print(f"{path.name}: {count} objects{how}")
    print(f"pictures and detections of {len(images) - len(unreadable)} images or videos in {out_dir}")
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
        print(
            f"rdet infer: {len(unreadable)} of {len(images)} images could not be read: {shown}",
            file=sys.stderr,
        )
        return 1
    return 0
