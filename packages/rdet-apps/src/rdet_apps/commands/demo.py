"""``rdet demo``: the main job on the bundled default data.

Until the detectors land, it does the data half: reads the DOTA example (real DOTA-v1.0 label
files, CRLF with headers) and prints, per image, its objects by class, the difficult ones,
and the first few objects as polygons.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

HELP = "run the main job on the bundled default data (today: read and summarise DOTA labels)"

_DEFAULT = (
    Path(__file__).resolve().parents[5]
    / ".."
    / "shared"
    / "data"
    / "real"
    / "CAPTAIN-WHU_DOTA_devkit"
    / "example"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=_DEFAULT,
        help="a DOTA folder with labelTxt/ (default: the DOTA example in ../shared)",
    )
    parser.add_argument("--show", type=int, default=3, help="objects to print per image")


def run(args: argparse.Namespace) -> int:
    from rdet_data.formats import read_dota_labels

    label_dir = args.data / "labelTxt"
    if not label_dir.is_dir():
        raise FileNotFoundError(
            f"no labelTxt folder under {args.data.resolve()}: pass --data DIR with DIR/labelTxt/*.txt"
        )
    files = sorted(label_dir.glob("*.txt"))
    totals: Counter[str] = Counter()
    for path in files:
        labels = read_dota_labels(path)
        image = next((p for p in (args.data / "images").glob(path.stem + ".*")), None)
        counts = Counter(labels.names)
        totals.update(counts)
        gsd = labels.header.get("gsd", "?")
        print(
            f"{path.stem}: {len(labels)} objects, {int((labels.difficult > 0).sum())} difficult, gsd {gsd}, image {'present' if image else 'absent'}"
        )
        print("    " + ", ".join(f"{name} {n}" for name, n in counts.most_common()))
        for poly, name, diff in list(zip(labels.polygons, labels.names, labels.difficult))[: args.show]:
            print(f"    {name:<18} difficult={diff}  polygon {' '.join(f'{v:g}' for v in poly)}")
    print(
        f"{len(files)} label files, {sum(totals.values())} objects in {len(totals)} classes: "
        + ", ".join(f"{k} {v}" for k, v in totals.most_common())
    )
    return 0
