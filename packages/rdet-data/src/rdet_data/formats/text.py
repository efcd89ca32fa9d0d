"""Text label files as lines, with encoding errors that name the file and the line.

``open(path, encoding='utf-8')`` raises a bare ``UnicodeDecodeError`` (``'utf-8' codec can't
decode byte 0xe9 in position 1234``) that names neither. :func:`read_text_lines` decodes line
by line, so a Latin-1 class name or a UTF-16 file is a :class:`LabelEncodingError`
``file:line: not UTF-8 ...``; with ``errors='skip'`` only that line is left out.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LabelEncodingError", "read_text_lines"]

_BOM = b"\xef\xbb\xbf"


class LabelEncodingError(ValueError):
    """A label or list file that is not UTF-8 text; the message starts with ``file:line:``."""


def read_text_lines(
    path: str | os.PathLike, errors: str = "raise"
) -> tuple[list[tuple[int, str]], list[str]]:
    """``([(1-based line number, text)], [messages of skipped lines])`` of a UTF-8 text file.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (Python's universal newlines); a leading BOM is
    dropped; line numbers count every line, blank ones too.

    Args:
        path: The file.
        errors: ``'raise'`` (default): the first line that is not UTF-8 raises. ``'skip'``:
            it is left out and its message returned.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        LabelEncodingError: A line is not UTF-8 (``errors='raise'``); the message names the
            file, the line, the byte and its offset in the file. A UTF-16 file (its byte-order
            mark) raises with either ``errors``: no line of it would read.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    path = Path(path)
    data = path.read_bytes()
    offset = 0
    if data.startswith(_BOM):
        data, offset = data[len(_BOM) :], len(_BOM)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LabelEncodingError(f"{path}:1: a UTF-16 file (byte-order mark {data[:2]!r}); save it as UTF-8")
    lines: list[tuple[int, str]] = []
    skipped: list[str] = []
    for lineno, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append((lineno, raw.decode("utf-8")))
        except UnicodeDecodeError as err:
            message = (
                f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[err.start]:02x} at byte offset "
                f"{offset + err.start} of the file): {raw.decode('utf-8', 'replace').strip()!r}; save it as UTF-8"
            )
            if errors == "raise":
                raise LabelEncodingError(message) from None
            skipped.append(message)
        offset += len(raw)
    return lines, skipped
