"""Training hooks: the runner calls them at fixed points, in priority order (MMCV's model).

Points: ``before_run``, ``before_train_epoch``, ``before_train_iter``, ``after_train_iter``,
``after_train_epoch``, ``before_val_epoch``, ``after_val_epoch``, ``after_run``. Priorities
are numbers or MMCV's names (``HIGHEST`` 0 ... ``NORMAL`` 50 ... ``LOWEST`` 100); lower runs
first. Hooks are registered in ``rdet_apps.registry.HOOKS`` (entry-point group ``rdet.hooks``)
so that ``custom_hooks=[dict(type=..., priority=...)]`` in a config builds them.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rdet_apps.registry import HOOKS

if TYPE_CHECKING:
    from rdet_apps.engine.runner import Runner

__all__ = [
    "PRIORITIES",
    "CheckpointHook",
    "EvalHook",
    "Hook",
    "LrUpdaterHook",
    "NumClassCheckHook",
    "TensorboardLoggerHook",
    "TextLoggerHook",
    "get_priority",
]

PRIORITIES = {
    "HIGHEST": 0,
    "VERY_HIGH": 10,
    "HIGH": 30,
    "ABOVE_NORMAL": 40,
    "NORMAL": 50,
    "BELOW_NORMAL": 60,
    "LOW": 70,
    "VERY_LOW": 90,
    "LOWEST": 100,
}


def get_priority(priority: int | str) -> int:
    """``'NORMAL'`` -> 50; ints in [0, 100] pass through.

    Raises:
        ValueError: An unknown name or a number outside [0, 100].
    """
    if isinstance(priority, str):
        if priority.upper() not in PRIORITIES:
            raise ValueError(
                f"unknown hook priority {priority!r}; use one of {', '.join(PRIORITIES)} or 0..100"
            )
        return PRIORITIES[priority.upper()]
    if not 0 <= int(priority) <= 100:
        raise ValueError(f"hook priority must lie in 0..100, got {priority}")
    return int(priority)


class Hook:
    """Base class: every method does nothing."""

    def before_run(self, runner: Runner) -> None: ...
    def after_run(self, runner: Runner) -> None: ...
    def before_train_epoch(self, runner: Runner) -> None: ...
    def after_train_epoch(self, runner: Runner) -> None: ...
    def before_train_iter(self, runner: Runner) -> None: ...
    def after_train_iter(self, runner: Runner) -> None: ...
    def before_val_epoch(self, runner: Runner) -> None: ...
    def after_val_epoch(self, runner: Runner) -> None: ...


class LrUpdaterHook(Hook):
    """Sets each parameter group's ``lr`` (and, with a momentum schedule, its momentum or
    Adam's beta1) before every training iteration, from the schedules of ``lr_config`` /
    ``momentum_config`` and the group's initial value."""

    def __init__(self, lr_schedule: Any, momentum_schedule: Any = None) -> None:
        self.lr_schedule = lr_schedule
        self.momentum_schedule = momentum_schedule
        self.base_lrs: list[float] = []
        self.base_momenta: list[float] = []

    def before_run(self, runner: Runner) -> None:
        groups = runner.optimizer.param_groups
        for g in groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in groups]
        if self.momentum_schedule is not None:
            for g in groups:
                g.setdefault("initial_momentum", g["betas"][0] if "betas" in g else g.get("momentum", 0.0))
            self.base_momenta = [g["initial_momentum"] for g in groups]

    def before_train_iter(self, runner: Runner) -> None:
        args = (runner.epoch, runner.iter, runner.max_epochs, runner.max_iters)
        for g, base in zip(runner.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_schedule.value(base, *args) if self.lr_schedule is not None else base
        if self.momentum_schedule is not None:
            for g, base in zip(runner.optimizer.param_groups, self.base_momenta):
                value = self.momentum_schedule.value(base, *args)
                if "betas" in g:
                    g["betas"] = (value, *g["betas"][1:])
                else:
                    g["momentum"] = value


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Saves ``epoch_N.pth`` (or ``iter_N.pth``) every ``interval`` and ``latest.pth``.

    Args:
        interval: Epochs (or iterations with ``by_epoch=False``) between checkpoints; -1 never.
        by_epoch: Count epochs or iterations.
        save_optimizer: Include the optimizer state (needed to resume).
        out_dir: Where to write (default the work dir).
        max_keep_ckpts: Keep only the newest this many (-1 all).
    """

    def __init__(
        self,
        interval: int = 1,
        by_epoch: bool = True,
        save_optimizer: bool = True,
        out_dir: str | None = None,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        **kwargs: Any,
    ) -> None:
        self.interval, self.by_epoch, self.save_optimizer = interval, by_epoch, save_optimizer
        self.out_dir, self.max_keep_ckpts, self.save_last = out_dir, max_keep_ckpts, save_last
        self.saved: list[Path] = []

    def _save(self, runner: Runner, name: str) -> None:
        if runner.rank != 0:
            return
        out = Path(self.out_dir or runner.work_dir)
        path = runner.save_checkpoint(out / name, save_optimizer=self.save_optimizer)
        latest = out / "latest.pth"
        tmp = out / ".latest.pth.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(path.name, tmp)
        os.replace(tmp, latest)
        self.saved.append(path)
        if self.max_keep_ckpts > 0:
            while len(self.saved) > self.max_keep_ckpts:
                old = self.saved.pop(0)
                if old.exists():
                    old.unlink()

    def after_train_epoch(self, runner: Runner) -> None:
        if not self.by_epoch or self.interval <= 0:
            return
        if (runner.epoch + 1) % self.interval == 0 or (
            self.save_last and runner.epoch + 1 == runner.max_epochs
        ):
            self._save(runner, f"epoch_{runner.epoch + 1}.pth")

    def after_train_iter(self, runner: Runner) -> None:
        if self.by_epoch or self.interval <= 0:
            return
        if (runner.iter + 1) % self.interval == 0 or (self.save_last and runner.iter + 1 == runner.max_iters):
            self._save(runner, f"iter_{runner.iter + 1}.pth")


@HOOKS.register_module()
class TextLoggerHook(Hook):
    """Every ``interval`` iterations: one text line (MMCV's layout) on the logger, and one JSON
    line in ``<work_dir>/<timestamp>.log.json`` with MMCV's keys (``mode``, ``epoch``,
    ``iter``, ``lr``, ``time``, ``data_time``, ``memory``, the losses), so that MMCV's
    ``analyze_logs`` habits keep working. Validation results are logged with ``mode: val``."""

    def __init__(
        self, interval: int = 50, by_epoch: bool = True, ignore_last: bool = True, **kwargs: Any
    ) -> None:
        self.interval, self.by_epoch, self.ignore_last = interval, by_epoch, ignore_last
        self.json_path: Path | None = None
        self._start = time.time()

    def before_run(self, runner: Runner) -> None:
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

    def _emit(self, runner: Runner, mode: str, values: dict[str, float]) -> None:
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

    def after_train_iter(self, runner: Runner) -> None:
        last = runner.inner_iter + 1 == runner.iters_per_epoch
        if (runner.inner_iter + 1) % self.interval == 0 or (last and not self.ignore_last):
            self._emit(runner, "train", runner.log_buffer.average_and_clear())

    def after_train_epoch(self, runner: Runner) -> None:
        runner.log_buffer.clear()

    def after_val_epoch(self, runner: Runner) -> None:
        self._emit(runner, "val", runner.log_buffer.average_and_clear())


@HOOKS.register_module()
class TensorboardLoggerHook(Hook):
    """Scalars to TensorBoard under ``<work_dir>/tf_logs`` (needs the ``tensorboard`` package)."""

    def __init__(self, interval: int = 50, log_dir: str | None = None, **kwargs: Any) -> None:
        self.interval, self.log_dir, self.writer = interval, log_dir, None

    def before_run(self, runner: Runner) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError("TensorboardLoggerHook needs tensorboard: pip install tensorboard") from e
        self.writer = SummaryWriter(self.log_dir or os.path.join(runner.work_dir, "tf_logs"))

    def after_train_iter(self, runner: Runner) -> None:
        if (runner.inner_iter + 1) % self.interval == 0 and self.writer is not None:
            for k, v in runner.log_buffer.latest().items():
                self.writer.add_scalar(f"train/{k}", v, runner.iter + 1)
            self.writer.add_scalar("train/lr", runner.optimizer.param_groups[0]["lr"], runner.iter + 1)

    def after_run(self, runner: Runner) -> None:
        if self.writer is not None:
            self.writer.close()


@HOOKS.register_module()
class EvalHook(Hook):
    """Evaluates every ``interval`` epochs (or iterations) with ``evaluate(model) -> metrics``,
    logs the metrics as a ``val`` record, and with ``save_best`` keeps ``best_<key>_epoch_N.pth``.

    Args:
        evaluate: Called with the (unwrapped) model; returns {'mAP': ..., ...}.
        interval: Epochs (or iterations) between evaluations.
        save_best: A metric name, ``'auto'`` (the first one returned) or None.
        rule: ``'greater'`` or ``'less'`` (default: greater, less for names with 'loss').
    """

    def __init__(
        self,
        evaluate: Callable[[torch.nn.Module], dict[str, float]],
        interval: int = 1,
        by_epoch: bool = True,
        save_best: str | None = None,
        rule: str | None = None,
        start: int | None = None,
        **eval_kwargs: Any,
    ) -> None:
        self.evaluate, self.interval, self.by_epoch = evaluate, interval, by_epoch
        self.save_best, self.rule, self.start = save_best, rule, start
        self.best_score: float | None = None
        self.best_path: Path | None = None
        self.history: list[dict[str, float]] = []

    def _run(self, runner: Runner) -> None:
        from rdet_apps.engine.checkpoint import unwrap

        metrics = self.evaluate(unwrap(runner.model))
        self.history.append(dict(metrics))
        runner.log_buffer.clear()  # the val record holds the metrics only, not leftover train values
        runner.log_buffer.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        runner.call_hook("after_val_epoch")
        if self.save_best and metrics:
            key = next(iter(metrics)) if self.save_best == "auto" else self.save_best
            if key not in metrics:
                raise KeyError(f"save_best={self.save_best!r} is not among the metrics {sorted(metrics)}")
            score = float(metrics[key])
            greater = (self.rule or ("less" if "loss" in key else "greater")) == "greater"
            if self.best_score is None or (score > self.best_score if greater else score < self.best_score):
                self.best_score = score
                if runner.rank != 0:
                    return
                if self.best_path is not None and self.best_path.exists():
                    self.best_path.unlink()
                tag = f"epoch_{runner.epoch + 1}" if self.by_epoch else f"iter_{runner.iter + 1}"
                self.best_path = runner.save_checkpoint(
                    Path(runner.work_dir) / f"best_{key}_{tag}.pth", save_optimizer=False
                )
                runner.meta["best_score"], runner.meta["best_ckpt"] = score, str(self.best_path)

    def after_train_epoch(self, runner: Runner) -> None:
        if (
            self.by_epoch
            and (runner.epoch + 1) % self.interval == 0
            and (self.start is None or runner.epoch + 1 >= self.start)
        ):
            self._run(runner)

    def after_train_iter(self, runner: Runner) -> None:
        if not self.by_epoch and (runner.iter + 1) % self.interval == 0:
            self._run(runner)


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Before training and validation: the heads' ``num_classes`` must equal the dataset's
    number of classes (MMDetection's check; RPN heads are exempt), or training would
    silently mislabel."""

    def __init__(self, num_classes: int | None = None, **kwargs: Any) -> None:
        self.num_classes = num_classes

    def _check(self, runner: Runner) -> None:
        from rdet_apps.engine.checkpoint import unwrap

        expected = self.num_classes if self.num_classes is not None else runner.meta.get("num_classes")
        if expected is None:
            return
        for name, module in unwrap(runner.model).named_modules():
            if (
                "RPN" in type(module).__name__
            ):  # region proposals are class-agnostic (MMDetection exempts them)
                continue
            n = getattr(module, "num_classes", None)
            if isinstance(n, int) and n != expected:
                raise ValueError(
                    f"{name or 'model'}.num_classes is {n} but the dataset has {expected} classes; set num_classes={expected} in the model config"
                )

    def before_train_epoch(self, runner: Runner) -> None:
        self._check(runner)

    def before_val_epoch(self, runner: Runner) -> None:
        self._check(runner)


class LogBuffer:
    """Per-iteration values, averaged over the logging interval."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._latest: dict[str, float] = {}

    def update(self, values: dict[str, float], count: int = 1) -> None:
        for k, v in values.items():
            if not math.isfinite(v):
                continue
            self._sums[k] += v * count
            self._counts[k] += count
            self._latest[k] = v

    def latest(self) -> dict[str, float]:
        return dict(self._latest)

    def average_and_clear(self) -> dict[str, float]:
        out = {k: self._sums[k] / self._counts[k] for k in self._sums}
        self.clear()
        return out

    def clear(self) -> None:
        self._sums.clear()
        self._counts.clear()
