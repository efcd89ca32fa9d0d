"""``rdet publish``: MMRotate's tools/model_converters/publish_model.py."""

from __future__ import annotations

import argparse

HELP = "strip a checkpoint's optimizer and resume-only state; save it as OUT-<sha256[:8]>.pth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("in_file", help="input checkpoint")
    parser.add_argument("out_file", help="output checkpoint (the hash is appended to its name)")


def run(args: argparse.Namespace) -> int:
    from rdet_apps.tools.publish import publish_checkpoint

    final, removed = publish_checkpoint(args.in_file, args.out_file)
    print(f"removed: {', '.join(removed) if removed else 'nothing'}")
    print(final)
    return 0
