"""The names rdet's own packages register, as a static index: ``rdet plugins`` lists them without
importing rdet-models, rdet-data and torch (seconds) to fill the registries.

The index (``builtin_names.json`` beside this module) is generated from the real registries::

    python -m rdet_apps.builtin_names          # rewrite it
    python -m rdet_apps.builtin_names --check  # exit 1, naming the differences, if it is not current

A test runs ``--check``. The index records the version of each distribution it lists; when an
installed version differs, the index is stale and :func:`load_index` says so (``rdet plugins``
then imports the packages instead).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rdet_core.plugins import RegistryNames, installed_version, registry_names

__all__ = [
    "INDEX_PATH",
    "StaleIndexError",
    "build_index",
    "builtin_registries",
    "load_index",
    "main",
]

INDEX_PATH = Path(__file__).with_name("builtin_names.json")
FORMAT = 1
_REGENERATE = "python -m rdet_apps.builtin_names"


class StaleIndexError(RuntimeError):
    """The index is missing, unreadable, or lists other versions than those installed."""


def build_index() -> dict[str, Any]:
    """The index of this process's registries once rdet's packages are imported (by
    ``rdet_apps.commands.plugins.import_registries``, as ``rdet plugins --check`` does)."""
    from rdet_apps.commands.plugins import import_registries
    from rdet_core.registry import all_registries

    import_registries()
    views = sorted((registry_names(r) for r in all_registries().values()), key=lambda v: v.name)
    versions = {dist: version for v in views for dist, version in v.builtins.values()}
    return {
        "format": FORMAT,
        "generated_by": _REGENERATE,
        "distributions": dict(sorted(versions.items())),
        "registries": {
            v.name: {
                "entry_point_group": v.entry_point_group,
                "namespace": v.namespace,
                "names": {name: dist for name, (dist, _) in sorted(v.builtins.items())},
            }
            for v in views
        },
    }


def _dumps(index: dict[str, Any]) -> str:
    return json.dumps(index, indent=1) + "\n"


def load_index(path: Path | None = None) -> list[RegistryNames]:
    """The registries of the index at ``path`` (default :data:`INDEX_PATH`), without importing
    what fills them.

    Raises:
        StaleIndexError: ``path`` is missing or unreadable, has another format, or records a
            distribution version other than the installed one (the message names it).
    """
    path = INDEX_PATH if path is None else Path(path)
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StaleIndexError(f"cannot read the built-in name index {path}: {e}") from e
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise StaleIndexError(f"the built-in name index {path} is not format {FORMAT}")
    try:
        versions: dict[str, str] = index["distributions"]
        registries = [
            RegistryNames(
                name,
                entry["entry_point_group"],
                entry["namespace"],
                {n: (dist, versions[dist]) for n, dist in entry["names"].items()},
            )
            for name, entry in index["registries"].items()
        ]
    except (KeyError, TypeError, AttributeError) as e:
        raise StaleIndexError(f"the built-in name index {path} is malformed: {type(e).__name__}: {e}") from e
    for dist, version in versions.items():
        installed = installed_version(dist)
        if installed != version:
            raise StaleIndexError(
                f"the built-in name index {path} lists {dist} {version}, but "
                f"{dist} {installed or '(not installed)'} is installed"
            )
    return registries


def builtin_registries(path: Path | None = None) -> list[RegistryNames]:
    """rdet's registries: those of the index, replaced by the same registry of this process
    where it exists (it knows the plugins loaded so far), plus the other registries of this process.

    A registry of the index whose ``builtins`` modules this process has not imported yet has
    nothing but them, which the index lists: it is not imported for this.

    Raises:
        StaleIndexError: See :func:`load_index`.
    """
    from rdet_core.registry import all_registries

    views = {v.name: v for v in load_index(path)}
    for name, registry in all_registries().items():
        if name in views and not registry.builtins_imported:
            continue
        views[name] = registry_names(registry)
    return list(views.values())


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from the index ``old`` to ``new``, one line each."""
    lines = []
    if old.get("distributions") != new["distributions"]:
        lines.append(f"distributions: {old.get('distributions')} -> {new['distributions']}")
    old_regs, new_regs = old.get("registries", {}), new["registries"]
    for name in sorted(set(old_regs) | set(new_regs)):
        before, after = old_regs.get(name), new_regs.get(name)
        if before is None or after is None:
            lines.append(f"registry {name!r} {'added' if before is None else 'removed'}")
            continue
        for key in ("entry_point_group", "namespace"):
            if before.get(key) != after[key]:
                lines.append(f"registry {name!r}: {key} {before.get(key)!r} -> {after[key]!r}")
        b_names, a_names = before.get("names", {}), after["names"]
        added = sorted(set(a_names) - set(b_names))
        removed = sorted(set(b_names) - set(a_names))
        moved = sorted(n for n in set(a_names) & set(b_names) if a_names[n] != b_names[n])
        for what, names in (("added", added), ("removed", removed), ("changed distribution", moved)):
            if names:
                lines.append(f"registry {name!r}: {what}: {', '.join(names)}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the index, or with ``--check`` compare it with the registries; the exit status."""
    import argparse

    parser = argparse.ArgumentParser(prog=_REGENERATE, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare only; exit 1 if the index is not current"
    )
    parser.add_argument("--path", type=Path, help="the index file (default: the package's)")
    args = parser.parse_args(argv)
    args.path = args.path or INDEX_PATH
    new = build_index()
    if args.check:
        try:
            old = json.loads(args.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            print(f"{args.path}: cannot read: {e}; run `{_REGENERATE}`", file=sys.stderr)
            return 1
        diff = _differences(old, new) if old != new else []
        if old != new:
            print(
                f"{args.path} is not current; run `{_REGENERATE}`:\n"
                + "\n".join(f"  {line}" for line in diff or ["(formatting or keys differ)"]),
                file=sys.stderr,
            )
            return 1
        print(f"{args.path} is current ({sum(len(r['names']) for r in new['registries'].values())} names)")
        return 0
    args.path.write_text(_dumps(new), encoding="utf-8")
    print(f"wrote {args.path} ({sum(len(r['names']) for r in new['registries'].values())} names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
