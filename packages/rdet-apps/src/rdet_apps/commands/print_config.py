"""``rdet print-config``: a config file with its bases merged and the options applied."""

from __future__ import annotations

import argparse

from rdet_core import Config, DictAction

HELP = "print a config file as python, after _base_ merging and --cfg-options"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (.py, .json, .yaml)")
    parser.add_argument(
        "--cfg-options",
        "--options",  # MMRotate's docs' name for it (tools/misc/print_config.py)
        dest="cfg_options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override settings, e.g. model.backbone.depth=18 (--options: the same)",
    )
    parser.add_argument("--format", choices=("py", "json", "yaml"), default="py", help="output format")


def run(args: argparse.Namespace) -> int:
    from rdet_core.custom_imports import discard_pending_custom_imports

    cfg = Config.fromfile(args.config)
    discard_pending_custom_imports()  # printing builds nothing: custom_imports are not needed
    from rdet_apps.cfg_options import merge_cfg_options

    merge_cfg_options(cfg, args.cfg_options)
    print(cfg.dumps(args.format), end="")
    return 0
