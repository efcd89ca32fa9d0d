"""DOTA text files as the official evaluation reads and writes them.

* Label files (``labelTxt/P0001.txt``): ``x1 y1 ... x4 y4 class [difficult]`` per object.
  As the devkit's ``parse_gt``: a missing difficult flag is 0, any non-zero flag (1, or 2
  from the splitter) is difficult, blank lines are skipped. Header lines (``imagesource:``,
  ``gsd:``) are told apart as ``rdet_data`` does: a line of fewer than 9 fields with a
  ``:``, before the file's first object. Any other short line (the devkit skips it, and
  the object is lost: 8 coordinates without their class) is an error.
* Task1 result files (``Task1_<class>.txt``): ``image score x1 y1 ... x4 y4`` per detection.

Fields are what ``bytes.split()`` separates; lines end at ``\n``, ``\r\n`` or a lone ``\r``.
Files are UTF-8; a leading BOM is dropped (as ``rdet_data`` does). Unlike the devkit, a
malformed line is an error naming the file and line: the number of fields of every line is
checked (a vectorised count) before all numbers are parsed in one pass, so a line with a
field too many or too few cannot shift the columns of the others; bytes that are not UTF-8
are an error naming the file and line too.

All files of a kind are one text: each is read straight into its place in one buffer
(joined by ``\n``, zero-padded for the word parse), scanned once, their numbers parsed in
one pass and their names coded in one pass (:mod:`rdet_eval._textscan`); errors still name
each file and its own line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rdet_eval._textscan import _PAD, Lines, field_codes, parse_table, scan_lines

__all__ = [
    "DotaFileError",
    "DotaObjects",
    "LabelSet",
    "Task1Arrays",
    "Task1Results",
    "Task1Set",
    "parse_label_files",
    "parse_task1_files",
    "read_bytes",
    "read_dota_objects",
    "read_label_files",
    "read_task1",
    "read_task1_arrays",
    "read_task1_files",
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


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file (one ``fstat`` and one ``read``: a third cheaper than
    ``Path.read_bytes`` on small files)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) != size:  # a short read, or the file changed: read to its end
            rest = [data]
            while chunk := os.read(fd, 1 << 20):
                rest.append(chunk)
            data = b"".join(rest)
        return data
    finally:
        os.close(fd)


def _read_into(fd: int, view: memoryview) -> int:
    """Read from ``fd`` into ``view`` until it is full or the file ends; the bytes read."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]]) if hasattr(os, "readv") else _read_copy(fd, view[got:])
        if n == 0:
            break
        got += n
    return got


def _read_copy(fd: int, view: memoryview) -> int:
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


def _read_joined(paths: Sequence[str | os.PathLike]) -> tuple[bytearray, list[int]] | None:
    """The files joined by ``\n`` between ``_PAD`` zero bytes, each read straight into its
    place in one buffer (no copy of each file, no copy of the whole), and where each begins;
    None if a file's size changed while reading."""
    sizes = [os.stat(p).st_size for p in paths]
    buf = bytearray(sum(sizes) + max(len(sizes) - 1, 0) + 2 * _PAD)
    view = memoryview(buf)
    starts = []
    pos = _PAD
    for k, (path, size) in enumerate(zip(paths, sizes)):
        if k:
            buf[pos] = 10
            pos += 1
        starts.append(pos)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            if os.fstat(fd).st_size != size or _read_into(fd, view[pos : pos + size]) != size:
                return None
        finally:
            os.close(fd)
        pos += size
    return buf, starts


@dataclass
class _Joined:
    """Several files scanned as one text (joined by ``\n``): line ``k`` of the text is line
    ``k - first_line[file_of[k]] + 1`` of file ``file_of[k]``."""

    paths: Sequence[str | os.PathLike]
    lines: Lines
    file_of: np.ndarray
    first_line: np.ndarray

    def where(self, line: int) -> str:
        """``'file:line'`` of text line ``line``."""
        f = int(self.file_of[line])
        return f"{Path(self.paths[f])}:{line - int(self.first_line[f]) + 1}"


