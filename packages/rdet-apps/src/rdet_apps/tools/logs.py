"""MMRotate's ``tools/analysis_tools/analyze_logs.py`` on rdet's ``*.log.json`` files: loss
and metric curves (``plot_curve``) and the time per training iteration (``cal_train_time``).

A ``.log.json`` (``TextLoggerHook``) holds one JSON record a line: a header without
``epoch`` (skipped), then ``mode: train`` records every logging interval (``epoch``, ``iter``,
``lr``, ``time``, ``data_time``, the losses) and ``mode: val`` records after evaluations
(``epoch`` and the metrics, e.g. ``mAP``).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["curve", "load_json_log", "load_json_logs", "plot_curve", "train_time"]

LogDict = dict[int, dict[str, list[Any]]]


def load_json_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of one ``.log.json`` that have an ``epoch`` (MMRotate skips the others).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a ``.json`` file, a line that is not JSON (named ``file:line``), or no
            record with an epoch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such log file: {path}")
    if path.suffix != ".json":
        raise ValueError(f"{path}: not a .json log (the training writes <timestamp>.log.json)")
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not a JSON record ({e.msg})") from None
            if isinstance(record, dict) and "epoch" in record:
                records.append(record)
    if not records:
        raise ValueError(f"{path}: no training or validation records (is it a .log.json of rdet train?)")
    return records


def load_json_logs(paths: Sequence[str | os.PathLike]) -> list[LogDict]:
    """MMRotate's layout: per log, ``{epoch: {key: [value per record]}}``."""
    out = []
    for path in paths:
        log: LogDict = {}
        for record in load_json_log(path):
            record = dict(record)
            epoch = int(record.pop("epoch"))
            entry = log.setdefault(epoch, defaultdict(list))
            for k, v in record.items():
                entry[k].append(v)
        out.append(log)
    return out


def train_time(records: list[dict[str, Any]], include_outliers: bool = False) -> dict[str, float]:
    """The time per training iteration: per epoch the mean of the ``train`` records' ``time``
    (the first of each epoch left out unless ``include_outliers``, as MMRotate), the slowest
    and fastest epochs, the spread over epochs and the overall mean.

    Raises:
        ValueError: No train record with a ``time``.
    """
    per_epoch: dict[int, list[float]] = defaultdict(list)
    for r in records:
        if r.get("mode", "train") == "train" and "time" in r:
            per_epoch[int(r["epoch"])].append(float(r["time"]))
    times = {e: (t if include_outliers or len(t) < 2 else t[1:]) for e, t in sorted(per_epoch.items())}
    if not times:
        raise ValueError("no training records with a 'time'")
    epochs = list(times)
    means = np.array([np.mean(times[e]) for e in epochs])
    return {
        "slowest_epoch": epochs[int(means.argmax())],
        "slowest_time": float(means.max()),
        "fastest_epoch": epochs[int(means.argmin())],
        "fastest_time": float(means.min()),
        "std_over_epochs": float(means.std()),
        "mean_iter_time": float(np.mean(np.concatenate([np.asarray(t) for t in times.values()]))),
    }


def curve(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``(xs, ys, x label)`` of ``key``: metrics of ``val`` records by epoch; training values
    by iteration over the whole run (``iter + (epoch - 1) * iterations per epoch``).

    Raises:
        KeyError: ``key`` is in no record; the message lists the keys there are.
    """
    val = [r for r in records if r.get("mode") == "val" and key in r]
    train = [r for r in records if r.get("mode", "train") == "train" and key in r]
    if not val and not train:
        keys = sorted({k for r in records for k in r} - {"mode", "epoch", "iter"})
        raise KeyError(f"--keys {key}: not in the log; it has {', '.join(keys)}")
    if not train:  # a metric: one point per evaluation
        return (
            np.array([r["epoch"] for r in val], float),
            np.array([r[key] for r in val], float),
            "epoch",
        )
    per_epoch = max(int(r["iter"]) for r in train)
    xs = np.array([int(r["iter"]) + (int(r["epoch"]) - 1) * per_epoch for r in train], float)
    return xs, np.array([r[key] for r in train], float), "iter"


def plot_curve(
    logs: Sequence[str | os.PathLike],
    keys: Sequence[str],
    out: str | os.PathLike | None = None,
    title: str | None = None,
    legend: Sequence[str] | None = None,
    backend: str | None = None,
    style: str = "dark",
) -> Any:
    """One figure of every key of every log (MMRotate's ``plot_curve``). Saved to ``out`` (its
    folder made), or shown when ``out`` is None. ``style`` is seaborn's (``dark``, ``whitegrid`` ...) when
    seaborn is installed, else a matplotlib style name; ``legend`` defaults to
    ``<log>_<key>``. Returns the figure.

    Raises:
        ValueError: ``legend`` does not give one name per log and key; ``out``'s suffix is no
            format matplotlib writes.
        KeyError: A key is missing from a log.
        ImportError: matplotlib is missing (the ``plot`` extra).
    """
    from rdet_apps.tools.plotting import pyplot

    records = [load_json_log(p) for p in logs]
    if legend is None:
        legend = [f"{Path(p).name}_{k}" for p in logs for k in keys]
    if len(legend) != len(logs) * len(keys):
        raise ValueError(
            f"--legend has {len(legend)} names for {len(logs)} logs x {len(keys)} keys ({len(logs) * len(keys)} curves)"
        )
    plt = pyplot("analyze-logs plot_curve", backend if backend is not None else ("Agg" if out else None))
    _set_style(plt, style)
    fig = plt.figure()
    if out is not None:  # before the drawing: a format matplotlib cannot write, a folder to make
        kind = Path(out).suffix.lstrip(".").lower()
        if kind not in fig.canvas.get_supported_filetypes():
            plt.close(fig)
            raise ValueError(
                f"--out {out}: matplotlib cannot write {kind or 'a file without a suffix'!r}; "
                f"use one of {', '.join(sorted(fig.canvas.get_supported_filetypes()))}"
            )
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    xlabels = set()
    for i, recs in enumerate(records):
        for j, key in enumerate(keys):
            xs, ys, xlabel = curve(recs, key)
            xlabels.add(xlabel)
            label = legend[i * len(keys) + j]
            if xlabel == "epoch":
                plt.plot(xs, ys, label=label, marker="o")
            else:
                plt.plot(xs, ys, label=label, linewidth=0.5)
    plt.xlabel(" / ".join(sorted(xlabels)))
    plt.legend()
    if title is not None:
        plt.title(title)
    if out is None:
        plt.show()
    else:
        fig.savefig(out)
        plt.close(fig)
    return fig


def _set_style(plt: Any, style: str) -> None:
    try:
        import seaborn as sns
    except ImportError:
        sns = None
    if sns is not None:
        sns.set_style(style)
        return
    for name in (style, f"seaborn-v0_8-{style}", f"seaborn-{style}"):
        if name in plt.style.available:
            plt.style.use(name)
            return
    if style != "dark":  # MMRotate's default: fine to lack without seaborn
        raise ValueError(
            f"--style {style}: not a matplotlib style (and seaborn is not installed); "
            f"try one of {', '.join(sorted(plt.style.available)[:8])} ..."
        )
