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

__all__ = ["load_results", "save_confusion_matrix"]


def load_results(path: str | os.PathLike, num_images: int | None = None) -> list[Any]:
    """The per-image results of a ``.pkl`` written by ``rdet test --out`` (MMRotate's format).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a pickle of a list, or not ``num_images`` entries.
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
    return list(results)


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
