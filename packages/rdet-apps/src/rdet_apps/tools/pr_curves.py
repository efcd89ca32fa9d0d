"""Precision-recall curves per class of a test run (``rdet test --eval mAP --pr-curves DIR``):
``pr_<class>.csv`` (recall, precision: one row per detection of the class, by falling score)
and, with matplotlib, ``pr_curves.png`` of every class. The curves are rdet-eval's
(``eval_rbbox_map``: the numbers behind the AP of the printed table)."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["pr_curves", "write_pr_curves"]


def pr_curves(
    results: Sequence[Any],
    annotations: Sequence[dict],
    classes: Sequence[str],
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
) -> list[dict[str, Any]]:
    """Per class: ``name``, ``recall`` and ``precision`` arrays, ``ap``, ``num_gts``."""
    from rdet_eval import eval_rbbox_map

    _, per_class = eval_rbbox_map(
        list(results),
        list(annotations),
        iou_thr=iou_thr,
        use_07_metric=use_07_metric,
        dataset=list(classes),
        logger="silent",
        num_classes=len(classes),
    )
    out = []
    for name, r in zip(classes, per_class):
        recall = np.array(r["recall"], np.float64, ndmin=2)[0] if np.size(r["recall"]) else np.zeros(0)
        precision = (
            np.array(r["precision"], np.float64, ndmin=2)[0] if np.size(r["precision"]) else np.zeros(0)
        )
        ap = float(np.array(r["ap"], ndmin=1)[0])
        out.append(
            dict(name=str(name), recall=recall, precision=precision, ap=ap, num_gts=int(np.sum(r["num_gts"])))
        )
    return out


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "class"


def write_pr_curves(
    curves: Sequence[dict[str, Any]], out_dir: str | os.PathLike, iou_thr: float = 0.5
) -> list[Path]:
    """``pr_<class>.csv`` per class and ``pr_curves.png`` (when matplotlib is installed; else
    it is skipped and only the CSV files are written). Returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for c in curves:
        path = out / f"pr_{_file_name(c['name'])}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["recall", "precision"])
            writer.writerows((f"{r:.6g}", f"{p:.6g}") for r, p in zip(c["recall"], c["precision"]))
        written.append(path)
    try:
        from rdet_apps.tools.plotting import pyplot

        plt = pyplot("the precision-recall picture")
    except ImportError:
        return written
    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    for c in curves:
        if len(c["recall"]):
            ax.plot(
                c["recall"], c["precision"], label=f"{c['name']} (AP {c['ap']:.3f}, {c['num_gts']} objects)"
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"precision-recall per class, IoU {iou_thr:g}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = out / "pr_curves.png"
    fig.savefig(png)
    plt.close(fig)
    written.append(png)
    return written
