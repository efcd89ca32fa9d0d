"""``rdet plugins``: every registered name, its distribution and version, and plugin status."""

from __future__ import annotations

import argparse

HELP = "list every registered type name, with the distribution that provides it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="only this registry (e.g. models, datasets)")
    parser.add_argument("--plugins-only", action="store_true", help="hide rdet's built-in names")


def import_registries() -> None:
    """Import rdet's packages, so that every registry and built-in name is known."""
    import rdet_apps.engine  # noqa: F401  (registers the hooks)
    import rdet_data  # noqa: F401  (datasets, transforms)
    import rdet_models  # noqa: F401  (models, coders, assigners, ...)


def run(args: argparse.Namespace) -> int:
    from rdet_core import list_plugins

    import_registries()
    rows = [
        r
        for r in list_plugins(load=True)
        if (args.registry is None or r.registry == args.registry)
        and not (args.plugins_only and r.status == "built-in")
    ]
    header = ("registry", "name", "distribution", "version", "status")
    table = [header, *[(r.registry, r.name, r.distribution, r.version, r.status) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    print(f"{len(rows)} names")
    return 0
