"""Merging detections on patches of a huge image back onto the whole image.

A patch is named ``<image>__<scale>__<x>___<y>``: DOTA_devkit (and PaddleDetection) write the
resize rate there (``P0000__1.0__0___0``, ``P1478__1__853___962``), MMRotate's splitter
writes the patch size (``P2805__1024__0___0``). A value below 32 is read as a rate, anything
else as a patch size (rate 1). ``x``/``y`` are the patch's offset in the resized image, so a
detection goes back by ``(coords + offset) / rate``; then class-wise NMS removes the
duplicates from overlapping patches (MMRotate: rotated NMS at IoU 0.1; DOTA_devkit: polygon
NMS at 0.1 or 0.3).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rdet_eval._checks import check_iou_thr, check_unique
from rdet_eval.detections import (
    DetectionArrays,
    DetectionsLike,
    as_detection_arrays,
    detections_to_per_class,
    is_typed_results,
    resolve_num_classes,
)
from rdet_eval.dota_files import DotaFileError, read_task1_arrays, write_task1
from rdet_eval.nms import nms_polygons, nms_rotated_np

__all__ = ["PatchName", "merge_patch_results", "merge_task1_patch_file", "parse_patch_name"]

_PATCH = re.compile(r"^(?P<image>.+?)__(?P<scale>\d+(?:\.\d*)?)__(?P<x>\d+)___(?P<y>\d+)$")
_RATE_BELOW = 32.0


@dataclass(frozen=True)
class PatchName:
    """A parsed patch name: the original image, the resize rate, the patch's offset (pixels)."""

    image: str
    rate: float
    x: int
    y: int


def parse_patch_name(name: str) -> PatchName:
    """``'P0770__1__586___334'`` -> ``PatchName('P0770', 1.0, 586, 334)``.

    Raises:
        ValueError: ``name`` is not of the form ``<image>__<rate or size>__<x>___<y>``.
    """
    m = _PATCH.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a patch name of the form <image>__<rate or size>__<x>___<y>")
    scale = float(m["scale"])
    if scale <= 0:
        raise ValueError(f"patch {name!r} has a non-positive rate {scale}")
    rate = scale if scale < _RATE_BELOW else 1.0
    return PatchName(m["image"], rate, int(m["x"]), int(m["y"]))


def _to_image(dets: np.ndarray, patch: PatchName) -> np.ndarray:
    """Patch detections (k, 6) rotated boxes + score or (k, 9) polygons + score -> image frame."""
    out = np.asarray(dets, np.float64).copy()
    if out.shape[1] == 6:
        out[:, 0] += patch.x
        out[:, 1] += patch.y
        out[:, :4] /= patch.rate
    elif out.shape[1] == 9:
        out[:, 0:8:2] += patch.x
        out[:, 1:8:2] += patch.y
        out[:, :8] /= patch.rate
    else:
        raise ValueError(
            f"detections of patch {patch} must be (k, 6) boxes or (k, 9) polygons with a score, got {out.shape}"
        )
    return out


def merge_patch_results(
    patch_results: Mapping[str, Sequence[np.ndarray] | DetectionsLike]
    | Iterable[tuple[str, Sequence[np.ndarray] | DetectionsLike]],
    nms_thr: float = 0.1,
) -> dict[str, list[np.ndarray]] | dict[str, DetectionArrays]:
    """Merge per-patch detections into per-image detections.

    Args:
        patch_results: ``{patch name: detections}`` (or pairs). Detections are either a
            list per class of (k, 6) ``(cx, cy, w, h, theta, score)`` arrays (merged with
            rotated NMS, as MMRotate's ``merge_det``) or (k, 9) ``(x1, y1, ..., x4, y4,
            score)`` arrays (merged with polygon NMS, as DOTA_devkit), or typed detections
            with ``boxes`` (k, 5), ``scores`` (k,), ``labels`` (k,) (e.g.
            ``rdet_core.structures.Detections``; merged as the (k, 6) form).
        nms_thr: Class-wise NMS IoU threshold, in (0, 1] (MMRotate: 0.1); a detection is
            dropped when its IoU with a better one is above it.

    Returns:
        ``{image: detections}`` in the frame of the whole image, images in the order first
        seen: for per-class input ``[class 0 dets, ...]``, kept detections in descending
        score order; for typed input a :class:`~rdet_eval.DetectionArrays`, the same
        detections class by class.

    Raises:
        ValueError: ``nms_thr`` outside (0, 1] (NaN included: a negative or NaN threshold
            kept only the best detection of each class and image), a patch named twice (its
            detections would count twice), a name that is not a patch name, patches with
            different numbers of classes, a non-finite detection (named by patch and class).
    """
    nms_thr = check_iou_thr(nms_thr, "nms_thr")
    items = list(patch_results.items() if isinstance(patch_results, Mapping) else patch_results)
    check_unique([name for name, _ in items], "patch_results", " (each patch's detections once)")
    values = [v for _, v in items]
    if not is_typed_results(values, "patch_results"):
        return _merge_per_class(items, nms_thr)
    arrays = [as_detection_arrays(v, f"detections of patch {name!r}") for name, v in items]
    num_classes = resolve_num_classes(None, None, arrays)
    per_class = [(name, detections_to_per_class(a, num_classes)) for (name, _), a in zip(items, arrays)]
    merged = _merge_per_class(per_class, nms_thr)
    out = {}
    for image, lists in merged.items():
        rows = np.vstack([np.zeros((0, 6)), *lists])
        labels = np.repeat(np.arange(len(lists), dtype=np.int64), [len(d) for d in lists])
        out[image] = DetectionArrays(rows[:, :5], rows[:, 5], labels)
    return out


