"""The ``rdet`` command: one entry point, one module per subcommand under ``rdet_apps.commands``.

Errors are one line (``rdet <command>: error: ...``) unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

from rdet_apps import cpu_memory

#: command -> the module of ``rdet_apps.commands`` that implements it. Only the command being
#: run is imported (some import numpy or more at the top); ``rdet --help`` imports them all.
COMMANDS = {
    "train": "train",
    "test": "test",
    "infer": "infer",
    "split": "split",
    "browse-dataset": "browse_dataset",
    "print-config": "print_config",
    "env": "env",
    "plugins": "plugins",
    "demo": "demo",
    "analyze-logs": "analyze_logs",
    "flops": "flops",
    "benchmark": "benchmark",
    "confusion-matrix": "confusion_matrix",
    "publish": "publish",
    "serve": "serve",
    "export": "export",
}


def command_module(name: str) -> ModuleType:
    """The module of the command ``name`` (imported now if it was not)."""
    return importlib.import_module(f"rdet_apps.commands.{COMMANDS[name]}")


class _Version(argparse.Action):
    """``--version``: rdet's packages and torch, read only when asked (torch is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show versions and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        import importlib.metadata as md

        def version(dist: str) -> str:
            try:
                return md.version(dist)
            except md.PackageNotFoundError:
                return "not installed"

        dists = (
            "rdet-apps",
            "rdet-core",
            "rdet-data",
            "rdet-models",
            "rdet-eval",
            "rbox-geometry",
            "rbox-ops-cuda",
        )
        print(
            f"rdet {version('rdet-apps')} ("
            + ", ".join(f"{d} {version(d)}" for d in dists[1:])
            + f"; torch {version('torch')})"
        )
        parser.exit()


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``rdet`` parser.

    Args:
        commands: The commands whose modules are imported and whose options are parsed; the
            others are names only (enough to pick a command, not for ``rdet --help``).
            ``None``: every command.
    """
    loaded = set(COMMANDS if commands is None else commands)
    parser = argparse.ArgumentParser(prog="rdet", description="rdet: rotated object detection.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if name not in loaded:
            sub.add_parser(name)
            continue
        module = command_module(name)
        own_help = getattr(module, "OWN_HELP", True)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, add_help=own_help)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def _commands_needed(argv: Sequence[str]) -> list[str] | None:
    """The commands whose modules parsing ``argv`` needs: the command named; every one (``None``)
    for ``rdet --help``, which shows each command's help; none otherwise (``--version``, no
    command, an unknown one: argparse's messages need the names only)."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):  # rdet's own options take no values: this is the command
            return [arg] if arg in COMMANDS else []
    return []


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cpu_memory.tune()
    parser = build_parser(_commands_needed(argv))
    args, extra = parser.parse_known_args(argv)
    if args.command == "split":  # the splitter parses its own options: hand it the rest as given
        args.split_args = argv[argv.index("split") + 1 :]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("rdet: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"rdet {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return 1
