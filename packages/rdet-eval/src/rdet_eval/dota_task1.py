"""The official DOTA Task1 metric, as the evaluation server (DOTA_devkit's ``voc_eval``) computes it.

Per class: detections sorted by descending score (numpy's default sort over the result
file's lines, as the devkit; ``sort="stable"`` keeps tied scores in file order, the same on
every numpy, see the README); each matched to the annotated quadrilateral of its image
that it overlaps most by polygon IoU, when that IoU is strictly above the threshold;
difficult objects are neither true nor false positives; VOC07 11-point AP or area AP; mAP
the mean over classes. The same numbers as the devkit, computed for all images at once.

Differences, on purpose: a class without any non-difficult object gets AP NaN (the devkit
divides by zero) and is left out of the mAP with a warning, and no such object in any class
is an error; detections on images that are not annotated, unknown class names and malformed
lines are errors naming the item (the devkit raises KeyError, crashes in numpy, or skips a
label line without its class and an object of an unknown class); so are a missing results
folder or class file (the devkit raises on the first file it cannot open), labels outside
the classes, an IoU threshold outside (0, 1] and a ``use_07_metric`` that is not a bool.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rdet_eval._checks import check_bool, check_iou_thr, check_sort, check_unique
from rdet_eval._polyiou import pair_iou
from rdet_eval.ap import voc_ap
from rdet_eval.dota_files import DotaFileError, LabelSet, Task1Set, read_label_files, read_task1_files
from rdet_eval.flatten import flatten_annotations, flatten_results
from rdet_eval.matching import best_overlaps_by_class, claim_matches

__all__ = ["DOTA_V1_CLASSES", "DOTA_V2_CLASSES", "DOTA_V15_CLASSES", "eval_dota_task1", "evaluate_dota_task1"]

DOTA_V1_CLASSES = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor",
    "swimming-pool", "helicopter",
)  # fmt: skip
DOTA_V15_CLASSES = (*DOTA_V1_CLASSES, "container-crane")
DOTA_V2_CLASSES = (*DOTA_V15_CLASSES, "airport", "helipad")


def _score_order(scores: np.ndarray, sort: str) -> np.ndarray:
    """Indices by descending score. ``'devkit'``: numpy's default sort of ``-scores``, as the
    devkit (ties in an order that depends on numpy's version and the CPU); ``'stable'``: ties in
    input order, the same everywhere."""
    return np.argsort(-scores, kind="stable" if sort == "stable" else None)


def best_matches(
    det_class: np.ndarray,
    det_image: np.ndarray,
    det_poly: np.ndarray,
    gt_class: np.ndarray,
    gt_image: np.ndarray,
    gt_poly: np.ndarray,
    iou_thr: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each detection's largest polygon IoU with an object of its class and image, and that
    object (the first on ties; -1 for none): every class and image in one pass (objects of
    class -1 meet nothing).

    Args:
        det_poly: (D, 8) detection quadrilaterals; det_class, det_image (D,).
        gt_poly: (G, 8) object quadrilaterals; gt_class, gt_image (G,).
        iou_thr: If given, only what the metric asks is exact: pairs of convex polygons
            that cannot reach half of it count as IoU 0 (not computed), so ``best`` is exact
            where it is above ``iou_thr`` and ``which`` where ``best > iou_thr``.

    Returns:
        ``(best (D,) float64, which (D,) int64)``.
    """
    iou = pair_iou(det_poly, gt_poly, skip_below=iou_thr)  # bounding boxes once per polygon
    return best_overlaps_by_class(
        det_class, det_image, gt_class, gt_image, lambda d, g: lambda i, j: iou(d[i], g[j])
    )


def _per_class_ap(
    det_class: np.ndarray,
    det_score: np.ndarray,
    best: np.ndarray,
    which: np.ndarray,
    gt_class: np.ndarray,
    gt_difficult: np.ndarray,
    num_classes: int,
    iou_thr: float,
    use_07_metric: bool,
    sort: str,
) -> list[dict[str, Any]]:
    """AP of each class from :func:`best_matches`; each class's detections in result-file
    order (it decides ties, as in the devkit)."""
    matched = best > iou_thr
    by_class = np.argsort(det_class, kind="stable")
    bounds = np.searchsorted(det_class[by_class], np.arange(num_classes + 1))
    npos_all = np.bincount(gt_class[(gt_class >= 0) & ~gt_difficult], minlength=num_classes)
    out = []
    for c in range(num_classes):
        d = by_class[bounds[c] : bounds[c + 1]]
        D = d.size
        order = _score_order(det_score[d], sort)
        rank = np.empty(D, np.int64)
        rank[order] = np.arange(D)
        tp, fp = claim_matches(rank, matched[d], which[d], gt_difficult)
        npos = int(npos_all[c])
        tp_cum = np.cumsum(tp[order].astype(np.float64))
        fp_cum = np.cumsum(fp[order].astype(np.float64))
        if npos == 0:
            ap = float("nan")
        else:
            rec = tp_cum / float(npos)
            prec = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
            ap = voc_ap(rec, prec, use_07_metric)
        out.append({"ap": ap, "npos": npos, "num_dets": D, "tp": int(tp.sum())})
    return out


def _check_some_objects(difficult: np.ndarray, none_of: str, of_what: str = "") -> None:
    """Without any non-difficult object every class's AP is NaN (the devkit divides by zero):
    a test set without labels, an error rather than a NaN mAP with a warning."""
    if np.count_nonzero(~difficult):
        return
    held = f" ({difficult.size} difficult only)" if difficult.size else ""
    raise ValueError(
        f"no ground truth to evaluate against: {none_of} holds an object{of_what} that is not "
        f"difficult{held}, so every AP would be NaN; check the labels (all empty?)"
    )


def _fold(name: str) -> str:
    """A class name as people misspell it alike: ``Ship``, ``small_vehicle``, ``small vehicle``."""
    return name.casefold().replace("_", "-").replace(" ", "-")


def _check_label_classes(
    labels: LabelSet, class_index: dict[str, int], default: bool, ann_dir: Path, images: Sequence[str]
) -> None:
    """Class names of the label files that are not evaluated. With the default classes, every
    one is an error (as ``rdet_data``'s ``DOTADataset``); with ``classes=`` given, objects of
    other classes are not evaluated (a subset, as the devkit), except a name that is an
    evaluated class but for case, ``_`` or spaces (``Ship``: its objects would be lost).

    Raises:
        DotaFileError: ``file:line:`` of the first object of such a class, and the classes.
    """
    folded = {_fold(n): n for n in class_index}
    bad = [k for k, n in enumerate(labels.names) if n not in class_index and (default or _fold(n) in folded)]
    if not bad:
        return
    first = int(np.flatnonzero(np.isin(labels.name_code, bad))[0])
    name = labels.names[int(labels.name_code[first])]
    where = f"{Path(ann_dir) / f'{images[int(labels.file_index[first])]}.txt'}:{int(labels.line[first])}"
    known = ", ".join(class_index)
    if _fold(name) in folded:
        raise DotaFileError(
            f"{where}: class {name!r} is not an evaluated class (did you mean {folded[_fold(name)]!r}? "
            f"names are exact); classes: {known}"
        )
    raise DotaFileError(
        f"{where}: unknown class {name!r}, not one of DOTA v1.0's classes ({known}); pass classes= "
        "to evaluate others (objects of classes not passed are then not evaluated)"
    )


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
    sort: str = "devkit",
) -> dict[str, Any]:
    """The official metric on arrays (what a training loop has).

    Args:
        det_results: Per image, per class, (k, 9) arrays ``(x1, y1, ..., x4, y4, score)``.
        annotations: Per image, a dict with ``polygons`` (n, 8), ``labels`` (n,) class
            indices, and optionally ``difficult`` (n,) bool.
        iou_thr: A detection matches an object at IoU strictly above it; in (0, 1].
        class_names: Names for the result's keys (default ``'0'``, ``'1'``, ...).
        sort: ``'devkit'`` (default): detections in the order of numpy's default sort of
            their scores, as the devkit; tied scores then fall in an order that depends on
            numpy's version and the CPU (see the README). ``'stable'``: ties in input order
            (image, then array order), one answer on every numpy.

    Returns:
        ``{'mAP', 'ap': {class: AP}, 'npos', 'num_dets', 'tp'}`` (the last three per class).

    Raises:
        ValueError: ``det_results`` and ``annotations`` differ in length, a label outside
            ``[0, num_classes)``, ``iou_thr`` outside (0, 1], an unknown ``sort``, a
            malformed or non-finite detection (named ``det_results[i][c]``), no object that
            is not difficult in any image (every AP would be NaN), a name repeated in
            ``class_names`` (the result, keyed by name, would lose a class).
        TypeError: ``use_07_metric`` is not a bool.
    """
    iou_thr = check_iou_thr(iou_thr)
    use_07_metric = check_bool(use_07_metric, "use_07_metric")
    sort = check_sort(sort)
    if len(det_results) != len(annotations):
        raise ValueError(
            f"det_results has {len(det_results)} images but annotations has {len(annotations)}: "
            "give one entry per image of the dataset, in the same order"
        )
    num_classes = len(det_results[0]) if det_results else len(class_names or ())
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but det_results[0] has {num_classes} classes")
    check_unique(names, "class_names", " (the result is keyed by name: a class would be lost from the mAP)")
    dets, det_image, det_label = flatten_results(det_results, 9, "det_results")
    gt_poly, gt_image, gt_label, gt_difficult = flatten_annotations(
        annotations, "polygons", 8, flag_key="difficult", num_classes=num_classes
    )
    _check_some_objects(gt_difficult, f"none of the {len(annotations)} images of annotations")
    best, which = best_matches(det_label, det_image, dets[:, :8], gt_label, gt_image, gt_poly, iou_thr)
    per_class = _per_class_ap(
        det_label, dets[:, 8], best, which, gt_label, gt_difficult, num_classes, iou_thr, use_07_metric, sort
    )
    return _summarise(dict(zip(names, per_class)))


