"""DOTA server submissions: ``Task1_<class>.txt`` (oriented) and ``Task2_<class>.txt``
(horizontal) files from detections, and the zip the server takes."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rbox_geometry import obb2poly
from rdet_eval._checks import check_task1_class_names, check_unique
from rdet_eval.detections import DetectionsLike, is_typed_results, per_class_results
from rdet_eval.dota_files import write_task1

__all__ = ["write_submission", "zip_submission"]


def _as_polygons(dets: np.ndarray, where: str) -> np.ndarray:
    """(k, 6) boxes + score or (k, 9) polygons + score -> (k, 9) polygons + score."""
    d = np.asarray(dets, np.float64)
    if d.size == 0:
        return np.zeros((0, 9))
    if d.ndim == 2 and d.shape[1] == 6:
        return np.hstack([obb2poly(d[:, :5]), d[:, 5:6]])
    if d.ndim == 2 and d.shape[1] == 9:
        return d
    raise ValueError(f"{where} must be (k, 6) boxes or (k, 9) polygons with a score, got shape {d.shape}")


def write_submission(
    out_dir: str | os.PathLike,
    image_names: Sequence[str],
    results: Sequence[Sequence[np.ndarray]] | Sequence[DetectionsLike],
    class_names: Sequence[str],
    task: str = "Task1",
    decimals: int = 2,
) -> list[Path]:
    """Write one result file per class, as the DOTA server expects.

    Args:
        out_dir: Folder to write into (created).
        image_names: The image of each entry of ``results`` (no extension).
        results: Per image, in the whole image's pixels, either a list per class of (k, 6)
            ``(cx, cy, w, h, theta, score)`` or (k, 9) polygons with a score, or detections
            with ``boxes`` (k, 5), ``scores`` (k,), ``labels`` (k,) (e.g.
            ``rdet_core.structures.Detections``; labels index ``class_names``).
        class_names: One name per class, each once, as it goes into ``Task1_<class>.txt``:
            DOTA's names (``small-vehicle``, ...), no whitespace or path separators.
        task: ``'Task1'`` (oriented: 8 coordinates) or ``'Task2'`` (horizontal: the polygon's
            bounding box ``xmin ymin xmax ymax``).
        decimals: Decimals of the coordinates (MMRotate writes 2).

    Returns:
        The files written, one per class (empty files for classes without detections).

    Raises:
        ValueError: An image name given twice (every detection would be written twice),
            a class name given twice (the second class's file would replace the first's),
            a class name that cannot name a ``Task1_<class>.txt`` file (whitespace, as
            DOTA8's ``small vehicle``, or ``/``: the message says DOTA's spelling), an
            unknown ``task``, results of the wrong length or shape.
        TypeError: A class name that is not a string.
    """
    if task not in ("Task1", "Task2"):
        raise ValueError(f"task must be 'Task1' or 'Task2', got {task!r}")
    if len(image_names) != len(results):
        raise ValueError(f"{len(image_names)} image names for {len(results)} results")
    class_names = check_task1_class_names(class_names, "class_names")
    check_unique(image_names, "image_names", " (an image's detections would be written once per entry)")
    if is_typed_results(results, "results"):
        results, _ = per_class_results(results, len(class_names), "results")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for c, name in enumerate(class_names):
        rows = []
        for image, per_class in zip(image_names, results):
            if len(per_class) != len(class_names):
                raise ValueError(
                    f"results of {image!r} have {len(per_class)} classes, expected {len(class_names)}"
                )
            polys = _as_polygons(per_class[c], f"results of {image!r}, class {name!r}")
            for p in polys:
                coords = (
                    p[:8]
                    if task == "Task1"
                    else (p[0:8:2].min(), p[1:8:2].min(), p[0:8:2].max(), p[1:8:2].max())
                )
                rows.append((image, p[8], coords))
        path = out / f"{task}_{name}.txt"
        write_task1(path, rows, decimals=decimals)
        files.append(path)
    return files


def zip_submission(files: Sequence[str | os.PathLike], zip_path: str | os.PathLike) -> Path:
    """Zip result files flat (no folders inside), as the server wants them.

    Raises:
        ValueError: Two files of the same name (from different folders): flat, the zip
            would hold both under one name and a reader takes one of them.
    """
    check_unique([Path(f).name for f in files], "zip_submission's files (names)")
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, arcname=Path(f).name)
    return zip_path