def _check_text(
    data: bytes | bytearray, file_start: Sequence[int], paths: Sequence[str | os.PathLike]
) -> bytes | bytearray:
    """The joined files with each one's leading UTF-8 BOM blanked out (three spaces, so every
    offset stays; as ``rdet_data`` and ``encoding='utf-8-sig'`` drop it). Only ASCII is
    common: one vectorised test; other bytes must be UTF-8, checked file by file.

    Raises:
        DotaFileError: ``file:line:`` of the first byte that is not UTF-8 (a Latin-1 class
            or image name), or ``file:1:`` of a UTF-16 file (its byte-order mark).
    """
    buf = np.frombuffer(data, np.uint8)
    start = np.asarray(file_start, np.int64)
    if start.size:
        head = buf[np.minimum(start[:, None] + np.arange(3), buf.size - 1)]
        bom = np.flatnonzero((head == np.array([0xEF, 0xBB, 0xBF], np.uint8)).all(1))
        if bom.size:
            data = data if isinstance(data, bytearray) else bytearray(data)
            for k in start[bom].tolist():
                data[k : k + 3] = b"   "
            buf = np.frombuffer(data, np.uint8)
    if int(buf.max(initial=0)) >= 0x80:
        _check_utf8(data, start.tolist(), paths)
    return data


def _check_utf8(data: bytes | bytearray, file_start: list[int], paths: Sequence[str | os.PathLike]) -> None:
    """Decode each file of the joined text; the first that is not UTF-8 is an error naming it."""
    view = memoryview(data)
    ends = [s - 1 for s in file_start[1:]] + [len(data) - _PAD]  # (files are joined by one \n)
    for path, a, b in zip(paths, file_start, ends):
        text = bytes(view[a:b])
        if text.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DotaFileError(
                f"{Path(path)}:1: a UTF-16 file (byte-order mark {text[:2]!r}); save it as UTF-8"
            )
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as err:
            lineno = len((text[: err.start] + b"x").splitlines())
            line = (text[: err.start] + b"x").splitlines()[-1][:-1] + text[err.start :].splitlines()[0]
            raise DotaFileError(
                f"{Path(path)}:{lineno}: not UTF-8 text (byte 0x{text[err.start]:02x} at byte offset "
                f"{err.start} of the file): {line.decode('utf-8', 'replace').strip()!r}; save it as UTF-8"
            ) from None


def _join(paths: Sequence[str | os.PathLike], chunks: Sequence[bytes] | None = None) -> _Joined:
    """The files (their bytes ``chunks``, or read) as one text, scanned."""
    joined = _read_joined(paths) if chunks is None else None
    if joined is None:
        chunks = [read_bytes(p) for p in paths] if chunks is None else chunks
        starts = np.cumsum([_PAD] + [len(c) + 1 for c in chunks[:-1]]).tolist() if chunks else []
        joined = b"".join([bytes(_PAD), b"\n".join(chunks), bytes(_PAD)]), starts
    data, file_start = joined
    data = _check_text(data, file_start, paths)
    lines = scan_lines(data, _PAD)
    file_of = np.searchsorted(file_start, lines.start, side="right") - 1
    first_line = np.searchsorted(lines.start, file_start)
    return _Joined(paths, lines, file_of, first_line)


