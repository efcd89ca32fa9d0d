"""The official DOTA Task1 metric, as the evaluation server (DOTA_devkit's ``voc_eval``) computes it.

Per class: detections sorted by descending score (numpy's default sort over the result
file's lines, as the devkit); each matched to the annotated quadrilateral of its image
that it overlaps most by polygon IoU, when that IoU is strictly above the threshold;
difficult objects are neither true nor false positives; VOC07 11-point AP or area AP; mAP
the mean over classes. The same numbers as the devkit, computed for all images at once.

Differences, on purpose: a class without any non-difficult object gets AP NaN (the devkit
divides by zero) and is left out of the mAP with a warning; detections on images that are
not annotated, unknown class names and malformed lines are errors naming the item (the
devkit raises KeyError or crashes in numpy).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rbox_geometry import polygon_overlaps
from rdet_eval.ap import voc_ap
from rdet_eval.dota_files import read_dota_objects, read_task1
from rdet_eval.flatten import flatten_annotations, flatten_results
from rdet_eval.matching import best_overlaps, claim_matches

__all__ = ["DOTA_V1_CLASSES", "DOTA_V2_CLASSES", "DOTA_V15_CLASSES", "eval_dota_task1", "evaluate_dota_task1"]

DOTA_V1_CLASSES = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor",
    "swimming-pool", "helicopter",
)  # fmt: skip
DOTA_V15_CLASSES = (*DOTA_V1_CLASSES, "container-crane")
DOTA_V2_CLASSES = (*DOTA_V15_CLASSES, "airport", "helipad")


def _polygon_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return polygon_overlaps(a, b, is_aligned=True)


def _class_ap(
    det_image: np.ndarray,
    det_score: np.ndarray,
    det_poly: np.ndarray,
    gt_image: np.ndarray,
    gt_poly: np.ndarray,
    gt_difficult: np.ndarray,
    iou_thr: float,
    use_07_metric: bool,
) -> dict[str, Any]:
    """AP of one class; detections in result-file order (it decides ties, as in the devkit)."""
    order = np.argsort(-det_score)  # the devkit's sort, same numpy default
    D = det_score.shape[0]
    rank = np.empty(D, np.int64)
    rank[order] = np.arange(D)
    best, which = best_overlaps(det_image, det_poly, gt_image, gt_poly, _polygon_iou)
    tp, fp = claim_matches(rank, best > iou_thr, which, gt_difficult)
    npos = int((~gt_difficult).sum())
    tp_cum = np.cumsum(tp[order].astype(np.float64))
    fp_cum = np.cumsum(fp[order].astype(np.float64))
    if npos == 0:
        ap = float("nan")
    else:
        rec = tp_cum / float(npos)
        prec = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
        ap = voc_ap(rec, prec, use_07_metric)
    return {"ap": ap, "npos": npos, "num_dets": D, "tp": int(tp.sum())}


def _summarise(per_class: dict[str, dict[str, Any]]) -> dict[str, Any]:
    missing = [name for name, r in per_class.items() if r["npos"] == 0]
    if missing:
        warnings.warn(
            f"no non-difficult objects of {', '.join(missing)}: AP is NaN and left out of the mAP",
            UserWarning,
            stacklevel=3,
        )
    aps = [r["ap"] for r in per_class.values() if r["npos"] > 0]
    return {
        "mAP": float(np.mean(aps)) if aps else float("nan"),
        "ap": {k: r["ap"] for k, r in per_class.items()},
        "npos": {k: r["npos"] for k, r in per_class.items()},
        "num_dets": {k: r["num_dets"] for k, r in per_class.items()},
        "tp": {k: r["tp"] for k, r in per_class.items()},
    }


def eval_dota_task1(
    det_results: Sequence[Sequence[np.ndarray]],
    annotations: Sequence[dict],
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The official metric on arrays (what a training loop has).

    Args:
        det_results: Per image, per class, (k, 9) arrays ``(x1, y1, ..., x4, y4, score)``.
        annotations: Per image, a dict with ``polygons`` (n, 8), ``labels`` (n,) class
            indices, and optionally ``difficult`` (n,) bool.
        class_names: Names for the result's keys (default ``'0'``, ``'1'``, ...).

    Returns:
        ``{'mAP', 'ap': {class: AP}, 'npos', 'num_dets', 'tp'}`` (the last three per class).
    """
    if len(det_results) != len(annotations):
        raise ValueError(f"det_results has {len(det_results)} images but annotations has {len(annotations)}")
    num_classes = len(det_results[0]) if det_results else len(class_names or ())
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    dets, det_image, det_label = flatten_results(det_results, 9, "det_results")
    gt_poly, gt_image, gt_label, gt_difficult = flatten_annotations(
        annotations, "polygons", 8, flag_key="difficult"
    )
    per_class = {}
    for c, name in enumerate(names):
        d, g = det_label == c, gt_label == c
        per_class[name] = _class_ap(
            det_image[d],
            dets[d, 8],
            dets[d, :8],
            gt_image[g],
            gt_poly[g],
            gt_difficult[g],
            iou_thr,
            use_07_metric,
        )
    return _summarise(per_class)


