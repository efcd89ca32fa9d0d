"""DOTA ``labelTxt`` files: one line per object, 8 polygon coordinates, class, difficulty.

Handles what real files hold (see ../shared/data/real/FORMATS.md): optional ``key:value``
header lines (``imagesource:``, ``gsd:``) before the first object, CRLF or LF line endings,
integer or float coordinates, ``difficult`` 0, 1 or 2 (2: truncated by the splitter) or
absent (0), empty files (patches without objects), zero-area quadrilaterals (kept here;
datasets decide what to drop).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rdet_data.formats.text import read_text_lines

__all__ = ["DotaLabelError", "DotaLabels", "read_dota_labels"]


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
        DotaLabelError: A line is neither a header line (before the objects) nor
            ``8 numbers, class name[, difficult]``; the message names the file and line.
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
        if len(tokens) < 9 and ":" in raw and not polygons and not skipped:
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
    return coords, flag
