"""Entry-point plugins: third-party names for rdet's registries, found lazily by name.

A distribution adds a class to the registry ``models`` by declaring, in its pyproject::

    [project.entry-points."rdet.models"]
    MyDet = "my_pkg.det:MyDet"

``Registry.get("MyDet")`` then imports ``my_pkg.det`` the first time the name is asked for
and is not built in. A plugin that fails to import is reported with its distribution and
the error, and only look-ups of its own names fail; two distributions claiming one name is
an error naming both. :func:`list_plugins` lists every name with its distribution.

:func:`list_plugins` reads the registries of this process, or, given :class:`RegistryNames`
(a registry's names without its classes, e.g. from an index written earlier), lists without
importing the packages that fill the registries: ``rdet plugins`` answers without torch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdet_core.registry import Registry

__all__ = [
    "PluginError",
    "PluginRow",
    "RegistryNames",
    "entry_point_names",
    "installed_version",
    "list_plugins",
    "load_entry_point",
    "refresh",
    "registry_names",
    "warn_if_shadowed",
]


class PluginError(ImportError):
    """A plugin's entry point could not be loaded, or two distributions claim one name."""


@dataclass(frozen=True)
class PluginRow:
    """One registered or declared name, as ``rdet plugins`` prints it."""

    registry: str
    name: str
    distribution: str
    version: str
    status: str  # 'built-in', 'ok', 'not loaded', 'error: ...', 'conflict: ...', 'shadowed by built-in', 'unknown group: ...'


@dataclass(frozen=True)
class RegistryNames:
    """What :func:`list_plugins` needs of one registry: its names, not its classes.

    Attributes:
        name: The registry's name, e.g. ``"models"``.
        entry_point_group: The entry-point group it reads plugins from, e.g. ``"rdet.models"``.
        namespace: Registries looked up together share it (see :class:`~rdet_core.Registry`).
        builtins: Each built-in name -> (distribution, version) that provides it.
        loaded_plugins: Names that entry points already brought into the registry.
    """

    name: str
    entry_point_group: str
    namespace: str | None
    builtins: Mapping[str, tuple[str, str]]
    loaded_plugins: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _Declared:
    name: str
    value: str
    distribution: str
    version: str
    entry_point: Any  # importlib.metadata.EntryPoint


# group -> name -> declarations (one per distribution); filled on first use.
_declared: dict[str, dict[str, list[_Declared]]] | None = None
# (group, name) -> the error that loading it raised, so that it is reported, not retried.
_failed: dict[tuple[str, str], PluginError] = {}
# (group, name) of plugins shadowed by a built-in that a build has already warned about
_warned_shadowed: set[tuple[str, str]] = set()


def refresh() -> None:
    """Forget what was discovered, e.g. after installing a distribution in this process."""
    global _declared, _editable_cache
    _declared = None
    installed_version.cache_clear()
    _editable_cache = None
    _packages_distributions.cache_clear()
    _failed.clear()
    _warned_shadowed.clear()


def _discover() -> dict[str, dict[str, list[_Declared]]]:
    global _declared
    if _declared is None:
        import importlib.metadata as md  # ~20 ms: paid on the first plugin look-up, not at import

        found: dict[str, dict[str, list[_Declared]]] = {}
        for dist in md.distributions():
            # most distributions declare nothing for rdet: skip them before parsing anything
            # (their METADATA, an e-mail header block, is the slow part of the scan)
            if "[rdet." not in (dist.read_text("entry_points.txt") or ""):
                continue
            meta = dist.metadata
            dist_name, version = meta["Name"] or "?", meta["Version"] or "?"
            for ep in dist.entry_points:
                if not ep.group.startswith("rdet."):
                    continue
                claims = found.setdefault(ep.group, {}).setdefault(ep.name, [])
                # the same distribution seen twice on sys.path counts once (the first wins, as for imports)
                if all(c.distribution != dist_name for c in claims):
                    claims.append(_Declared(ep.name, ep.value, dist_name, version, ep))
        _declared = found
    return _declared


