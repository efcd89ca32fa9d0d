"""``ConfigDict``: a dict whose keys are also attributes, nested all the way down."""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigDict", "to_plain"]


def _wrap(value: Any) -> Any:
    """Dicts become ConfigDicts, inside lists and tuples too; other values stay as they are."""
    if isinstance(value, dict) and not isinstance(value, ConfigDict):
        return ConfigDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_wrap(v) for v in value)
    return value


def to_plain(value: Any) -> Any:
    """Plain ``dict``/``list``/``tuple`` copies of a (nested) config value."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(to_plain(v) for v in value)
    return value


class ConfigDict(dict):
    """A dict with attribute access (``cfg.model.backbone.depth``).

    Nested dicts, including those inside lists and tuples, are ConfigDicts as well, both when
    the ConfigDict is made and when a value is set. A missing key raises ``KeyError`` by item
    and ``AttributeError`` by attribute, as MMCV's ConfigDict does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            super().__setitem__(key, _wrap(value))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def copy(self) -> ConfigDict:
        return ConfigDict(self)

    def to_dict(self) -> dict:
        """A plain nested dict (lists and tuples kept as they are)."""
        return to_plain(self)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *(k for k in self if isinstance(k, str))]

    def __reduce__(self) -> Any:
        return (ConfigDict, (dict(self),))

    def __repr__(self) -> str:
        return dict.__repr__(self)
