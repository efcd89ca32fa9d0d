"""``rdet split``: the DOTA splitter (rdet-data's ``split`` module; its own options)."""

from __future__ import annotations

import argparse

HELP = "split huge DOTA images (and labels) into patches; see `rdet split --help`"
#: ``rdet split --help`` is the splitter's own help (its options), not this wrapper's
OWN_HELP = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("split_args", nargs=argparse.REMAINDER, help="the splitter's arguments")


def run(args: argparse.Namespace) -> int:
    from rdet_data.split import main

    return int(main(args.split_args) or 0)
