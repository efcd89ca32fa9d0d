"""DOTA ``labelTxt`` files: one line per object, 8 polygon coordinates, class, difficulty.

Handles what real files hold (see ../shared/data/real/FORMATS.md): optional ``key:value``
header lines (``imagesource:``, ``gsd:``) before the first object, CRLF or LF line endings,
integer or float coordinates, ``difficult`` 0, 1 or 2 (2: truncated by the splitter) or
absent (0), empty files (patches without objects), zero-area quadrilaterals (kept here;
datasets decide what to drop).

Strict where a file is wrong: a header line is ``key:value`` whose key is a word (a letter,
then letters, digits, ``_`` or spaces: ``imagesource``, ``gsd``, ``acquisition dates``), before
the first object; any other line must be an object, so ``10 10 20 10 20 20 10 20:plane`` (a
lost space) is an error naming file:line, not a header. A class name holding ``:``, and a
``difficult`` other than 0, 1 or 2, are errors too. :func:`misspelled_class_names` finds
objects whose class is a configured class spelled differently (``Plane``, ``small_vehicle``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rdet_data.formats.text import read_text_lines

__all__ = ["DotaLabelError", "DotaLabels", "fold_class_name", "misspelled_class_names", "read_dota_labels"]

# ``imagesource:GoogleEarth``, ``gsd:0.25``, ``acquisition dates:...``: a word, then ':'
_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*:")
DIFFICULT_VALUES = (0, 1, 2)  # 0, 1: DOTA's flags; 2: ImgSplit's truncated objects


class DotaLabelError(ValueError):
    """A malformed line in a DOTA label file; the message starts with ``file:line:``."""


@dataclass
class DotaLabels:
    """The objects of one DOTA label file.

    Attributes:
        path: The file read.
        polygons: (K, 8) float32 ``x1, y1, ..., x4, y4`` in pixels, in file order.
        names: K class names as written (``small-vehicle``).
        difficult: (K,) int64 difficulty flags (0, 1, or 2 from the splitter).
        header: ``key: value`` lines before the first object (``gsd`` as written).
        lines: (K,) int64 1-based line number of each object, for error messages downstream.
        skipped: With ``errors='skip'``, the message (``file:line: ...``) of each malformed
            line that was skipped.
    """

    path: Path
    polygons: np.ndarray
    names: list[str]
    difficult: np.ndarray
    header: dict[str, str] = field(default_factory=dict)
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def read_dota_labels(path: str | os.PathLike, errors: str = "raise") -> DotaLabels:
    """Read a DOTA label file.

    Args:
        path: The ``.txt`` file.
        errors: ``'raise'`` (default): a malformed line raises :class:`DotaLabelError`.
            ``'skip'``: the line is left out and its message recorded in ``skipped``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DotaLabelError: A line is neither a header line (``word:value``, before the objects)
            nor ``8 numbers, class name[, difficult]`` with a class name without ``:`` and
            ``difficult`` 0, 1 or 2; the message names the file and line.
        LabelEncodingError: A line is not UTF-8 (``errors='raise'``; skipped with ``'skip'``).
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    path = Path(path)
    skipped: list[str] = []
    polygons: list[list[float]] = []
    names: list[str] = []
    difficult: list[int] = []
    lines: list[int] = []
    header: dict[str, str] = {}
    text_lines, skipped = read_text_lines(path, errors)  # CRLF, LF and CR alike; BOM dropped
    for lineno, raw in text_lines:
        tokens = raw.split()
        if not tokens:
            continue
        if not polygons and not skipped and _HEADER.match(raw.strip()):
            key, _, value = raw.strip().partition(":")
            header[key.strip()] = value.strip()
            continue
        try:
            coords, flag = _parse_object(tokens, raw, path, lineno)
        except DotaLabelError as err:
            if errors == "raise":
                raise
            skipped.append(str(err))
            continue
        polygons.append(coords)
        names.append(tokens[8])
        difficult.append(flag)
        lines.append(lineno)
    return DotaLabels(
        path=path,
        polygons=np.asarray(polygons, np.float32).reshape(-1, 8),
        names=names,
        difficult=np.asarray(difficult, np.int64),
        header=header,
        lines=np.asarray(lines, np.int64),
        skipped=skipped,
    )


