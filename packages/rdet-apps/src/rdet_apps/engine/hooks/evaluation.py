"""``EvalHook``: evaluation during training, the ``evaluation`` config key, and ``save_best``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["EvalHook"]


@HOOKS.register_module()
class EvalHook(Hook):
    """Evaluates every ``interval`` epochs (or iterations) with ``evaluate(model) -> metrics``,
    hands the metrics to the runner (``runner.log_val_metrics``: a ``val`` record, and
    ``after_val_epoch`` on every hook), and with ``save_best`` keeps ``best_<key>_epoch_N.pth``.

    Args:
        evaluate: Called with the (unwrapped) model; returns {'mAP': ..., ...}.
        interval: Epochs (or iterations) between evaluations.
        by_epoch: Count epochs or iterations.
        save_best: A metric name, ``'auto'`` (the first one returned) or None.
        rule: ``'greater'`` or ``'less'`` (default: greater, less for names with 'loss').
        start: Evaluate from this epoch on (epoch-based only; default from the first interval).
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
        greater = (self.rule or ("less" if "loss" in key else "greater")) == "greater"
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

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Epoch-based: evaluate every ``interval`` epochs (from ``start``)."""
        if (
            self.by_epoch
            and (runner.epoch + 1) % self.interval == 0
            and (self.start is None or runner.epoch + 1 >= self.start)
        ):
            self._run(runner)

    def after_train_iter(self, runner: RunnerView) -> None:
        """Iteration-based: evaluate every ``interval`` iterations."""
        if not self.by_epoch and (runner.iter + 1) % self.interval == 0:
            self._run(runner)
