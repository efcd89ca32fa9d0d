"""MMRotate's ``custom_imports`` config key: modules imported so that they register themselves.

MMCV imports them while it loads the config file. rdet defers that to the first time a
registry is used after the file was loaded, so that a config naming a package that is not
installed (e.g. ``mmcls.models``) still loads, prints and dumps; building from it then
raises a clear error naming the config file and the module.

OpenMMLab modules whose registered names rdet provides itself (:data:`PROVIDED_MODULES`, e.g.
MMRotate's ConvNeXt config imports ``mmcls.models`` for ``type='mmcls.ConvNeXt'``) are satisfied by
importing the rdet package that registers those names instead; the OpenMMLab package need not be
installed, and is not imported when it is (its registries are not rdet's). Any other module is
imported as it is, and fails as it would.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "PROVIDED_MODULES",
    "CustomImportError",
    "defer_custom_imports",
    "discard_pending_custom_imports",
    "import_custom_modules",
    "import_pending_custom_modules",
]


#: OpenMMLab module named in ``custom_imports`` -> the rdet module that registers the names a
#: config of it uses (the scoped ``type='mmcls.ConvNeXt'`` then resolves by its last part).
PROVIDED_MODULES: dict[str, str] = {
    "mmcls.models": "rdet_models",  # mmcls.ConvNeXt (MMRotate's convnext/ config)
}


class CustomImportError(ImportError):
    """A module listed in a config's ``custom_imports`` could not be imported."""


@dataclass(frozen=True)
class _Pending:
    imports: tuple[str, ...]
    allow_failed_imports: bool
    source: str | None


_pending: list[_Pending] = []


def _normalise(imports: Any, source: str | None) -> tuple[str, ...]:
    where = f" in {source}" if source else ""
    if isinstance(imports, str):
        return (imports,)
    if isinstance(imports, (list, tuple)) and all(isinstance(m, str) for m in imports):
        return tuple(imports)
    raise TypeError(f"custom_imports.imports{where} must be a str or a list of str, got {imports!r}")


def import_custom_modules(
    imports: str | list[str] | tuple[str, ...],
    allow_failed_imports: bool = False,
    source: str | None = None,
) -> list[ModuleType | None]:
    """Import ``imports`` now; with ``allow_failed_imports`` a failure warns and yields None.

    Args:
        imports: Dotted module names.
        allow_failed_imports: Warn instead of raising when a module cannot be imported.
        source: The config file that asked for them, named in errors.

    Raises:
        CustomImportError: A module failed to import (and failures are not allowed).
    """
    modules: list[ModuleType | None] = []
    for name in _normalise(imports, source):
        target = PROVIDED_MODULES.get(name, name)
        try:
            modules.append(importlib.import_module(target))
        except Exception as e:
            where = f" (custom_imports of {source})" if source else ""
            instead = f", which rdet provides as {target!r}" if target != name else ""
            msg = f"cannot import {name!r}{instead}{where}: {type(e).__name__}: {e}"
            if not allow_failed_imports:
                raise CustomImportError(
                    msg + ". Install the package that provides it, or remove it from custom_imports "
                    "(set allow_failed_imports=True to go on without it)."
                ) from e
            warnings.warn(
                msg + "; going on without it (allow_failed_imports=True)", UserWarning, stacklevel=2
            )
            modules.append(None)
    return modules


def defer_custom_imports(custom_imports: Any, source: str | None = None) -> None:
    """Remember a config's ``custom_imports`` dict to import before the next registry look-up."""
    if not custom_imports:
        return
    if not isinstance(custom_imports, dict) or "imports" not in custom_imports:
        where = f" in {source}" if source else ""
        raise TypeError(
            f"custom_imports{where} must be dict(imports=[...], allow_failed_imports=False), got {custom_imports!r}"
        )
    entry = _Pending(
        _normalise(custom_imports["imports"], source),
        bool(custom_imports.get("allow_failed_imports", False)),
        source,
    )
    if all(p.imports != entry.imports for p in _pending):
        _pending.append(entry)


def discard_pending_custom_imports() -> None:
    """Forget deferred ``custom_imports``, e.g. after loading a config only to print it."""
    _pending.clear()


def import_pending_custom_modules() -> None:
    """Import every deferred ``custom_imports``; each entry is tried once, then forgotten."""
    while _pending:
        entry = _pending.pop(0)
        import_custom_modules(entry.imports, entry.allow_failed_imports, entry.source)
