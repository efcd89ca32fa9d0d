"""Logger hooks: text + ``.log.json`` (MMCV's layout and keys), TensorBoard, and ``results.csv``
(one row per epoch, as Ultralytics writes). Weights & Biases and MLflow: ``tracking``.

Logger hooks that log at the same point (the text logger and ``WandbLoggerHook`` at the same
interval, say) read the same averages: :func:`interval_values` averages the log buffer once
per logging point, clears it, and hands every later hook at that point the same values.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["ResultsCsvHook", "TensorboardLoggerHook", "TextLoggerHook", "interval_values"]


def interval_values(runner: RunnerView, mode: str) -> dict[str, float]:
    """The means of what was logged since the last logging (``mode``: ``'train'`` or
    ``'val'``), for a logger hook logging now: ``LogBuffer.read_interval``, so that the logger
    hooks at one logging point get the same values whatever their order, and a hook logging at
    other points (another ``interval``) averages what is left since the last logging of any."""
    return runner.log_buffer.read_interval(mode)


@HOOKS.register_module()
class TextLoggerHook(Hook):
    """Every ``interval`` iterations: one text line (MMCV's layout) on the logger, and one JSON
    line in ``<work_dir>/<timestamp>.log.json`` with MMCV's keys (``mode``, ``epoch``,
    ``iter``, ``lr``, ``time``, ``data_time``, ``memory``, the losses), so that MMCV's
    ``analyze_logs`` habits keep working. Validation results are logged with ``mode: val``.

    Args:
        interval: Iterations between lines.
        by_epoch: Show ``Epoch [e][i/n]`` (else ``Iter [i/n]``).
        ignore_last: Skip the last iterations of an epoch that do not fill an interval.
    """

    def __init__(
        self, interval: int = 50, by_epoch: bool = True, ignore_last: bool = True, **kwargs: Any
    ) -> None:
        self.interval, self.by_epoch, self.ignore_last = interval, by_epoch, ignore_last
        self.json_path: Path | None = None
        self._start = time.time()

    def before_run(self, runner: RunnerView) -> None:
        """Start the clock; on rank 0, open the ``.log.json`` with its header record."""
        self._start = time.time()
        if runner.rank != 0:
            return
        self.json_path = Path(runner.work_dir) / f"{runner.timestamp}.log.json"
        with open(self.json_path, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "env_info": runner.meta.get("env_info", ""),
                        "seed": runner.meta.get("seed"),
                        "exp_name": runner.meta.get("exp_name", ""),
                    }
                )
                + "\n"
            )

    def _emit(self, runner: RunnerView, mode: str, values: dict[str, float]) -> None:
        record = {
            "mode": mode,
            "epoch": runner.epoch + 1,
            "iter": runner.inner_iter + 1 if mode == "train" else runner.inner_iter,
        }
        record["lr"] = runner.optimizer.param_groups[0]["lr"]
        if torch.cuda.is_available():
            record["memory"] = int(torch.cuda.max_memory_allocated() / 2**20)
        record.update({k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()})
        if self.json_path is not None:
            with open(self.json_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if mode == "train":
            done = runner.iter + 1 - runner.start_iter
            left = (runner.max_iters or runner.max_epochs * runner.iters_per_epoch) - runner.iter - 1
            eta = (time.time() - self._start) / max(done, 1) * left
            where = (
                f"Epoch [{runner.epoch + 1}][{runner.inner_iter + 1}/{runner.iters_per_epoch}]"
                if self.by_epoch
                else f"Iter [{runner.iter + 1}/{runner.max_iters}]"
            )
            head = f"{where}\tlr: {record['lr']:.3e}, eta: {time.strftime('%H:%M:%S', time.gmtime(eta))}, "
        else:
            head = f"Epoch({mode}) [{runner.epoch + 1}][{runner.inner_iter}]\t"
        body = ", ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in values.items())
        if runner.rank == 0:
            runner.logger.info(head + body)

    def after_train_iter(self, runner: RunnerView) -> None:
        """Log the interval's averages (a ``train`` record and line)."""
        last = runner.inner_iter + 1 == runner.iters_per_epoch
        if (runner.inner_iter + 1) % self.interval == 0 or (last and not self.ignore_last):
            self._emit(runner, "train", interval_values(runner, "train"))

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Drop what an incomplete last interval left in the buffer."""
        runner.log_buffer.clear()

    def after_val_epoch(self, runner: RunnerView) -> None:
        """Log the validation results (a ``val`` record and line)."""
        self._emit(runner, "val", interval_values(runner, "val"))


@HOOKS.register_module()
class TensorboardLoggerHook(Hook):
    """Scalars to TensorBoard under ``<work_dir>/tf_logs`` (needs the ``tensorboard`` extra:
    ``pip install 'rdet-apps[tensorboard]'``).

    Args:
        interval: Iterations between writes.
        log_dir: Where the event files go (default ``<work_dir>/tf_logs``).
    """

    def __init__(self, interval: int = 50, log_dir: str | None = None, **kwargs: Any) -> None:
        self.interval, self.log_dir, self.writer = interval, log_dir, None

    def before_run(self, runner: RunnerView) -> None:
        """Open the writer.

        Raises:
            ImportError: tensorboard is not installed (naming the extra).
        """
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "TensorboardLoggerHook needs tensorboard, an optional extra of rdet-apps: "
                "pip install 'rdet-apps[tensorboard]'"
            ) from e
        self.writer = SummaryWriter(self.log_dir or os.path.join(runner.work_dir, "tf_logs"))

    def after_train_iter(self, runner: RunnerView) -> None:
        """Write the latest values and the learning rate every ``interval`` iterations."""
        if (runner.inner_iter + 1) % self.interval == 0 and self.writer is not None:
            for k, v in runner.log_buffer.latest().items():
                self.writer.add_scalar(f"train/{k}", v, runner.iter + 1)
            self.writer.add_scalar("train/lr", runner.optimizer.param_groups[0]["lr"], runner.iter + 1)

    def after_run(self, runner: RunnerView) -> None:
        """Close the writer."""
        if self.writer is not None:
            self.writer.close()


@HOOKS.register_module()
class ResultsCsvHook(Hook):
    """``<work_dir>/results.csv``: one row per epoch (``epoch``; the epoch's mean of every loss
    term, ``loss`` their sum; ``lr`` at the epoch's end; then the validation values of that
    epoch, metrics under their names and losses of a ``('val', 1)`` workflow as ``val_<name>``),
    rewritten atomically after every epoch and evaluation, as Ultralytics' ``results.csv``.
    Iteration-based runs get a row per evaluation and one at the end, keyed by ``iter``. A
    resumed run keeps the rows up to the resumed epoch. ``build_runner`` registers it (priority
    ``BELOW_NORMAL``: after checkpoints, before ``EvalHook`` and the text logger).

    Args:
        filename: The file's name in the work dir.
    """

    def __init__(self, filename: str = "results.csv", **kwargs: Any) -> None:
        self.filename = filename
        self.rows: list[dict[str, float]] = []
        self.path: Path | None = None

    def _key(self, runner: RunnerView) -> str:
        return "epoch" if runner.max_epochs is not None else "iter"

    def before_run(self, runner: RunnerView) -> None:
        """Keep the rows of a resumed run up to where it resumes; else start afresh."""
        self.path = Path(runner.work_dir) / self.filename
        self.rows = []
        key, done = self._key(runner), runner.epoch if runner.max_epochs is not None else runner.iter
        if done > 0 and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    values = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
                    if values.get(key, math.inf) <= done:
                        self.rows.append(values)

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Start the epoch's means."""
        runner.log_buffer.reset_running()

    def _train_row(self, runner: RunnerView, at: int) -> None:
        key = self._key(runner)
        means = runner.log_buffer.running_average()
        row: dict[str, float] = {key: at}
        row.update({k: v for k, v in means.items() if "loss" in k})
        row["lr"] = runner.optimizer.param_groups[0]["lr"]
        runner.log_buffer.reset_running()
        self.rows = [r for r in self.rows if r.get(key) != at] + [row]
        self._write(runner)

    def after_train_epoch(self, runner: RunnerView) -> None:
        """A row of the epoch's training means (iteration-based: the end of the run)."""
        if runner.max_epochs is not None:
            self._train_row(runner, runner.epoch + 1)
        elif not self.rows or self.rows[-1].get("iter") != runner.iter:
            self._train_row(runner, runner.iter)

    def after_val_epoch(self, runner: RunnerView) -> None:
        """Add the validation values to the row of the epoch they belong to."""
        values = runner.log_buffer.average()
        if runner.max_epochs is None:
            self._train_row(runner, runner.iter + 1)
        elif not self.rows:  # validation before any training
            self.rows.append({"epoch": runner.epoch})
        row = self.rows[-1]
        for k, v in values.items():
            if k not in ("time", "data_time"):
                row[f"val_{k}" if "loss" in k else k] = v
        self._write(runner)

    def _write(self, runner: RunnerView) -> None:
        if runner.rank != 0 or self.path is None:
            return
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _cell(k, v) for k, v in row.items()})
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()


def _cell(key: str, value: float) -> str:
    if key in ("epoch", "iter"):
        return str(int(value))
    return f"{value:.6g}"
