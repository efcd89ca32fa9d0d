"""MMRotate's ``--cfg-options`` syntax: ``key.sub.0.name=value`` pairs with typed values.

Values are parsed as MMCV's ``DictAction`` parses them: ints, floats, ``true``/``false``
(any case), ``None``; ``a,b,c`` and ``[a,b,c]`` are lists, ``(a,b)`` a tuple, nesting
allowed (``[(1,2),(3,4)]``); quotes and spaces are dropped; anything else is a string.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["DictAction", "parse_cfg_options", "parse_option_value"]


def _parse_scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def _next_comma(text: str) -> int:
    """Index of the first comma outside brackets, or len(text)."""
    depth = 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            return i
    return len(text)


def parse_option_value(text: str) -> Any:
    """Parse one option value, e.g. ``'[(1,2),(3,4)]'`` -> ``[(1, 2), (3, 4)]``.

    Raises:
        ValueError: The brackets do not balance.
    """
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        raise ValueError(f"unbalanced brackets in option value {text!r}")
    value = text.strip("'\"").replace(" ", "")
    is_tuple = False
    if value.startswith("(") and value.endswith(")"):
        is_tuple, value = True, value[1:-1]
    elif value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    elif "," not in value:
        return _parse_scalar(value)
    items = []
    while value:
        end = _next_comma(value)
        items.append(parse_option_value(value[:end]))
        value = value[end + 1 :]
    return tuple(items) if is_tuple else items


def parse_cfg_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``['model.backbone.depth=18', 'data.samples_per_gpu=2']`` -> ``{dotted key: value}``.

    Raises:
        ValueError: An item has no ``=`` or an empty key; the message quotes the item.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--cfg-options item {pair!r} is not of the form key=value")
        try:
            options[key.strip()] = parse_option_value(value)
        except ValueError as e:
            raise ValueError(f"--cfg-options item {pair!r}: {e}") from None
    return options


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options k=v [k=v ...]`` (MMCV's name and behaviour)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = [values] if isinstance(values, str) else list(values or [])
        try:
            setattr(namespace, self.dest, parse_cfg_options(items))
        except ValueError as e:
            parser.error(str(e))