def _listing(folder: Path, limit: int = 10) -> str:
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    if not entries:
        return "it is empty"
    shown = ", ".join(entries[:limit])
    return f"it holds {shown}" + (f" ... ({len(entries)} entries)" if len(entries) > limit else "")


def _folder(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file, not a folder")
    return path


def _image_names(ann_dir: Path, image_list: Sequence[str] | str | os.PathLike | None) -> list[str]:
    """The evaluated images; each once. The devkit reads a repeated ``imagesetfile`` line as a
    second image: its objects count twice in ``npos`` and the recall of every class that it
    holds is capped (an error here)."""
    if image_list is None:
        # Path.glob("*.txt") and .stem, without a Path per file
        names = sorted(e.name[:-4] or e.name for e in os.scandir(ann_dir) if e.name.endswith(".txt"))
        if not names:
            raise FileNotFoundError(f"no label files (*.txt) in {ann_dir}: {_listing(ann_dir)}")
        return names
    if isinstance(image_list, (str, os.PathLike)):
        lines = Path(image_list).read_text(encoding="utf-8").splitlines()
        numbered = [(k, line.strip()) for k, line in enumerate(lines, 1) if line.strip()]
        if not numbered:
            raise ValueError(f"image_list {image_list} names no image")
        first: dict[str, int] = {}
        for k, name in numbered:
            if name in first:
                raise ValueError(
                    f"{image_list}:{k}: image {name!r} is listed again (first on line {first[name]}); "
                    "list each image once (its objects would count twice)"
                )
            first[name] = k
        return list(first)
    names = list(image_list)
    if not names:
        raise ValueError("image_list is empty: no image to evaluate")
    check_unique(names, "image_list", " (an image listed twice would count its objects twice)")
    return names


def _read_labels(ann_dir: Path, images: Sequence[str]) -> LabelSet:
    """The label files of ``images``, read and parsed at once."""
    base = os.fspath(ann_dir)
    paths = [os.path.join(base, f"{image}.txt") for image in images]  # (a Path each costs more than a read)
    try:
        return read_label_files(paths)
    except OSError:
        for image, path in zip(images, paths):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no label file for image {image!r}: {Path(path)}") from None
        raise


def _image_of(res: Task1Set, images: Sequence[str], det_dir: Path, classes: Sequence[str]) -> np.ndarray:
    """The index (into ``images``) of each detection's image; an image that is not evaluated
    is an error naming the first result file that has one."""
    index = {name: i for i, name in enumerate(images)}
    image_of = np.array([index.get(n, -1) for n in res.images], np.int64)
    det_image = image_of[res.image_code] if res.images else np.zeros(0, np.int64)
    stray = np.flatnonzero(det_image < 0)
    if stray.size:
        c = int(res.file_index[stray[0]])
        codes = res.image_code[stray[res.file_index[stray] == c]]
        unknown = sorted({res.images[k] for k in codes.tolist()})
        raise ValueError(
            f"{det_dir / f'Task1_{classes[c]}.txt'}: detections on images that are not evaluated: "
            + ", ".join(unknown[:5])
            + (f" ... ({len(unknown)} images)" if len(unknown) > 5 else "")
        )
    return det_image


def evaluate_dota_task1(
    det_dir: str | os.PathLike,
    ann_dir: str | os.PathLike,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    classes: Sequence[str] | None = None,
    image_list: Sequence[str] | str | os.PathLike | None = None,
    sort: str = "devkit",
) -> dict[str, Any]:
    """The official metric on files: ``Task1_<class>.txt`` results against DOTA label files.

    Args:
        det_dir: Folder with one ``Task1_<class>.txt`` per evaluated class (an empty file
            for a class without detections, as :func:`~rdet_eval.write_submission` writes).
        ann_dir: Folder of ``<image>.txt`` DOTA label files.
        iou_thr: A detection matches an object at IoU strictly above it; in (0, 1].
        classes: Class names (default DOTA v1.0's 15). With the default, a label file
            object of another class is an error (as ``rdet_data``'s ``DOTADataset``); with
            ``classes`` given, objects of other classes are not evaluated (a subset, as the
            devkit), unless the name is an evaluated class but for case, ``_`` or spaces
            (``Ship``: an error).
        image_list: The images to evaluate, each once: names, or a file with one name per
            line (the devkit's ``imagesetfile``); default every label file in ``ann_dir``.
        sort: ``'devkit'`` (default) or ``'stable'``, see :func:`eval_dota_task1`; stable
            ties fall in result-file line order.

    Returns:
        ``{'mAP', 'ap': {class: AP}, 'npos', 'num_dets', 'tp'}``.

    Raises:
        FileNotFoundError: ``det_dir`` or ``ann_dir`` does not exist, ``det_dir`` holds no
            ``Task1_*.txt`` (the message lists what it holds) or lacks an evaluated class's
            file, a listed image has no label file.
        NotADirectoryError: ``det_dir`` or ``ann_dir`` is a file.
        ValueError: A result file names an unknown class, a detection an image that is not
            evaluated; ``iou_thr`` outside (0, 1]; an image repeated in ``image_list`` (the
            devkit counts its objects twice; a file names its line) or a class in ``classes``;
            no label file holds a non-difficult object of the evaluated classes (every AP
            would be NaN); malformed lines, bytes that are
            not UTF-8 and label objects of unknown classes (see ``classes``) raise
            ``DotaFileError`` (``file:line:``).
        TypeError: ``use_07_metric`` is not a bool (``'False'`` is a truthy string).
    """
    iou_thr = check_iou_thr(iou_thr)
    use_07_metric = check_bool(use_07_metric, "use_07_metric")
    sort = check_sort(sort)
    det_dir = _folder(Path(det_dir), "results folder (det_dir)")
    ann_dir = _folder(Path(ann_dir), "label folder (ann_dir)")
    names = list(classes) if classes is not None else list(DOTA_V1_CLASSES)
    check_unique(names, "classes", " (each class is evaluated once, from its Task1_<class>.txt)")
    found = sorted(det_dir.glob("Task1_*.txt"))
    if not found:
        raise FileNotFoundError(f"no Task1_<class>.txt result files in {det_dir}: {_listing(det_dir)}")
    for path in found:
        cls = path.stem[len("Task1_") :]
        if cls not in names:
            raise ValueError(f"{path}: class {cls!r} is not among the evaluated classes {names}")
    missing = [cls for cls in names if not (det_dir / f"Task1_{cls}.txt").is_file()]
    if missing:
        raise FileNotFoundError(
            f"no result file for {len(missing)} of the {len(names)} evaluated classes in {det_dir}: "
            + ", ".join(f"Task1_{cls}.txt" for cls in missing)
            + " (a class without detections needs an empty file; or pass classes=)"
        )
    images = _image_names(ann_dir, image_list)
    labels = _read_labels(ann_dir, images)
    class_index = {name: c for c, name in enumerate(names)}
    _check_label_classes(labels, class_index, classes is None, ann_dir, images)
    gt_class = np.array([class_index.get(n, -1) for n in labels.names], np.int64)[labels.name_code]
    keep = gt_class >= 0
    res = read_task1_files([det_dir / f"Task1_{cls}.txt" for cls in names])  # file c: class c
    det_image = _image_of(res, images, det_dir, names)
    gt_class, gt_image, gt_poly, gt_difficult = (
        gt_class[keep],
        labels.file_index[keep],
        labels.polygons[keep],
        labels.difficult[keep],
    )
    other = (
        f" of the evaluated classes ({int(np.count_nonzero(~keep))} of other classes)"
        if not keep.all()
        else ""
    )
    _check_some_objects(gt_difficult, f"none of the {len(images)} label files in {ann_dir}", other)
    best, which = best_matches(res.file_index, det_image, res.polygons, gt_class, gt_image, gt_poly, iou_thr)
    per_class = _per_class_ap(
        res.file_index,
        res.scores,
        best,
        which,
        gt_class,
        gt_difficult,
        len(names),
        iou_thr,
        use_07_metric,
        sort,
    )
    return _summarise(dict(zip(names, per_class)))