def _first_bad_row(*tables: tuple[np.ndarray, np.ndarray]) -> tuple[int | None, str]:
    """The first row that is not all finite numbers in tables of the same rows, ``(values
    (rows, width), bad)`` as :func:`~rdet_eval._textscan.parse_table` returns them, and what
    is wrong there: ``'numbers'`` (a field ``float`` rejects) or ``'finite'``."""
    finite = np.logical_and.reduce([np.isfinite(values).all(1) for values, _ in tables])
    if finite.all():
        return None, ""
    row = int(np.argmin(finite))
    rejected = any(bad.size and bad[0] // values.shape[1] <= row for values, bad in tables)
    return row, "numbers" if rejected else "finite"


def _text(fields: Sequence[bytes]) -> str:
    return " ".join(t.decode("utf-8", "replace") for t in fields)


@dataclass
class Task1Arrays:
    """A Task1 file as arrays: detection k is on image ``images[image_code[k]]``, from line
    ``line[k]`` (1-based) of the file."""

    images: list[str]
    image_code: np.ndarray
    scores: np.ndarray
    polygons: np.ndarray
    line: np.ndarray


@dataclass
class Task1Set:
    """Several Task1 files as arrays, in file then line order: detection k is from file
    ``file_index[k]``, its line ``line[k]`` (1-based), on image ``images[image_code[k]]``
    (the names of all files, in first-seen order); ``scores`` (D,) and ``polygons`` (D, 8)
    float64."""

    images: list[str]
    image_code: np.ndarray
    scores: np.ndarray
    polygons: np.ndarray
    file_index: np.ndarray
    line: np.ndarray


def parse_task1_files(paths: Sequence[str | os.PathLike], chunks: Sequence[bytes] | None = None) -> Task1Set:
    """Task1 files, given as their bytes (``chunks[i]`` is the content of ``paths[i]``) or
    read, scanned and parsed as one text: one pass over all their bytes, every number in one
    parse.

    Raises:
        DotaFileError: The first file with a malformed line names its first one
            (``file:line:``): a line without exactly 10 fields (every line of a file is
            counted before its numbers are read), else a score or coordinate that is not a
            finite number; bytes that are not UTF-8 (or a UTF-16 file).
    """
    text = _join(paths, chunks)
    lines = text.lines
    used = lines.count > 0
    wrong = np.flatnonzero(used & (lines.count != 10))
    rows = np.flatnonzero(used & (lines.count == 10))
    first = lines.first[rows]
    # the scores apart: a column of 17-digit numbers parses faster on its own
    scores, bad_scores = parse_table(lines, first, [1])
    polygons, bad_polygons = parse_table(lines, first, range(2, 10))
    bad_row, what = _first_bad_row((scores, bad_scores), (polygons, bad_polygons))
    if wrong.size and (bad_row is None or text.file_of[wrong[0]] <= text.file_of[rows[bad_row]]):
        first = int(wrong[0])
        in_file = int(np.count_nonzero(text.file_of[wrong] == text.file_of[first]))
        more = f" (and {in_file - 1} more such lines)" if in_file > 1 else ""
        raise DotaFileError(
            f"{text.where(first)}: expected {_TASK1_FORMAT}, got {int(lines.count[first])}{more}: "
            f"{lines.text(first)!r}"
        )
    if bad_row is not None:
        raise DotaFileError(
            f"{text.where(int(rows[bad_row]))}: score and coordinates must be {what}, "
            f"got {_text(lines.fields(first[bad_row] + np.arange(1, 10)))!r}"
        )
    names, code = field_codes(lines, first)
    file_index = text.file_of[rows]
    return Task1Set(
        [t.decode("utf-8") for t in names],
        code,
        scores[:, 0],
        polygons,
        file_index,
        rows - text.first_line[file_index] + 1,
    )


def read_task1_files(paths: Sequence[str | os.PathLike]) -> Task1Set:
    """Read several ``Task1_<class>.txt`` files at once (see :func:`parse_task1_files`)."""
    return parse_task1_files(paths)


def read_task1_arrays(path: str | os.PathLike) -> Task1Arrays:
    """:func:`read_task1` with the image names as codes (what the evaluation needs)."""
    res = read_task1_files([path])
    return Task1Arrays(res.images, res.image_code, res.scores, res.polygons, res.line)


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
    ``names[name_code[k]]``, from line ``line[k]`` (1-based) of file ``file_index[k]``."""

    polygons: np.ndarray
    names: list[str]
    name_code: np.ndarray
    difficult: np.ndarray
    file_index: np.ndarray
    line: np.ndarray


def _headers(text: _Joined, short: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Which of the lines ``short`` (1 to 8 fields) are header lines, by ``rdet_data``'s rule
    (``formats/dota.py``): a line with a ``:`` (``imagesource:GoogleEarth``, ``gsd:0.5``)
    before the first object line (``objects``, 9 fields or more) of its file."""
    file_of = text.file_of
    after_object = np.zeros(short.size, bool)
    if objects.size:
        prev = np.searchsorted(objects, short) - 1  # the last object line before each
        after_object = (prev >= 0) & (file_of[objects[np.maximum(prev, 0)]] == file_of[short])
    lines = text.lines
    header = ~after_object
    maybe = short[header]  # a few lines per file at most: each searched for its ':'
    bounds = np.append(lines.start, len(lines.data) - lines.pad)
    find = lines.data.find
    header[header] = [
        find(b":", a, b) >= 0 for a, b in zip(bounds[maybe].tolist(), bounds[maybe + 1].tolist())
    ]
    return header


def parse_label_files(paths: Sequence[str | os.PathLike], chunks: Sequence[bytes] | None = None) -> LabelSet:
    """DOTA label files, given as their bytes (``chunks[i]`` is the content of ``paths[i]``)
    or read, with the rules of :func:`read_dota_objects`, scanned and parsed as one text.

    Raises:
        DotaFileError: A line with more than 10 fields, or with 1 to 8 that is not a header
            line (see the module docstring), coordinates that are not finite numbers, a
            difficult flag that is not an integer, bytes that are not UTF-8 (or a UTF-16
            file): ``file:line:`` of the first one.
    """
    text = _join(paths, chunks)
    lines = text.lines
    objects = np.flatnonzero(lines.count >= 9)
    short = np.flatnonzero((lines.count > 0) & (lines.count < 9))  # blank lines are skipped
    if short.size:
        short = short[~_headers(text, short, objects)]
    wrong = np.flatnonzero(lines.count > 10)
    if short.size or wrong.size:
        line = int(min(short[:1].tolist() + wrong[:1].tolist()))
        hint = (
            " (only 'key:value' lines before the first object are a header)" if lines.count[line] < 9 else ""
        )
        raise DotaFileError(
            f"{text.where(line)}: expected {_LABEL_FORMAT}, got {int(lines.count[line])} fields{hint}: "
            f"{lines.text(line)!r}"
        )
    first = lines.first[objects]
    polygons, bad = parse_table(lines, first, range(8))
    bad_row, what = _first_bad_row((polygons, bad))
    if bad_row is not None:
        raise DotaFileError(
            f"{text.where(int(objects[bad_row]))}: coordinates must be {what}, "
            f"got {_text(lines.fields(first[bad_row] + np.arange(8)))!r}"
        )
    names, name_code = field_codes(lines, first + 8)
    difficult = np.zeros(objects.size, bool)
    flagged = np.flatnonzero(lines.count[objects] == 10)
    if flagged.size:
        flags, flag_code = field_codes(lines, first[flagged] + 9)
        values = []
        for k, flag in enumerate(t.decode("utf-8") for t in flags):
            try:
                values.append(int(flag))
            except ValueError:
                line = int(objects[flagged[np.argmax(flag_code == k)]])
                raise DotaFileError(
                    f"{text.where(line)}: difficult must be an integer, got {flag!r}"
                ) from None
        difficult[flagged] = np.asarray(values, np.int64)[flag_code] != 0
    file_index = text.file_of[objects]
    return LabelSet(
        polygons,
        [t.decode("utf-8") for t in names],
        name_code,
        difficult,
        file_index,
        objects - text.first_line[file_index] + 1,
    )


def read_label_files(paths: Sequence[str | os.PathLike]) -> LabelSet:
    """Read DOTA label files at once, with the rules of :func:`read_dota_objects`.

    Raises:
        DotaFileError: As :func:`parse_label_files`.
    """
    return parse_label_files(paths)


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
