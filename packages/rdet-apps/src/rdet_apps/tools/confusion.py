"""MMRotate's ``tools/analysis_tools/confusion_matrix.py``: the confusion matrix of a results
file (``rdet test --out results.pkl``) against the config's test annotations, by rdet-eval."""

from __future__ import annotations

import csv
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_color_theme", "load_results", "save_confusion_matrix"]


def check_color_theme(name: str) -> None:
    """Raise ValueError unless ``name`` is a matplotlib colour map (checked before the work, so
    that a typo fails at once). Without matplotlib there is nothing to check: the picture is
    then skipped with its own error."""
    try:
        from matplotlib import colormaps
    except ImportError:
        return
    if name not in colormaps:
        close = [c for c in sorted(colormaps) if c.lower().startswith(name[:3].lower())][:5]
        hint = f" (close: {', '.join(close)})" if close else " (e.g. plasma, viridis, Blues)"
        raise ValueError(f"--color-theme {name}: not a matplotlib colour map{hint}")


def load_results(
    path: str | os.PathLike, num_images: int | None = None, num_classes: int | None = None
) -> list[Any]:
    """The per-image results of a ``.pkl`` written by ``rdet test --out`` (MMRotate's format):
    per image, per class an array (k, 6) of ``(cx, cy, w, h, theta, score)``. An image's entry
    may also be a ``Detections``-like object (``boxes``, ``scores``, ``labels``).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a pickle of a list, not ``num_images`` entries, or an entry that is not
            ``num_classes`` arrays (k, 6) (named by image and class).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such results file: {path}")
    try:
        with open(path, "rb") as f:
            results = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as e:
        raise ValueError(f"{path}: not a results .pkl of rdet test --out ({type(e).__name__}: {e})") from None
    if not isinstance(results, (list, tuple)):
        raise ValueError(f"{path}: holds a {type(results).__name__}, not a list of per-image results")
    if num_images is not None and len(results) != num_images:
        raise ValueError(
            f"{path}: {len(results)} results for a test set of {num_images} images (another config or data?)"
        )
    for i, per_image in enumerate(results):
        _check_image_result(path, i, per_image, num_classes)
    return list(results)


def _check_image_result(path: Path, index: int, per_image: Any, num_classes: int | None) -> None:
    """Raise ValueError unless ``per_image`` is a Detections-like object or a list of
    ``num_classes`` arrays (k, 6) (a (6,) array or an empty one is one/no detection)."""
    if all(hasattr(per_image, a) for a in ("boxes", "scores", "labels")):
        return
    if not isinstance(per_image, (list, tuple)):
        raise ValueError(
            f"{path}: result of image {index} is a {type(per_image).__name__}, "
            "not a list of per-class arrays (k, 6)"
        )
    if num_classes is not None and len(per_image) != num_classes:
        raise ValueError(
            f"{path}: result of image {index} has {len(per_image)} classes, the test set has {num_classes}"
        )
    for c, dets in enumerate(per_image):
        try:
            arr = np.asarray(dets, np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is None or not (arr.size == 0 or (arr.ndim == 2 and arr.shape[1] == 6) or arr.shape == (6,)):
            shape = "not numeric" if arr is None else f"of shape {arr.shape}"
            raise ValueError(
                f"{path}: result of image {index}, class {c} is {shape}, "
                "not (k, 6) rows of cx, cy, w, h, theta, score"
            )


def save_confusion_matrix(
    matrix: np.ndarray,
    classes: Sequence[str],
    out_dir: str | os.PathLike,
    show: bool = False,
    color_theme: str = "plasma",
) -> dict[str, Path]:
    """Write ``confusion_matrix.npy`` (counts), ``confusion_matrix.csv`` (counts, rows ground
    truth, columns predictions, background last, with the class names) and, with matplotlib,
    ``confusion_matrix.png`` (rows normalised, as MMRotate draws it). Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [*map(str, classes), "background"]
    paths = {"npy": out / "confusion_matrix.npy", "csv": out / "confusion_matrix.csv"}
    np.save(paths["npy"], matrix)
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["gt \\ pred", *names])
        for name, row in zip(names, matrix):
            writer.writerow([name, *(int(v) for v in row)])
    from rdet_apps.tools.plotting import pyplot
    from rdet_eval import plot_confusion_matrix

    plt = pyplot("confusion-matrix", None if show else "Agg")
    paths["png"] = out / "confusion_matrix.png"
    fig = plot_confusion_matrix(matrix, list(map(str, classes)), paths["png"], color_theme=color_theme)
    if show:
        plt.show()
    plt.close(fig)
    return paths