def _image_names(ann_dir: Path, image_list: Sequence[str] | str | os.PathLike | None) -> list[str]:
    if image_list is None:
        names = sorted(p.stem for p in ann_dir.glob("*.txt"))
        if not names:
            raise FileNotFoundError(f"no label files (*.txt) in {ann_dir}")
        return names
    if isinstance(image_list, (str, os.PathLike)):
        return [
            line.strip() for line in Path(image_list).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    return list(image_list)


def evaluate_dota_task1(
    det_dir: str | os.PathLike,
    ann_dir: str | os.PathLike,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    classes: Sequence[str] | None = None,
    image_list: Sequence[str] | str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The official metric on files: ``Task1_<class>.txt`` results against DOTA label files.

    Args:
        det_dir: Folder of ``Task1_<class>.txt`` files; a class without a file has no detections.
        ann_dir: Folder of ``<image>.txt`` DOTA label files.
        classes: Class names (default DOTA v1.0's 15).
        image_list: The images to evaluate: names, or a file with one name per line
            (the devkit's ``imagesetfile``); default every label file in ``ann_dir``.

    Returns:
        ``{'mAP', 'ap': {class: AP}, 'npos', 'num_dets', 'tp'}``.

    Raises:
        FileNotFoundError: A listed image has no label file.
        ValueError: A result file names an unknown class, or a detection an image that is
            not evaluated; malformed lines raise ``DotaFileError`` (``file:line:``).
    """
    det_dir, ann_dir = Path(det_dir), Path(ann_dir)
    names = list(classes) if classes is not None else list(DOTA_V1_CLASSES)
    for path in sorted(det_dir.glob("Task1_*.txt")):
        cls = path.stem[len("Task1_") :]
        if cls not in names:
            raise ValueError(f"{path}: class {cls!r} is not among the evaluated classes {names}")
    images = _image_names(ann_dir, image_list)
    index = {name: i for i, name in enumerate(images)}
    gt_polys, gt_names, gt_difficult, gt_image = [], [], [], []
    for i, image in enumerate(images):
        path = ann_dir / f"{image}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"no label file for image {image!r}: {path}")
        objs = read_dota_objects(path)
        gt_polys.append(objs.polygons)
        gt_names += objs.names
        gt_difficult.append(objs.difficult)
        gt_image.append(np.full(len(objs.names), i))
    all_polys, all_difficult, all_image = (
        np.vstack(gt_polys),
        np.concatenate(gt_difficult),
        np.concatenate(gt_image),
    )
    all_names = np.asarray(gt_names, dtype=object)
    per_class = {}
    for cls in names:
        path = det_dir / f"Task1_{cls}.txt"
        res = read_task1(path) if path.is_file() else None
        det_images = res.images if res else []
        unknown = sorted(set(det_images) - index.keys())
        if unknown:
            raise ValueError(
                f"{path}: detections on images that are not evaluated: {', '.join(unknown[:5])}"
                + (" ..." if len(unknown) > 5 else "")
            )
        det_image = np.array([index[n] for n in det_images], np.int64)
        keep = all_names == cls
        per_class[cls] = _class_ap(
            det_image,
            res.scores if res else np.zeros(0),
            res.polygons if res else np.zeros((0, 8)),
            all_image[keep],
            all_polys[keep],
            all_difficult[keep],
            iou_thr,
            use_07_metric,
        )
    return _summarise(per_class)
