"""Merging a child config into its base: MMCV's rules, ``_delete_`` and list indices."""

from __future__ import annotations

from typing import Any

from rdet_core.config.config_dict import ConfigDict

__all__ = ["DELETE_KEY", "merge_into"]

DELETE_KEY = "_delete_"


def _strip_delete_keys(value: Any) -> Any:
    """``value`` without ``_delete_`` keys at any depth (they mean nothing without a base)."""
    if isinstance(value, dict):
        return {k: _strip_delete_keys(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [_strip_delete_keys(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_strip_delete_keys(v) for v in value)
    return value


def merge_into(child: dict, base: Any, allow_list_keys: bool = False, where: str = "") -> Any:
    """Merge ``child`` into a copy of ``base`` and return the copy; neither input changes.

    Dict values merge recursively; other values replace. ``_delete_=True`` in a child dict
    replaces the base's dict instead of merging into it. With ``allow_list_keys``, digit keys
    (``'0'``) index into a base list.

    Difference from MMCV 1.x, on purpose: MMCV leaves a ``_delete_`` key in the result when
    the base has no such key to delete (and inside a dict that replaces a base wholesale),
    where it later reaches a constructor as an unexpected argument. rdet drops it always.

    Raises:
        KeyError: A list index is out of range.
        TypeError: The child has a dict where the base has a value of another type.
    """
    merged = list(base) if isinstance(base, list) else dict(base)
    for key, value in child.items():
        path = f"{where}.{key}" if where else str(key)
        if allow_list_keys and isinstance(merged, list) and isinstance(key, str) and key.isdigit():
            index = int(key)
            if index >= len(merged):
                raise KeyError(
                    f"index {index} of {where or 'the config'} is out of range: the list has {len(merged)} items"
                )
            merged[index] = merge_into(value, merged[index], allow_list_keys, path)
        elif isinstance(merged, list):
            raise TypeError(
                f"{path}: the base has a list at {where or 'the top'}; index it with a number, e.g. {where}.0"
            )
        elif isinstance(value, dict):
            value = dict(value)
            replace = bool(value.pop(DELETE_KEY, False))
            if key in merged and not replace:
                allowed = (dict, list) if allow_list_keys else (dict,)
                if not isinstance(merged[key], allowed):
                    raise TypeError(
                        f"{path}={value} in the child config cannot inherit from the base config: it is a "
                        f"dict in the child but a {type(merged[key]).__name__} in the base. "
                        f"Set `{DELETE_KEY}=True` in the child's dict to replace the base's value."
                    )
                merged[key] = merge_into(value, merged[key], allow_list_keys, path)
            else:
                merged[key] = ConfigDict(_strip_delete_keys(value))
        else:
            merged[key] = value
    return merged
