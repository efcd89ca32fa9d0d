"""``main(argv)``: the DOTA splitter's command line (MMRotate's ``img_split.py`` flags; ``rdet split`` calls it)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rdet_data.split.splitter import PRESETS, split_dota

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "rdet split") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Split huge DOTA images into patches with labels.")
    p.add_argument(
        "--preset", choices=sorted(PRESETS), help="MMRotate's split_configs settings (default ss_trainval)"
    )
    p.add_argument("--base-json", help="an MMRotate split_configs JSON file (its values become the defaults)")
    p.add_argument("--img-dirs", nargs="+", help="image folders")
    p.add_argument(
        "--ann-dirs", nargs="+", help="label folders, one per image folder (omit for unlabelled sets)"
    )
    p.add_argument("--save-dir", help="output folder (images/, annfiles/); an interrupted split resumes")
    p.add_argument("--sizes", nargs="+", type=int)
    p.add_argument("--gaps", nargs="+", type=int)
    p.add_argument("--rates", nargs="+", type=float)
    p.add_argument("--img-rate-thr", type=float)
    p.add_argument("--iof-thr", type=float)
    p.add_argument("--no-padding", action="store_true", default=None)
    p.add_argument("--padding-value", nargs="+", type=int)
    p.add_argument("--save-ext")
    p.add_argument(
        "--no-clip", action="store_true", help="keep truncated objects whole (MMRotate) instead of clipping"
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "warn"),
        default="raise",
        help="label files without an image, images without a label file (labelled split): an error "
        "(raise, default), or with a warning the label files left out and the images split without "
        "objects (warn)",
    )
    p.add_argument("--nproc", type=int, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the splitter; prints the counts as JSON. Returns the exit status."""
    args = build_parser().parse_args(argv)
    opts = dict(PRESETS[args.preset or "ss_trainval"])
    nproc = 1
    if args.base_json:
        with open(args.base_json, encoding="utf-8") as f:
            base = json.load(f)
        nproc = base.pop("nproc", nproc)
        opts.update({k: v for k, v in base.items() if k in opts or k in ("img_dirs", "ann_dirs", "save_dir")})
    for key in ("img_dirs", "ann_dirs", "save_dir", "sizes", "gaps", "rates", "img_rate_thr", "iof_thr",
                "no_padding", "padding_value", "save_ext"):  # fmt: skip
        value = getattr(args, key)
        if value is not None:
            opts[key] = value
    if not opts.get("img_dirs") or not opts.get("save_dir"):
        print("rdet split: --img-dirs and --save-dir are required", file=sys.stderr)
        return 2
    report = split_dota(
        opts.pop("img_dirs"),
        opts.pop("save_dir"),
        ann_dirs=opts.pop("ann_dirs", None),
        clip=not args.no_clip,
        nproc=args.nproc or nproc,
        progress=not args.quiet,
        on_error=args.on_error,
        **opts,
    )
    report.pop("per_image")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
