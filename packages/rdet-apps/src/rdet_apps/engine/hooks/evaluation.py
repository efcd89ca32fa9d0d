"""``EvalHook``: evaluation during training, the ``evaluation`` config key, and ``save_best``."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.config_checks import (
    check_evaluation_hook_args,
    check_evaluation_values,
    parse_dynamic_intervals,
)
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["EvalHook"]


@HOOKS.register_module()
class EvalHook(Hook):
    """Evaluates every ``interval`` epochs (or iterations) with ``evaluate(model) -> metrics``,
    hands the metrics to the runner (``runner.log_val_metrics``: a ``val`` record, and
    ``after_val_epoch`` on every hook), and with ``save_best`` keeps ``best_<key>_epoch_N.pth``.

    When it evaluates is MMCV's ``EvalHook``'s: without ``start`` at the ``interval``-th,
    2 ``interval``-th ... epoch (iteration); with ``start`` at ``start``, ``start + interval``
    ..., and once before training when the run begins at or after ``start`` (``start=0``, or a
    resumed run). MMDetection's ``dynamic_intervals`` change ``interval`` at milestones.

    Args:
        evaluate: Called with the (unwrapped) model; returns {'mAP': ..., ...}.
        interval: Epochs (or iterations) between evaluations, a positive integer.
        by_epoch: Count epochs or iterations.
        save_best: A metric name, ``'auto'`` (the first one returned) or None.
        rule: ``'greater'`` or ``'less'``; None: less for names with 'loss', else greater.
        start: Evaluate from this epoch (iteration) on; None: at every ``interval``.
        dynamic_intervals: ``[(milestone, interval), ...]``: from the ``milestone``-th epoch
            (iteration) on, every ``interval`` (MMDetection's; YOLOX's configs).
        gpu_collect / tmpdir: MMCV's ``DistEvalHook`` keys; accepted and not needed
            (``multi_gpu_test`` gathers the ranks' results itself).
        **eval_kwargs: The dataset's ``evaluate`` arguments (``metric``, ``iou_thr`` ...) that
            the config's ``evaluation`` holds: the ``evaluate`` function applies them, and
            ``check_runtime_config`` checks them against ``data.val`` before training.

    Raises:
        ValueError: A value of the wrong type or range (``rule='greator'``, ``interval=0``),
            naming its ``evaluation`` key.
        ConfigKeyError: A key of MMCV's ``EvalHook`` that rdet does not implement
            (``greater_keys``, ``out_dir`` ...), or a near-miss of a hook key (``intervel``).
    """

    def __init__(
        self,
        evaluate: Callable[[torch.nn.Module], dict[str, float]],
        interval: int = 1,
        by_epoch: bool = True,
        save_best: str | None = None,
        rule: str | None = None,
        start: int | None = None,
        dynamic_intervals: list[tuple[int, int]] | None = None,
        gpu_collect: bool = False,
        tmpdir: str | None = None,
        **eval_kwargs: Any,
    ) -> None:
        check_evaluation_hook_args(eval_kwargs)
        check_evaluation_values(
            {"interval": interval, "by_epoch": by_epoch, "save_best": save_best, "rule": rule, "start": start,
             "dynamic_intervals": dynamic_intervals, "gpu_collect": gpu_collect, "tmpdir": tmpdir}
        )  # fmt: skip
        self.evaluate, self.interval, self.by_epoch = evaluate, interval, by_epoch
        self.save_best, self.rule, self.start = save_best, rule, start
        self.eval_kwargs = dict(eval_kwargs)
        self.dynamic = (
            parse_dynamic_intervals(dynamic_intervals, interval) if dynamic_intervals is not None else None
        )
        self.best_score: float | None = None
        self.best_path: Path | None = None
        self.history: list[dict[str, float]] = []
        self._initial = True

    def _run(self, runner: RunnerView) -> None:
        metrics = self.evaluate(unwrap(runner.model))
        self.history.append(dict(metrics))
        runner.log_val_metrics(metrics)
        if self.save_best and metrics:
            self._save_best(runner, metrics)

    def _save_best(self, runner: RunnerView, metrics: dict[str, float]) -> None:
        key = next(iter(metrics)) if self.save_best == "auto" else self.save_best
        if key not in metrics:
            raise KeyError(f"save_best={self.save_best!r} is not among the metrics {sorted(metrics)}")
        score = float(metrics[key])
        greater = (self.rule or ("less" if "loss" in key.lower() else "greater")) == "greater"
        if self.best_score is not None:
            better = score > self.best_score if greater else score < self.best_score
            if not better:
                return
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

    def _decide_interval(self, runner: RunnerView) -> None:
        """MMDetection's ``dynamic_intervals``: the interval in force at this epoch (iteration)."""
        if self.dynamic is not None:
            milestones, intervals = self.dynamic
            progress = runner.epoch if self.by_epoch else runner.iter
            self.interval = intervals[bisect.bisect(milestones, progress + 1) - 1]

    def _should_evaluate(self, runner: RunnerView) -> bool:
        """MMCV's rule: every ``interval`` (1-based), or from ``start`` every ``interval``."""
        current = (runner.epoch if self.by_epoch else runner.iter) + 1
        if self.start is None:
            return current % self.interval == 0
        return current >= self.start and (current - self.start) % self.interval == 0

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Epoch-based: the interval in force; before the first epoch, evaluate when the run
        begins at or after ``start`` (MMCV)."""
        if not self.by_epoch:
            return
        self._decide_interval(runner)
        if self._initial:
            self._initial = False
            if self.start is not None and runner.epoch >= self.start:
                self.after_train_epoch(runner)

    def before_train_iter(self, runner: RunnerView) -> None:
        """Iteration-based: the interval in force; before the first iteration, evaluate when the
        run begins at or after ``start`` (MMCV)."""
        if self.by_epoch:
            return
        self._decide_interval(runner)
        if self._initial:
            self._initial = False
            if self.start is not None and runner.iter >= self.start:
                self.after_train_iter(runner)

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Epoch-based: evaluate when :meth:`_should_evaluate` says."""
        if self.by_epoch and self._should_evaluate(runner):
            self._run(runner)

    def after_train_iter(self, runner: RunnerView) -> None:
        """Iteration-based: evaluate when :meth:`_should_evaluate` says."""
        if not self.by_epoch and self._should_evaluate(runner):
            self._run(runner)