def _parse_object(tokens: list[str], raw: str, path: Path, lineno: int) -> tuple[list[float], int]:
    """``(8 coordinates, difficult)`` of one object line, or DotaLabelError naming file:line."""
    if len(tokens) not in (9, 10):
        raise DotaLabelError(
            f"{path}:{lineno}: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]' (9 or 10 fields), "
            f"got {len(tokens)}: {raw.strip()!r}"
        )
    try:
        coords = [float(t) for t in tokens[:8]]
    except ValueError:
        raise DotaLabelError(
            f"{path}:{lineno}: the first 8 fields must be numbers: {raw.strip()!r}"
        ) from None
    if not np.all(np.isfinite(coords)):
        raise DotaLabelError(f"{path}:{lineno}: coordinates must be finite: {raw.strip()!r}")
    try:
        flag = int(tokens[9]) if len(tokens) == 10 else 0
    except ValueError:
        raise DotaLabelError(f"{path}:{lineno}: difficult must be an integer, got {tokens[9]!r}") from None
    if flag not in DIFFICULT_VALUES:
        raise DotaLabelError(
            f"{path}:{lineno}: difficult must be 0, 1 or 2 (2: truncated by the splitter), got {flag}: "
            f"{raw.strip()!r}"
        )
    if ":" in tokens[8]:
        raise DotaLabelError(
            f"{path}:{lineno}: class name {tokens[8]!r} holds ':' (a missing space, or a header line "
            f"among the objects?): {raw.strip()!r}"
        )
    return coords, flag


def fold_class_name(name: str) -> str:
    """``name`` lower-cased without ``-``, ``_`` and spaces: ``'Small_Vehicle'`` -> ``'smallvehicle'``."""
    return re.sub(r"[-_\s]+", "", name).lower()


def misspelled_class_names(labels: DotaLabels, classes: Sequence[str]) -> tuple[np.ndarray, str | None]:
    """Objects whose class name is not in ``classes`` but is one of them spelled differently.

    A name that matches a configured class apart from case, ``-``, ``_`` and spaces
    (``Plane`` or ``PLANE`` for ``plane``, ``small_vehicle`` for ``small-vehicle``, or
    ``small-vehicle`` for a ``classes`` entry written ``small vehicle``) is a typo in the file
    or in ``classes``, not another class; a dataset that drops names outside a ``classes``
    override (to train on a subset) must not drop these without a word.

    Returns:
        ``(mask, message)``: (K,) bool, True for such objects; and ``None`` when there is none,
        else ``'file:line: class 'Plane' is not in `classes`; did you mean 'plane'? ...'`` naming
        the first and how many there are in the file.
    """
    folded: dict[str, str] = {}
    for c in classes:
        folded.setdefault(fold_class_name(c), c)
    exact = set(classes)
    close = [None if n in exact else folded.get(fold_class_name(n)) for n in labels.names]
    mask = np.array([c is not None for c in close], bool)
    if not mask.any():
        return mask, None
    i = int(np.flatnonzero(mask)[0])
    others = sorted({labels.names[j] for j in np.flatnonzero(mask)} - {labels.names[i]})
    line = labels.lines[i] if i < len(labels.lines) else "?"
    message = (
        f"{labels.path}:{line}: class {labels.names[i]!r} is not in `classes`; did you mean "
        f"{close[i]!r}? (they differ only in case, '-', '_' or spaces: fix the label file or the "
        f"`classes` entry); {int(mask.sum())} such object(s) in this file"
        + (f" (also {', '.join(map(repr, others))})" if others else "")
    )
    return mask, message
