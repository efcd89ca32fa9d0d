"""Where the official metric from files spends its time, beside the devkit's algorithm in the same run.

    OMP_NUM_THREADS=1 python packages/rdet-eval/benchmarks/task1_phases.py [rounds] [repeat]

Writes the devkit benchmark set (bench_eval.py) as DOTA files, then for each of ``rounds``
rounds (default 5) times, one after the other: the devkit's algorithm from files
(``bench_eval.devkit_task1``: its ``voc_eval`` loop, shapely for ``polyiou``; once), and
``repeat`` times (default 5) rdet's ``evaluate_dota_task1`` and each of its phases. Times are
CPU seconds of this process (``time.process_time``), so that a neighbour on a shared machine
does not count; each round gives rdet's median, the rounds' medians are printed, with the
ratio devkit / rdet of each round (the goal: >= 20, against the official devkit's 4.6 s).
Shapely takes about a hundred times longer per polygon IoU than the devkit's ``polyiou``, so
the ratio is also given with the devkit's IoU calls left out: the official devkit takes at
least that long on the same machine at the same moment.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_eval
from bench_eval import BENCH, devkit_task1, load_bench, write_bench_files

from rdet_eval import evaluate_dota_task1
from rdet_eval._textscan import _PAD, field_codes, parse_table, scan_lines
from rdet_eval.dota_files import _read_joined, read_label_files, read_task1_files
from rdet_eval.dota_task1 import _per_class_ap, best_matches

DEVKIT_REFERENCE_S = 4.6  # the official devkit (polyiou) on this input, ../shared/golden/dota_devkit


def _cpu(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return time.process_time() - t, out


def _parse_groups(lines, first, groups):
    return [parse_table(lines, first, columns) for columns in groups]


def phases(res_dir: Path, ann_dir: Path, names: list[str]) -> dict[str, float]:
    """CPU seconds of each phase of ``evaluate_dota_task1``, its steps called one by one."""
    t = {}
    images = sorted(p.stem for p in ann_dir.glob("*.txt"))
    kinds = {  # paths, column groups of numbers, the column of names
        "labels": ([str(ann_dir / f"{im}.txt") for im in images], [range(8)], 8),
        "results": ([str(res_dir / f"Task1_{c}.txt") for c in names], [[1], range(2, 10)], 0),
    }
    for kind, (paths, groups, name_column) in kinds.items():
        t[f"{kind}: read files into one buffer"], (data, _) = _cpu(_read_joined, paths)
        t[f"{kind}: scan fields and lines"], lines = _cpu(scan_lines, data, _PAD)
        first = lines.first[lines.count >= 9]
        t[f"{kind}: parse numbers"], _ = _cpu(_parse_groups, lines, first, groups)
        t[f"{kind}: names (codes)"], _ = _cpu(field_codes, lines, first + name_column)
    labels, res = read_label_files(kinds["labels"][0]), read_task1_files(kinds["results"][0])
    index = {name: i for i, name in enumerate(images)}
    det_image = np.array([index[n] for n in res.images], np.int64)[res.image_code]
    class_index = {name: c for c, name in enumerate(names)}
    gt_class = np.array([class_index.get(n, -1) for n in labels.names], np.int64)[labels.name_code]
    t["polygon IoU + matching"], (best, which) = _cpu(
        best_matches,
        res.file_index,
        det_image,
        res.polygons,
        gt_class,
        labels.file_index,
        labels.polygons,
        0.5,
    )
    t["claims + AP"], _ = _cpu(
        _per_class_ap,
        res.file_index,
        res.scores,
        best,
        which,
        gt_class,
        labels.difficult,
        len(names),
        0.5,
        True,
        "devkit",
    )
    return t


class _TimedIoU:
    """``bench_eval._shapely_iou_poly`` with the CPU time spent in it counted: the devkit's
    own ``polyiou`` (C++) takes microseconds per call where shapely takes a hundred, so the
    devkit's time is at least the rest."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, a, b):
        t = time.process_time()
        out = self.fn(a, b)
        self.seconds += time.process_time() - t
        return out


def main(rounds: int = 5, repeat: int = 5) -> None:
    images, names, _, _, pdets, panns = load_bench(BENCH)
    timed = bench_eval._shapely_iou_poly = _TimedIoU(bench_eval._shapely_iou_poly)
    with tempfile.TemporaryDirectory() as tmp:
        res_dir, ann_dir = write_bench_files(Path(tmp), images, names, pdets, panns)
        evaluate_dota_task1(res_dir, ann_dir, 0.5, True, names)  # warm the page cache and imports
        devkit, loop, total, parts = [], [], [], []
        for r in range(rounds):
            timed.seconds = 0.0
            dt, m_devkit = _cpu(devkit_task1, res_dir, ann_dir, names)
            ours = []
            for _ in range(repeat):
                t, res = _cpu(evaluate_dota_task1, res_dir, ann_dir, 0.5, True, names)
                ours.append(t)
                parts.append(phases(res_dir, ann_dir, names))
            assert abs(res["mAP"] - m_devkit) < 1e-9, (res["mAP"], m_devkit)
            devkit.append(dt)
            loop.append(dt - timed.seconds)
            total.append(float(np.median(ours)))
            print(
                f"round {r}: devkit algorithm {dt:.2f} s (without its polygon IoU {loop[-1]:.2f} s), "
                f"rdet {total[-1] * 1e3:.0f} ms: {dt / total[-1]:.1f}x ({loop[-1] / total[-1]:.1f}x)"
            )
    ratio, ratio_loop = np.array(devkit) / total, np.array(loop) / total
    print(f"\nmedians over {rounds} rounds (CPU time, rdet: median of {repeat} per round)")
    print(f"  devkit algorithm from files (shapely)       {np.median(devkit):8.2f} s")
    print(f"  the same without its polygon IoU calls      {np.median(loop):8.2f} s")
    print(f"  rdet evaluate_dota_task1                    {np.median(total) * 1e3:8.1f} ms")
    print(f"  ratio, same run                             {np.median(ratio):8.1f}x")
    print(
        f"  ratio without the devkit's IoU, same run    {np.median(ratio_loop):8.1f}x  (the devkit's is more)"
    )
    print(
        f"  ratio to the official devkit's {DEVKIT_REFERENCE_S} s (quiet) {DEVKIT_REFERENCE_S / np.median(total):8.1f}x"
    )
    print("phases (median over all runs):")
    for key in parts[0]:
        print(f"  {key:41s} {np.median([p[key] for p in parts]) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
