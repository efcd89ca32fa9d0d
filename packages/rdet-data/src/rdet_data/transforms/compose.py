"""``Compose``: run transforms in order; a transform returning None stops the chain (None)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rdet_data.registry import TRANSFORMS

__all__ = ["Compose"]


@TRANSFORMS.register_module()
class Compose:
    """Build each transform config with ``TRANSFORMS`` (callables are used as they are).

    A ``results`` dict goes through each in turn; when one returns None (e.g.
    ``PolyRandomRotate`` left no object) the whole chain returns None.
    """

    def __init__(self, transforms: Sequence[Mapping[str, Any] | Callable] | None = None):
        self.transforms: list[Callable] = []
        for t in transforms or []:
            if isinstance(t, Mapping):
                self.transforms.append(TRANSFORMS.build(t))
            elif callable(t):
                self.transforms.append(t)
            else:
                raise TypeError(f"a transform must be a config dict or a callable, got {type(t).__name__}")

    def __call__(self, data: Any) -> Any:
        for t in self.transforms:
            data = t(data)
            if data is None:
                return None
        return data

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"
