"""``rdet plugins``: every registered name, its distribution and version, and plugin status.

By default it answers without importing torch: rdet's built-in names come from a static index
(:mod:`rdet_apps.builtin_names`, checked against the registries by a test) and the plugins from
the installed distributions' entry points, which it lists without importing them. ``--check``
imports rdet's packages and every plugin (a plugin's own module may import torch) and reports
whether each loads.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdet_core.plugins import PluginRow

HELP = "list every registered type name, with the distribution that provides it"

#: statuses that ``--check`` fails on (exit status 1)
PROBLEMS = ("error", "conflict", "unknown group")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="only this registry (e.g. models, datasets)")
    parser.add_argument("--plugins-only", action="store_true", help="hide rdet's built-in names")
    parser.add_argument(
        "--check",
        action="store_true",
        help="import rdet's packages and every plugin and report whether each loads (slower: "
        "imports torch); exit 1 if a plugin fails to load, conflicts or names an unknown group",
    )


def import_registries() -> None:
    """Import rdet's packages, so that every registry and built-in name is known (imports torch)."""
    import rdet_apps.registry  # noqa: F401  (hooks)
    import rdet_data.registry  # noqa: F401  (datasets, transforms)
    import rdet_models  # noqa: F401  (models, coders, assigners, ...)
    from rdet_core.registry import all_registries

    for registry in all_registries().values():  # those that import their built-ins on first use
        registry.import_builtins()


def _rows(check: bool) -> list[PluginRow]:
    """The rows of ``rdet plugins``: from the registries themselves with ``check``, else from the
    built-in name index (falling back to the registries when the index is stale)."""
    from rdet_apps.builtin_names import StaleIndexError, builtin_registries
    from rdet_core import list_plugins

    if check:
        import_registries()
        return list_plugins(load=True)
    try:
        registries = builtin_registries()
    except StaleIndexError as e:
        print(f"rdet plugins: {e}; importing rdet's packages instead", file=sys.stderr)
        import_registries()
        registries = None
    return list_plugins(load=False, registries=registries)


def run(args: argparse.Namespace) -> int:
    rows = [
        r
        for r in _rows(args.check)
        if (args.registry is None or r.registry == args.registry)
        and not (args.plugins_only and r.status == "built-in")
    ]
    header = ("registry", "name", "distribution", "version", "status")
    table = [header, *[(r.registry, r.name, r.distribution, r.version, r.status) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    not_loaded = sum(r.status == "not loaded" for r in rows)
    if not_loaded:
        print(
            f"{not_loaded} plugin{'s' * (not_loaded != 1)} listed, not imported: "
            "`rdet plugins --check` imports each and reports whether it loads"
        )
    print(f"{len(rows)} names")
    problems = [r for r in rows if r.status != "built-in" and r.status.startswith(PROBLEMS)]
    return 1 if args.check and problems else 0
