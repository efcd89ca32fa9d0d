"""DOTA text files as the official evaluation reads and writes them.

* Label files (``labelTxt/P0001.txt``): ``x1 y1 ... x4 y4 class [difficult]`` per object.
  As the devkit's ``parse_gt``: lines with fewer than 9 fields (the ``imagesource:`` and
  ``gsd:`` header, blank lines) are skipped, a missing difficult flag is 0, any non-zero
  flag (1, or 2 from the splitter) is difficult.
* Task1 result files (``Task1_<class>.txt``): ``image score x1 y1 ... x4 y4`` per detection.

Unlike the devkit, a malformed line is an error naming the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DotaFileError", "DotaObjects", "Task1Results", "read_dota_objects", "read_task1", "write_task1"]


class DotaFileError(ValueError):
    """A malformed line in a DOTA label or result file; the message starts ``file:line:``."""


@dataclass
class DotaObjects:
    """The objects of one label file: (N, 8) float64 polygons, N class names, (N,) bool difficult."""

    polygons: np.ndarray
    names: list[str]
    difficult: np.ndarray


@dataclass
class Task1Results:
    """One class's detections in file order: N image names, (N,) float64 scores, (N, 8) polygons."""

    images: list[str]
    scores: np.ndarray
    polygons: np.ndarray


def _floats(tokens: Sequence[str], path: Path, lineno: int, what: str) -> list[float]:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise DotaFileError(f"{path}:{lineno}: {what} must be numbers, got {' '.join(tokens)!r}") from None
    if not all(np.isfinite(values)):
        raise DotaFileError(f"{path}:{lineno}: {what} must be finite, got {' '.join(tokens)!r}")
    return values


def _coords(rows: list[list[str]], lines: list[int], path: Path, what: str) -> np.ndarray:
    """Parse rows of number strings at once; on failure, find and name the first bad line."""
    try:
        values = np.array(rows, dtype=str).astype(np.float64) if rows else np.zeros((0, len(what.split())))
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for tokens, lineno in zip(rows, lines):
        _floats(tokens, path, lineno, what)
    raise AssertionError("unreachable: a bad value was not found")  # pragma: no cover


def read_dota_objects(path: str | os.PathLike) -> DotaObjects:
    """Read a DOTA label file with the official evaluation's rules (see the module docstring)."""
    path = Path(path)
    rows, names, flags, lines = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            tokens = line.split()
            if len(tokens) < 9:
                continue
            if len(tokens) > 10:
                raise DotaFileError(
                    f"{path}:{lineno}: expected 'x1 y1 ... x4 y4 class [difficult]', got {len(tokens)} fields"
                )
            rows.append(tokens[:8])
            names.append(tokens[8])
            flags.append(tokens[9] if len(tokens) == 10 else "0")
            lines.append(lineno)
    polygons = _coords(rows, lines, path, "coordinates").reshape(-1, 8)
    try:
        difficult = np.array(flags, dtype=str).astype(np.int64) != 0 if flags else np.zeros(0, bool)
    except ValueError:
        bad = next(i for i, f in enumerate(flags) if not f.lstrip("-").isdigit())
        raise DotaFileError(
            f"{path}:{lines[bad]}: difficult must be an integer, got {flags[bad]!r}"
        ) from None
    return DotaObjects(polygons, names, difficult)


def read_task1(path: str | os.PathLike) -> Task1Results:
    """Read a ``Task1_<class>.txt`` result file (blank lines are skipped)."""
    path = Path(path)
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    heads = [line.split(None, 1) for line in lines]
    images = [h[0] for h in heads]
    # one C-level parse of every number; a line-by-line pass only to name a bad line
    try:
        values = (
            np.fromstring(" ".join(h[1] if len(h) > 1 else "" for h in heads), sep=" ")
            if lines
            else np.zeros(0)
        )
    except ValueError:  # a token that is not a number
        values = np.zeros(0)
    if values.size != 9 * len(lines) or not np.isfinite(values).all():
        rows, numbers = [], []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                tokens = line.split()
                if not tokens:
                    continue
                if len(tokens) != 10:
                    raise DotaFileError(
                        f"{path}:{lineno}: expected 'image score x1 y1 ... x4 y4' (10 fields), got {len(tokens)}"
                    )
                rows.append(tokens[1:])
                numbers.append(lineno)
        values = _coords(rows, numbers, path, "score and coordinates")
    values = values.reshape(-1, 9)
    return Task1Results(images, values[:, 0].copy(), values[:, 1:].copy())


def write_task1(
    path: str | os.PathLike, rows: Iterable[tuple[str, float, Sequence[float]]], decimals: int | None = None
) -> int:
    """Write ``(image, score, polygon (8,))`` rows to a Task1 (or, with 4 coordinates, Task2) file.

    Args:
        decimals: Round coordinates to this many decimals (scores keep full precision);
            None writes python's shortest round-trip form.

    Returns:
        The number of lines written.
    """
    fmt = (lambda v: repr(float(v))) if decimals is None else (lambda v: f"{float(v):.{decimals}f}")
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for image, score, coords in rows:
            if any(c.isspace() for c in image) or not image:
                raise ValueError(f"image name {image!r} must be non-empty without spaces")
            f.write(f"{image} {float(score)!r} {' '.join(fmt(v) for v in coords)}\n")
            n += 1
    return n
