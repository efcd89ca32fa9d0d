"""DOTA text files as the official evaluation reads and writes them.

* Label files (``labelTxt/P0001.txt``): ``x1 y1 ... x4 y4 class [difficult]`` per object.
  As the devkit's ``parse_gt``: lines with fewer than 9 fields (the ``imagesource:`` and
  ``gsd:`` header, blank lines) are skipped, a missing difficult flag is 0, any non-zero
  flag (1, or 2 from the splitter) is difficult.
* Task1 result files (``Task1_<class>.txt``): ``image score x1 y1 ... x4 y4`` per detection.

Fields are what ``bytes.split()`` separates; lines end at ``\n``, ``\r\n`` or a lone ``\r``.
Unlike the devkit, a malformed line is an error naming the file and line: the number of
fields of every line is checked (a vectorised count) before all numbers are parsed in one
pass, so a line with a field too many or too few cannot shift the columns of the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rdet_eval._textscan import Lines, parse_floats, scan_lines

__all__ = [
    "DotaFileError",
    "DotaObjects",
    "LabelSet",
    "Task1Arrays",
    "Task1Results",
    "read_dota_objects",
    "read_label_files",
    "read_task1",
    "read_task1_arrays",
    "write_task1",
]


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


_TASK1_FORMAT = "'image score x1 y1 ... x4 y4' (10 fields)"
_LABEL_FORMAT = "'x1 y1 ... x4 y4 class [difficult]'"


def _numbers(lines: Lines, index: np.ndarray, rows: int, width: int) -> tuple[np.ndarray, int | None, str]:
    """``(rows, width)`` float64 of fields ``index`` (row-major) and the first bad row
    (None if all are finite numbers) with what is wrong there."""
    values, bad = parse_floats(lines, index)
    values = values.reshape(rows, width)
    finite = np.isfinite(values).all(1)
    if bad.size == 0 and finite.all():
        return values, None, ""
    first_nan = int(np.argmin(finite))
    if bad.size and bad[0] // width <= first_nan:
        return values, int(bad[0] // width), "numbers"
    return values, first_nan, "finite"


def _text(fields: Sequence[bytes]) -> str:
    return " ".join(t.decode("utf-8", "replace") for t in fields)


def _string_codes(tokens: Sequence[bytes]) -> tuple[list[str], np.ndarray]:
    """Distinct strings (in first-seen order, decoded) and the code of each token."""
    distinct = dict.fromkeys(tokens)
    index = {t: i for i, t in enumerate(distinct)}
    code = np.fromiter(map(index.__getitem__, tokens), np.int64, len(tokens))
    return [t.decode("utf-8") for t in distinct], code


@dataclass
class Task1Arrays:
    """A Task1 file as arrays: detection k is on image ``images[image_code[k]]``, from line
    ``line[k]`` (1-based) of the file."""

    images: list[str]
    image_code: np.ndarray
    scores: np.ndarray
    polygons: np.ndarray
    line: np.ndarray


def read_task1_arrays(path: str | os.PathLike) -> Task1Arrays:
    """:func:`read_task1` with the image names as codes (what the evaluation needs)."""
    path = Path(path)
    lines = scan_lines(path.read_bytes())
    used = lines.count > 0
    bad = np.flatnonzero(used & (lines.count != 10))
    if bad.size:  # every line is checked before any number is read
        first = int(bad[0])
        more = f" (and {bad.size - 1} more such lines)" if bad.size > 1 else ""
        raise DotaFileError(
            f"{path}:{first + 1}: expected {_TASK1_FORMAT}, got {int(lines.count[first])}{more}: "
            f"{lines.text(first)!r}"
        )
    rows = int(used.sum())
    fields = np.arange(10 * rows).reshape(rows, 10)  # now exactly 10 per used line
    values, bad_row, what = _numbers(lines, fields[:, 1:].ravel(), rows, 9)
    if bad_row is not None:
        line = int(np.flatnonzero(used)[bad_row])
        raise DotaFileError(
            f"{path}:{line + 1}: score and coordinates must be {what}, "
            f"got {_text(lines.fields(fields[bad_row, 1:]))!r}"
        )
    names = lines.fields(fields[:, 0])
    images, code = _string_codes(names)
    return Task1Arrays(images, code, values[:, 0].copy(), values[:, 1:].copy(), np.flatnonzero(used) + 1)


def read_task1(path: str | os.PathLike) -> Task1Results:
    """Read a ``Task1_<class>.txt`` result file (blank lines are skipped).

    Raises:
        DotaFileError: A line without exactly 10 fields, or whose score and coordinates are
            not finite numbers: ``file:line:`` of the first one.
    """
    arrays = read_task1_arrays(path)
    names = np.array(arrays.images, dtype=object)
    return Task1Results(names[arrays.image_code].tolist(), arrays.scores, arrays.polygons)


@dataclass
class LabelSet:
    """The objects of several label files, in file order: object k is of class
    ``names[name_code[k]]`` and in file ``file_index[k]``."""

    polygons: np.ndarray
    names: list[str]
    name_code: np.ndarray
    difficult: np.ndarray
    file_index: np.ndarray


def read_label_files(paths: Sequence[str | os.PathLike]) -> LabelSet:
    """Read DOTA label files at once, with the rules of :func:`read_dota_objects`.

    Raises:
        DotaFileError: A line with more than 10 fields, coordinates that are not finite
            numbers, a difficult flag that is not an integer: ``file:line:`` of the first one.
    """
    paths = [Path(p) for p in paths]
    chunks = [p.read_bytes() for p in paths]
    lines = scan_lines(b"\n".join(chunks))
    file_start = np.cumsum([0] + [len(c) + 1 for c in chunks[:-1]])
    line_file = np.searchsorted(file_start, lines.start, side="right") - 1
    first_line = np.searchsorted(lines.start, file_start)

    def error(line: int, message: str) -> DotaFileError:
        f = int(line_file[line])
        return DotaFileError(f"{paths[f]}:{line - int(first_line[f]) + 1}: {message}")

    too_many = np.flatnonzero(lines.count > 10)
    if too_many.size:
        line = int(too_many[0])
        raise error(
            line, f"expected {_LABEL_FORMAT}, got {int(lines.count[line])} fields: {lines.text(line)!r}"
        )
    objects = np.flatnonzero(lines.count >= 9)  # shorter lines (headers, blanks) are skipped
    first = lines.first[objects]
    coords = first[:, None] + np.arange(8)
    polygons, bad_row, what = _numbers(lines, coords.ravel(), objects.size, 8)
    if bad_row is not None:
        raise error(
            int(objects[bad_row]), f"coordinates must be {what}, got {_text(lines.fields(coords[bad_row]))!r}"
        )
    names, name_code = _string_codes(lines.fields(first + 8))
    difficult = np.zeros(objects.size, bool)
    flagged = np.flatnonzero(lines.count[objects] == 10)
    if flagged.size:
        flags, flag_code = _string_codes(lines.fields(first[flagged] + 9))
        values = []
        for k, flag in enumerate(flags):
            try:
                values.append(int(flag))
            except ValueError:
                line = int(objects[flagged[np.argmax(flag_code == k)]])
                raise error(line, f"difficult must be an integer, got {flag!r}") from None
        difficult[flagged] = np.asarray(values, np.int64)[flag_code] != 0
    return LabelSet(polygons, names, name_code, difficult, line_file[objects])


def read_dota_objects(path: str | os.PathLike) -> DotaObjects:
    """Read a DOTA label file with the official evaluation's rules (see the module docstring).

    Raises:
        DotaFileError: As :func:`read_label_files`.
    """
    labels = read_label_files([path])
    names = np.array(labels.names, dtype=object)
    return DotaObjects(labels.polygons, names[labels.name_code].tolist(), labels.difficult)


def write_task1(
    path: str | os.PathLike, rows: Iterable[tuple[str, float, Sequence[float]]], decimals: int | None = None
) -> int:
    """Write ``(image, score, polygon (8,))`` rows to a Task1 (or, with 4 coordinates, Task2) file.

    Args:
        decimals: Round coordinates to this many decimals (scores keep full precision);
            None writes python's shortest round-trip form.

    Returns:
        The number of lines written.

    Raises:
        ValueError: An image name that is empty or holds whitespace, a non-finite score or
            coordinate (the devkit would write ``nan``).
    """
    fmt = (lambda v: repr(float(v))) if decimals is None else (lambda v: f"{float(v):.{decimals}f}")
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for image, score, coords in rows:
            if any(c.isspace() for c in image) or not image:
                raise ValueError(f"image name {image!r} must be non-empty without spaces")
            if not (np.isfinite(score) and np.isfinite(coords).all()):
                raise ValueError(
                    f"{path}: row {n} (image {image!r}) is not finite: score {score}, coordinates "
                    f"{np.asarray(coords, np.float64).tolist()}"
                )
            f.write(f"{image} {float(score)!r} {' '.join(fmt(v) for v in coords)}\n")
            n += 1
    return n
