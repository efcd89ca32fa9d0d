"""The ``rdet`` command: one entry point, one module per subcommand under ``rdet_apps.commands``.

Errors are one line (``rdet <command>: error: ...``) unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rdet_apps.commands import (
    analyze_logs,
    benchmark,
    browse_dataset,
    confusion_matrix,
    demo,
    env,
    export,
    flops,
    infer,
    plugins,
    print_config,
    publish,
    serve,
    split,
    test,
    train,
)

COMMANDS = {
    "train": train,
    "test": test,
    "infer": infer,
    "split": split,
    "browse-dataset": browse_dataset,
    "print-config": print_config,
    "env": env,
    "plugins": plugins,
    "demo": demo,
    "analyze-logs": analyze_logs,
    "flops": flops,
    "benchmark": benchmark,
    "confusion-matrix": confusion_matrix,
    "publish": publish,
    "serve": serve,
    "export": export,
}


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rdet", description="rdet: rotated object detection.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        own_help = getattr(module, "OWN_HELP", True)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, add_help=own_help)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
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