@functools.cache
def installed_version(dist: str) -> str | None:
    """The version of the installed distribution ``dist`` (the first on ``sys.path``); None if
    it is not installed. Remembered until :func:`refresh`."""
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def entry_point_names(registry: Registry) -> list[str]:
    """Names that installed distributions declare for ``registry``."""
    return sorted(_discover().get(registry.entry_point_group, {}))


def _describe(claim: _Declared) -> str:
    return f"{claim.distribution} {claim.version} ({claim.value})"


def load_entry_point(registry: Registry, name: str) -> Any:
    """Load the plugin that declares ``name`` for ``registry``; None if none declares it.

    Raises:
        PluginError: Two distributions declare the name, or importing the plugin failed.
    """
    group = registry.entry_point_group
    claims = _discover().get(group, {}).get(name)
    if not claims:
        return None
    if (group, name) in _failed:
        raise _failed[(group, name)]
    if len(claims) > 1:
        err = PluginError(
            f"{name!r} in the {registry.name!r} registry is claimed by more than one distribution: "
            + " and ".join(_describe(c) for c in claims)
            + f". Uninstall one of them, or rename its entry point in group {group!r}."
        )
        _failed[(group, name)] = err
        raise err
    claim = claims[0]
    try:
        obj = claim.entry_point.load()
    except Exception as e:
        err = PluginError(
            f"plugin {name!r} for the {registry.name!r} registry, from distribution "
            f"{_describe(claim)}, failed to load: {type(e).__name__}: {e}"
        )
        err.__cause__ = e
        _failed[(group, name)] = err
        raise err from e
    return obj


def warn_if_shadowed(registry: Registry, name: str) -> None:
    """Warn (once) when an installed plugin declares ``name``, which ``registry`` has built in:
    the built-in is what a config gets, not the plugin its author meant."""
    group = registry.entry_point_group
    claims = _discover().get(group, {}).get(name)
    if not claims or (group, name) in _warned_shadowed:
        return
    _warned_shadowed.add((group, name))
    import warnings

    warnings.warn(
        f"{name!r} in the {registry.name!r} registry is built in and also declared by plugin "
        + " and ".join(_describe(c) for c in claims)
        + f"; the built-in is used. Rename the plugin's entry point in group {group!r} to use it.",
        UserWarning,
        stacklevel=3,
    )


_editable_cache: list[tuple[str, str, str]] | None = None


def _editable_roots() -> list[tuple[str, str, str]]:
    """(source folder, distribution, version) of editable installs: the folders their .pth
    files put on sys.path (packages_distributions() does not see those modules)."""
    global _editable_cache
    if _editable_cache is None:
        import importlib.metadata as md

        roots = []
        for dist in md.distributions():
            for f in dist.files or []:
                if f.suffix == ".pth":
                    try:
                        lines = f.read_text().splitlines()
                    except (OSError, UnicodeDecodeError):
                        continue
                    roots += [
                        (line.strip(), dist.metadata["Name"], dist.version)
                        for line in lines
                        if line.strip().startswith("/")
                    ]
        _editable_cache = roots
    return _editable_cache


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    """Top-level module -> distributions; scanning every installed distribution is slow, so once."""
    import importlib.metadata as md

    return md.packages_distributions()


def _distribution_of(obj: Any) -> tuple[str, str]:
    """(distribution, version) that provides ``obj``'s module; ``('?', '?')`` if unknown."""
    import importlib.metadata as md
    import sys

    module = getattr(obj, "__module__", "") or ""
    top = module.split(".")[0]
    names = _packages_distributions().get(top, [])
    if names:
        try:
            return (names[0], md.version(names[0]))
        except md.PackageNotFoundError:  # pragma: no cover - an odd install
            return (names[0], "?")
    path = getattr(sys.modules.get(module), "__file__", None) or ""
    for root, dist, version in _editable_roots():
        if path.startswith(root.rstrip("/") + "/"):
            return (dist, version)
    return (top or "?", "?")


def registry_names(registry: Registry) -> RegistryNames:
    """The names of a registry of this process: its built-ins with their distributions, and the
    plugin names already loaded into it (importing its ``builtins`` modules first, if any)."""
    registry.import_builtins()
    builtins = {
        name: _distribution_of(obj)
        for name, obj in registry._module_dict.items()
        if name not in registry._from_plugins
    }
    return RegistryNames(
        registry.name,
        registry.entry_point_group,
        registry.namespace,
        builtins,
        frozenset(registry._from_plugins),
    )


