"""A registry maps type names to classes (or functions) and builds them from config dicts.

MMRotate's spelling works unchanged::

    MODELS = Registry("models")

    @MODELS.register_module()
    class RotatedRetinaNet: ...

    MODELS.build(dict(type="RotatedRetinaNet", num_classes=15))

Names not registered by rdet's own packages are looked up, lazily and by name, among the
entry points of the group ``rdet.<registry name>`` that installed distributions declare
(see :mod:`rdet_core.plugins`).

A registry may also name the modules that register its built-ins, so that it does not depend
on someone having imported them (a package whose ``__init__`` imports nothing heavy)::

    DATASETS = Registry("datasets", builtins=("rdet_data.datasets", "rdet_data.wrappers"))

Those modules are imported, once, on the registry's first use: every read (``get``, ``build``,
``keys``, ``in``, iteration, ``len``, ``module_dict``, the listing of ``rdet plugins``) and
every registration of an object defined elsewhere (so that a name that a plugin, a
``custom_imports`` module or another registry of the namespace takes is checked against the
built-ins). The built-ins' own registrations, and reads in the thread that is importing them,
do not start the import again.

Names are never ambiguous (:class:`RegistryConflictError`):

- a registry's name is its identity: a second ``Registry("models")``, or a second registry
  reading the entry-point group ``rdet.models``, is an error naming where both were created
  (re-running the same line, as ``importlib.reload`` does, replaces the old one instead);
- registries that one config look-up searches together share a ``namespace`` (e.g. every
  registry that ``rdet_models.build`` tries in turn); a type name may then be registered, or
  brought in by a plugin, in only one registry of the namespace: the second is an error naming
  both registries and both classes.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["Registry", "RegistryConflictError", "UnknownTypeError", "all_registries", "build_from_cfg"]

# Every registry created in this process, by name; `rdet_core.plugins.list_plugins` reads it.
_REGISTRIES: dict[str, Registry] = {}


class UnknownTypeError(KeyError):
    """A config asked for a type name that no registry entry or plugin provides."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class RegistryConflictError(KeyError):
    """A registry name, entry-point group or type name is claimed twice where one look-up sees both.

    A ``KeyError``, as MMCV's "already registered" error, so that code catching that keeps working.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def all_registries() -> dict[str, Registry]:
    """Every registry created so far in this process, by name."""
    return dict(_REGISTRIES)


class Registry:
    """A name -> class (or function) table with MMRotate's ``register_module``/``build``.

    Args:
        name: The registry's name, e.g. ``"models"``; unique in the process. Third-party
            packages add entries through the entry-point group ``rdet.<name>`` (override with
            ``entry_point_group``).
        entry_point_group: The entry-point group read for plugins; ``None`` means ``rdet.<name>``.
            Unique in the process too.
        build_func: Replaces :func:`build_from_cfg` for this registry, called as
            ``build_func(cfg, registry, **default_args)``.
        namespace: Registries that one config look-up searches together (``rdet_models.build``
            tries the models, coder, assigner ... registries in turn) pass the same namespace;
            a type name may then live in only one of them. ``None``: the registry alone.
        builtins: Modules that register this registry's built-in names, imported on its first
            read or registration (see the module's docstring); empty: the registry's package
            imports them itself.

    Raises:
        RegistryConflictError: A registry created elsewhere already has this name or group.
    """

    def __init__(
        self,
        name: str,
        *,
        entry_point_group: str | None = None,
        build_func: Callable[..., Any] | None = None,
        namespace: str | None = None,
        builtins: Sequence[str] = (),
    ) -> None:
        if isinstance(builtins, str):
            raise TypeError(f"builtins must be a sequence of module names, got the str {builtins!r}")
        self.name = name
        self.entry_point_group = entry_point_group or f"rdet.{name}"
        self.namespace = namespace
        self.builtins: tuple[str, ...] = tuple(builtins)
        self._builtins_pending = bool(self.builtins)  # until every builtins module has imported
        self._builtins_importing: set[int] = set()  # threads importing them now (re-entry guard)
        self._module_dict: dict[str, Any] = {}
        self._from_plugins: set[str] = set()  # names that entry points brought in
        self._build_func = build_func
        self._site, self.origin = _creation_site(self)
        for other in list(_REGISTRIES.values()):
            if other._site == self._site and other.name == name:
                continue  # the same line again (importlib.reload, a test fixture): replaced below
            if other.name == name or other.entry_point_group == self.entry_point_group:
                what = (
                    f"name {name!r}"
                    if other.name == name
                    else f"entry-point group {self.entry_point_group!r}"
                )
                raise RegistryConflictError(
                    f"a second registry takes the {what}: {self!r} created at {self.origin}, but "
                    f"{other!r} created at {other.origin} already has it. Registry names and "
                    f"entry-point groups must be unique: use the existing registry (import it) "
                    f"or choose another name."
                )
        _REGISTRIES[name] = self

    # -- built-ins ----------------------------------------------------------------------------

    @property
    def builtins_imported(self) -> bool:
        """Whether the ``builtins`` modules have been imported (True when there are none)."""
        return not self._builtins_pending

    def import_builtins(self) -> None:
        """Import the ``builtins`` modules, once; every read and registration calls this.

        A call from the thread that is importing them returns at once; an import that fails
        raises, and the next call tries again.
        """
        if not self._builtins_pending:
            return
        thread = threading.get_ident()
        if thread in self._builtins_importing:
            return
        self._builtins_importing.add(thread)
        try:
            for module in self.builtins:
                importlib.import_module(module)
            self._builtins_pending = False
        finally:
            self._builtins_importing.discard(thread)

    def _defined_in_builtins(self, obj: Any) -> bool:
        """Whether ``obj`` comes from one of the ``builtins`` modules (or a submodule of one)."""
        module = getattr(obj, "__module__", None) or ""
        return any(module == m or module.startswith(m + ".") for m in self.builtins)

    # -- registration -------------------------------------------------------------------------

    def register_module(
        self,
        name: str | list[str] | None = None,
        force: bool = False,
        module: Any = None,
    ) -> Any:
        """Register a class or function, as a decorator or called directly.

        Args:
            name: The name(s) to register under; default the object's ``__name__``.
            force: Replace an existing entry of the same name instead of raising.
            module: Register this object now instead of returning a decorator.

        Returns:
            The decorator, or ``module`` itself when it was given.

        Raises:
            KeyError: A name is already registered (and ``force`` is False).
            RegistryConflictError: (a ``KeyError``) another registry of this registry's
                namespace has the name for another object; ``force`` does not override that.
            TypeError: ``name`` is neither None, a str nor a list of str.
        """
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, got {type(force).__name__}")
        if not (
            name is None
            or isinstance(name, str)
            or (isinstance(name, list) and all(isinstance(n, str) for n in name))
        ):
            raise TypeError(f"name must be None, a str or a list of str, got {name!r}")
        if module is not None:
            self._add(module, name, force)
            return module

        def decorator(obj: Any) -> Any:
            self._add(obj, name, force)
            return obj

        return decorator

    def _add(self, obj: Any, name: str | list[str] | None, force: bool) -> None:
        if not (inspect.isclass(obj) or callable(obj)):
            raise TypeError(f"only classes and functions can be registered in {self.name!r}, got {obj!r}")
        names = [obj.__name__] if name is None else [name] if isinstance(name, str) else name
        if not self._defined_in_builtins(obj):
            self.import_builtins()  # a name taken by a built-in is found now, not when they import
        for key in names:
            existing = self._module_dict.get(key)
            if existing is not None and existing is not obj and not force:
                raise KeyError(
                    f"{key!r} is already registered in the {self.name!r} registry "
                    f"(by {_qualname(existing)}); pass force=True to replace it"
                )
            self._check_namespace(key, obj)
        for key in names:
            self._module_dict[key] = obj

    def siblings(self) -> list[Registry]:
        """The other registries of this registry's namespace (none without a namespace)."""
        if self.namespace is None:
            return []
        return [r for r in _REGISTRIES.values() if r is not self and r.namespace == self.namespace]

    def _check_namespace(self, key: str, obj: Any, plugin: str = "") -> None:
        """Raise if another registry of the namespace has ``key`` for another object."""
        for other in self.siblings():
            other.import_builtins()
            existing = other._module_dict.get(key)
            if existing is not None and existing is not obj:
                raise RegistryConflictError(
                    f"{key!r} is ambiguous in namespace {self.namespace!r}: the {other.name!r} "
                    f"registry has {_qualname(existing)} and the {self.name!r} registry would take "
                    f"{_qualname(obj)}{plugin}; a config's type={key!r} is looked up in both. "
                    f"Register one of them under another name."
                )

    # -- look-up ------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """The object registered as ``key``, loading a plugin if needed; None if there is none.

        A scoped name (``"mmdet.ResNet"``, ``"mmcls.ConvNeXt"``) falls back to its last part,
        since rdet's registries are flat. A plugin that fails to load raises
        :class:`rdet_core.plugins.PluginError`.
        """
        from rdet_core import plugins  # plugins imports this module
        from rdet_core.custom_imports import import_pending_custom_modules

        import_pending_custom_modules()
        self.import_builtins()
        for candidate in _candidates(key):
            if candidate in self._module_dict:
                if candidate not in self._from_plugins:
                    plugins.warn_if_shadowed(self, candidate)
                return self._module_dict[candidate]
        for candidate in _candidates(key):
            obj = plugins.load_entry_point(self, candidate)
            if obj is not None:
                self._check_namespace(candidate, obj, f" (plugin of group {self.entry_point_group!r})")
                self._module_dict.setdefault(candidate, obj)
                self._from_plugins.add(candidate)
                return self._module_dict[candidate]
        return None

    def build(self, cfg: Mapping[str, Any], **default_args: Any) -> Any:
        """Build an object from a config dict whose ``type`` names a registered entry.

        The other keys of ``cfg`` become keyword arguments; ``default_args`` fill those absent.
        """
        if self._build_func is not None:
            return self._build_func(cfg, self, **default_args)
        return build_from_cfg(cfg, self, default_args)

    def unknown_type_error(self, key: str) -> UnknownTypeError:
        """The error for an unknown name: closest names and where names come from."""
        from rdet_core import plugins

        self.import_builtins()
        known = sorted(set(self._module_dict) | set(plugins.entry_point_names(self)))
        close = difflib.get_close_matches(key, known, n=5, cutoff=0.5)
        hint = f" Closest names: {', '.join(close)}." if close else ""
        return UnknownTypeError(
            f"{key!r} is not in the {self.name!r} registry.{hint} Names come from rdet's built-in "
            f"modules and from plugins: installed distributions that declare the "
            f"entry-point group {self.entry_point_group!r}. Code of your own can register itself "
            f"with @{self.name.upper()}.register_module() and be listed in the config's "
            f"custom_imports. `rdet plugins` lists what is registered."
        )

    # -- mapping-like views -------------------------------------------------------------------

    @property
    def module_dict(self) -> dict[str, Any]:
        """The built-in and already-loaded entries (a copy)."""
        self.import_builtins()
        return dict(self._module_dict)

    def keys(self) -> list[str]:
        self.import_builtins()
        return list(self._module_dict)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        self.import_builtins()
        return iter(list(self._module_dict))

    def __len__(self) -> int:
        self.import_builtins()
        return len(self._module_dict)

    def __repr__(self) -> str:  # imports nothing: error messages show registries
        namespace = f", namespace={self.namespace!r}" if self.namespace is not None else ""
        pending = " (built-ins not imported yet)" if self._builtins_pending else ""
        return (
            f"Registry(name={self.name!r}, items={len(self._module_dict)}{pending}, "
            f"group={self.entry_point_group!r}{namespace})"
        )


def build_from_cfg(
    cfg: Mapping[str, Any], registry: Registry, default_args: Mapping[str, Any] | None = None
) -> Any:
    """Build ``registry``'s entry named by ``cfg['type']`` with the other keys as arguments.

    ``cfg['type']`` may also be a class or function, which is then called directly.

    Raises:
        TypeError: ``cfg`` is not a mapping, or the constructor rejects an argument (the
            message names the type).
        KeyError: ``cfg`` (and ``default_args``) have no ``type``.
        UnknownTypeError: no entry or plugin has that name.
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"a {registry.name} config must be a dict, got {type(cfg).__name__}: {cfg!r}")
    if default_args is not None and not isinstance(default_args, Mapping):
        raise TypeError(f"default_args must be a dict or None, got {type(default_args).__name__}")
    args = dict(cfg)
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    if "type" not in args:
        raise KeyError(f"a {registry.name} config needs a 'type' key, got keys {sorted(args)}")
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            raise registry.unknown_type_error(obj_type)
    elif callable(obj_type):
        obj_cls = obj_type
    else:
        raise TypeError(
            f"'type' must be a str, a class or a function, got {type(obj_type).__name__}: {obj_type!r}"
        )
    try:
        return obj_cls(**args)
    except TypeError as e:
        raise TypeError(f"{getattr(obj_cls, '__name__', obj_cls)}: {e}") from e


def _candidates(key: str) -> list[str]:
    """``key`` itself, then its last dotted part (MMCV scopes such as ``mmdet.``)."""
    return [key, key.rsplit(".", 1)[1]] if "." in key else [key]


def _creation_site(registry: Registry) -> tuple[tuple[str, int], str]:
    """Where ``registry`` is being created: ((file, line), "module line N") of the first frame
    outside its own ``__init__`` (and those of subclasses)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_locals.get("self") is registry:
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "?")
    return (frame.f_code.co_filename, frame.f_lineno), f"{module} line {frame.f_lineno}"


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
