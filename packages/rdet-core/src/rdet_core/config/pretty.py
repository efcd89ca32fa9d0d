"""A config dict as python source that loads back to an equal dict.

Top-level keys become assignments; nested dicts are written ``dict(key=value)`` when every
key can be a keyword argument, else ``{'key': value}``. A structure that fits on one line
within ``width`` is written on one line, else one item per line, indented by four spaces.
"""

from __future__ import annotations

import keyword
import math
from typing import Any

__all__ = ["format_python_config"]

_INDENT = "    "


def _is_kwarg(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _scalar(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    if value is None or isinstance(value, (bool, int, float, str, bytes, complex)):
        return repr(value)
    raise TypeError(f"{type(value).__name__} values cannot be written to a python config: {value!r}")


def _items(value: Any) -> tuple[str, str, list[str], str] | None:
    """(opening, closing, item texts) of a container, or None for a scalar."""
    if isinstance(value, dict):
        if all(_is_kwarg(k) for k in value):
            return "dict(", ")", [f"{k}=" for k in value], "kw"
        return "{", "}", [f"{_scalar(k)}: " for k in value], "map"
    if isinstance(value, list):
        return "[", "]", ["" for _ in value], "seq"
    if isinstance(value, tuple):
        return "(", ")", ["" for _ in value], "tuple"
    return None


def _format(value: Any, indent: int, width: int, used: int) -> str:
    """``value`` as source, starting ``used`` columns into a line indented ``indent`` levels."""
    shape = _items(value)
    if shape is None:
        return _scalar(value)
    opening, closing, prefixes, kind = shape
    children = list(value.values()) if isinstance(value, dict) else list(value)
    one_line = [p + _format(c, 0, 10**9, 0) for p, c in zip(prefixes, children)]
    tail = "," if kind == "tuple" and len(children) == 1 else ""
    flat = opening + ", ".join(one_line) + tail + closing
    if used + len(flat) <= width or not children:
        return flat
    pad = _INDENT * (indent + 1)
    lines = [
        pad + p + _format(c, indent + 1, width, len(pad) + len(p)) + "," for p, c in zip(prefixes, children)
    ]
    return opening + "\n" + "\n".join(lines) + "\n" + _INDENT * indent + closing


def format_python_config(cfg: dict, width: int = 100) -> str:
    """Python source assigning each top-level key of ``cfg``.

    Raises:
        ValueError: A top-level key is not a python identifier.
        TypeError: A value is not a dict, list, tuple, str, number, bool or None.
    """
    lines = []
    for key, value in cfg.items():
        if not _is_kwarg(key):
            raise ValueError(
                f"top-level config key {key!r} is not a python identifier and cannot be written to a .py file"
            )
        lines.append(f"{key} = {_format(value, 0, width, len(key) + 3)}")
    return "\n".join(lines) + "\n"