def _module_missing(module: str) -> str | None:
    """Why ``module`` cannot be imported, found without importing (running) it; None if found.

    The top-level package is located by ``importlib.util.find_spec`` (every finder, nothing
    run), each submodule in the folders of the package above it.
    """
    import importlib.machinery
    import importlib.util
    import sys

    parts = module.split(".")
    path: Any = None  # the folders of the package found so far
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        if i > 0 and path is None:
            return f"ModuleNotFoundError: No module named {name!r}; {parts[i - 1]!r} is not a package"
        if name in sys.modules:
            path = getattr(sys.modules[name], "__path__", None)
            continue
        try:
            if i == 0:
                spec = importlib.util.find_spec(name)
            else:
                spec = importlib.machinery.PathFinder.find_spec(name, path)
        except (ImportError, ValueError) as e:
            return f"{type(e).__name__}: {e}"
        if spec is None:
            return f"ModuleNotFoundError: No module named {name!r}"
        path = spec.submodule_search_locations
    return None


def _plugin_status(view: RegistryNames, siblings: list[RegistryNames], claim: _Declared, load: bool) -> str:
    """The status of the only plugin that declares its name for the registry ``view``."""
    group, name = view.entry_point_group, claim.name
    if (group, name) in _failed:
        return f"error: {_failed[(group, name)]}"
    if name in view.loaded_plugins:
        return "ok"
    if name in view.builtins:
        return "shadowed by built-in"
    for other in siblings:
        if name in other.builtins:
            return (
                f"conflict: {name!r} is built into the {other.name!r} registry, which namespace "
                f"{view.namespace!r} looks up with {view.name!r}"
            )
    if load:
        try:
            claim.entry_point.load()
        except Exception as e:
            return f"error: {type(e).__name__}: {e}"
        return "ok"
    missing = _module_missing(claim.entry_point.module)
    return f"error: {missing}" if missing else "not loaded"


def list_plugins(load: bool = True, registries: Iterable[RegistryNames] | None = None) -> list[PluginRow]:
    """Every name of every registry and every entry point of an ``rdet.*`` group.

    Args:
        load: Import each plugin to report whether it loads (``'ok'`` or ``'error: ...'``);
            without it, plugins not yet loaded say ``'not loaded'``, or ``'error: ...'`` when
            their module cannot be found (looked for without importing it).
        registries: The registries to list; ``None``: every registry of this process. Passing
            :class:`RegistryNames` (e.g. from an index of rdet's built-in names) lists without
            importing the packages that fill the registries.

    Returns:
        Rows sorted by registry and name. Built-in names say ``'built-in'``; a plugin whose
        name a built-in already has says ``'shadowed by built-in'``, and one whose name a
        built-in of another registry of its namespace has says ``'conflict: ...'``.
    """
    if registries is None:
        from rdet_core.registry import all_registries

        registries = [registry_names(r) for r in all_registries().values()]
    views = list(registries)
    by_group = {v.entry_point_group: v for v in views}
    rows: list[PluginRow] = []
    for view in views:
        rows += [PluginRow(view.name, n, dist, ver, "built-in") for n, (dist, ver) in view.builtins.items()]
    for group, names in _discover().items():
        view = by_group.get(group)
        siblings = (
            [v for v in views if v is not view and v.namespace == view.namespace]
            if view is not None and view.namespace is not None
            else []
        )
        for name, claims in names.items():
            for claim in claims:
                if view is None:
                    known = ", ".join(sorted(by_group))
                    status = f"unknown group: no rdet registry reads {group!r} (groups: {known})"
                elif len(claims) > 1:
                    others = " and ".join(_describe(c) for c in claims if c is not claim)
                    status = f"conflict: also claimed by {others}"
                else:
                    status = _plugin_status(view, siblings, claim, load)
                registry_name = view.name if view is not None else group.removeprefix("rdet.")
                rows.append(PluginRow(registry_name, name, claim.distribution, claim.version, status))
    return sorted(rows, key=lambda r: (r.registry, r.name, r.distribution))