def _merge_per_class(
    items: Iterable[tuple[str, Sequence[np.ndarray]]], nms_thr: float
) -> dict[str, list[np.ndarray]]:
    collected: dict[str, list[list[np.ndarray]]] = {}
    num_classes = None
    for name, per_class in items:
        patch = parse_patch_name(name)
        if num_classes is None:
            num_classes = len(per_class)
        elif len(per_class) != num_classes:
            raise ValueError(
                f"patch {name!r} has {len(per_class)} classes, earlier patches have {num_classes}"
            )
        lists = collected.setdefault(patch.image, [[] for _ in range(num_classes)])
        for c, dets in enumerate(per_class):
            if len(dets):
                d = _to_image(dets, patch)
                bad = ~np.isfinite(d).all(1)
                if bad.any():
                    k = int(np.flatnonzero(bad)[0])
                    raise ValueError(
                        f"detections of patch {name!r}, class {c}: {int(bad.sum())} of {len(d)} rows are "
                        f"not finite, the first is row {k}: {np.asarray(dets, np.float64)[k].tolist()}"
                    )
                lists[c].append(d)
    merged = {}
    for image, lists in collected.items():
        out = []
        for dets in lists:
            if not dets:
                out.append(np.zeros((0, 6), np.float64))
                continue
            d = np.vstack(dets)
            keep = (
                nms_rotated_np(d[:, :5], d[:, 5], nms_thr)
                if d.shape[1] == 6
                else nms_polygons(d[:, :8], d[:, 8], nms_thr)
            )
            out.append(d[keep])
        merged[image] = out
    return merged


def merge_task1_patch_file(
    src: str | os.PathLike, dst: str | os.PathLike, nms_thr: float = 0.1
) -> dict[str, int]:
    """DOTA_devkit's ``ResultMerge`` on one file: ``patch score x1 ... y4`` lines -> the same
    lines on whole images, after polygon NMS per image. Returns kept counts per image.

    Raises:
        ValueError: ``nms_thr`` outside (0, 1] (the devkit keeps only the best polygon of
            each image at a negative or NaN threshold).
        DotaFileError: A malformed line, a score or coordinate that is not a finite number
            (the devkit writes ``nan`` lines, and its NMS ranks a NaN score first so that it
            suppresses valid boxes), or a name that is not a patch name: ``file:line:``.
    """
    nms_thr = check_iou_thr(nms_thr, "nms_thr")
    src = Path(src)
    res = read_task1_arrays(src)
    patches = []
    for k, name in enumerate(res.images):
        try:
            patches.append(parse_patch_name(name))
        except ValueError as e:
            raise DotaFileError(f"{src}:{res.line[np.argmax(res.image_code == k)]}: {e}") from None
    image_index = {name: i for i, name in enumerate(dict.fromkeys(p.image for p in patches))}
    images = list(image_index)
    image_of_patch = np.array([image_index[p.image] for p in patches], np.int64)
    x = np.array([p.x for p in patches], np.float64)[res.image_code]
    y = np.array([p.y for p in patches], np.float64)[res.image_code]
    rate = np.array([p.rate for p in patches], np.float64)[res.image_code]
    polys = res.polygons.copy()
    polys[:, 0::2] += x[:, None]
    polys[:, 1::2] += y[:, None]
    polys /= rate[:, None]
    image = image_of_patch[res.image_code] if patches else np.zeros(0, np.int64)
    rows = []
    counts = {}
    by_image = np.argsort(image, kind="stable")  # each image's detections in file order
    bounds = np.searchsorted(image[by_image], np.arange(len(images) + 1))
    for i, name in enumerate(images):
        d = by_image[bounds[i] : bounds[i + 1]]
        keep = nms_polygons(polys[d], res.scores[d], nms_thr)
        counts[name] = int(keep.size)
        rows += [(name, res.scores[d[k]], polys[d[k]]) for k in keep]
    write_task1(dst, rows)
    return counts
