"""The hook base class, priorities, and ``RunnerView``: what a hook may see of the runner.

A hook is called at fixed points of training (``before_run``, ``before_train_epoch``,
``before_train_iter``, ``after_train_iter``, ``after_train_epoch``, ``before_val_epoch``,
``before_val_iter``, ``after_val_iter``, ``after_val_epoch``, ``after_run``; the train and val
points default to MMCV's generic ``before_epoch`` ... ``after_iter``) with the runner as its one argument. Hooks type that
argument as ``RunnerView``, a protocol that ``rdet_apps.engine.runner.Runner`` satisfies, so
that no hook module imports the runner (the runner imports the hooks, not the reverse).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from rdet_apps.engine.log_buffer import LogBuffer

__all__ = ["PRIORITIES", "Hook", "RunnerView", "get_priority"]

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


@runtime_checkable
class RunnerView(Protocol):
    """The runner as hooks see it: the state they read and the two things they may ask.

    Attributes:
        epoch: Epochs finished (0-based index of the current one).
        iter: Iterations finished over the whole run.
        inner_iter: Index of the iteration within the epoch (during validation: batches done).
        max_epochs / max_iters: The run's length; exactly one is not None.
        iters_per_epoch: Batches in one training epoch.
        start_iter: ``iter`` when ``run`` started (after resuming: the resumed iteration).
        work_dir: Where checkpoints and logs go.
        rank: This process's rank (0 without distribution).
        optimizer: The optimizer (hooks set learning rates and momenta on its groups).
        model: The trained module, possibly wrapped (``rdet_apps.engine.checkpoint.unwrap``).
        log_buffer: The values logged since the last logging.
        logger: Where text logs go.
        meta: Saved in every checkpoint; hooks may add to it.
        timestamp: The run's start, ``%Y%m%d_%H%M%S`` (the ``.log.json`` file's name).
    """

    epoch: int
    iter: int
    inner_iter: int
    max_epochs: int | None
    max_iters: int | None
    iters_per_epoch: int
    start_iter: int
    work_dir: Path
    rank: int
    optimizer: torch.optim.Optimizer
    model: nn.Module
    log_buffer: LogBuffer
    logger: logging.Logger
    meta: dict[str, Any]
    timestamp: str

    def save_checkpoint(self, path: str | Path, save_optimizer: bool = True) -> Path:
        """Save the weights (and the optimizer) to ``path``; returns the path written."""
        ...

    def log_val_metrics(self, metrics: dict[str, Any]) -> None:
        """Hand over validation results: the runner logs them and calls ``after_val_epoch``
        on every hook, once."""
        ...


class Hook:
    """Base class: every method does nothing; subclasses override the points they need.

    As in MMCV, the train and val points fall back on the generic ones: a hook that defines only
    ``before_epoch`` / ``after_epoch`` / ``before_iter`` / ``after_iter`` (MMRotate's docs write
    custom hooks so) is called at both the training's and a ``('val', n)`` workflow's epochs and
    iterations. An evaluation during training (``EvalHook``) is not an epoch: it reaches only
    the hooks that define ``after_val_epoch`` themselves (``Runner.log_val_metrics``).
    """

    def before_run(self, runner: RunnerView) -> None:
        """Once, before the first iteration."""

    def after_run(self, runner: RunnerView) -> None:
        """Once, after the last iteration."""

    def before_epoch(self, runner: RunnerView) -> None:
        """Before each training or ``('val', n)`` workflow epoch (unless those are overridden)."""

    def after_epoch(self, runner: RunnerView) -> None:
        """After each training or ``('val', n)`` workflow epoch (unless those are overridden)."""

    def before_iter(self, runner: RunnerView) -> None:
        """Before each training or workflow validation iteration (unless those are overridden)."""

    def after_iter(self, runner: RunnerView) -> None:
        """After each training or workflow validation iteration (unless those are overridden)."""

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Before each training epoch (iteration-based runs: once, at the start)."""
        self.before_epoch(runner)

    def after_train_epoch(self, runner: RunnerView) -> None:
        """After each training epoch (iteration-based runs: once, at the end)."""
        self.after_epoch(runner)

    def before_train_iter(self, runner: RunnerView) -> None:
        """Before each training iteration."""
        self.before_iter(runner)

    def after_train_iter(self, runner: RunnerView) -> None:
        """After each training iteration (its values are in ``runner.log_buffer``)."""
        self.after_iter(runner)

    def before_val_epoch(self, runner: RunnerView) -> None:
        """Before a ``('val', n)`` workflow epoch."""
        self.before_epoch(runner)

    def after_val_epoch(self, runner: RunnerView) -> None:
        """After a validation (workflow epoch or evaluation); the results are in
        ``runner.log_buffer``."""
        self.after_epoch(runner)

    def before_val_iter(self, runner: RunnerView) -> None:
        """Before each batch of a ``('val', n)`` workflow epoch."""
        self.before_iter(runner)

    def after_val_iter(self, runner: RunnerView) -> None:
        """After each batch of a ``('val', n)`` workflow epoch."""
        self.after_iter(runner)

    # MMCV's helpers for hooks that act every n epochs or iterations (runner.epoch / iter count
    # those finished, inner_iter is the current iteration's index within its epoch)

    def every_n_epochs(self, runner: RunnerView, n: int) -> bool:
        """The current epoch is the n-th, 2n-th, ... (1-based)."""
        return (runner.epoch + 1) % n == 0 if n > 0 else False

    def every_n_inner_iters(self, runner: RunnerView, n: int) -> bool:
        """The current iteration is the n-th, 2n-th, ... of its epoch."""
        return (runner.inner_iter + 1) % n == 0 if n > 0 else False

    def every_n_iters(self, runner: RunnerView, n: int) -> bool:
        """The current iteration is the n-th, 2n-th, ... of the run."""
        return (runner.iter + 1) % n == 0 if n > 0 else False

    def end_of_epoch(self, runner: RunnerView) -> bool:
        """The current iteration is its epoch's last."""
        return runner.inner_iter + 1 == runner.iters_per_epoch

    def is_last_epoch(self, runner: RunnerView) -> bool:
        """The current epoch is the run's last (epoch-based runs)."""
        return runner.max_epochs is not None and runner.epoch + 1 == runner.max_epochs

    def is_last_iter(self, runner: RunnerView) -> bool:
        """The current iteration is the run's last (iteration-based runs: max_iters; epoch-based:
        the last epoch's last iteration)."""
        if runner.max_iters is not None:
            return runner.iter + 1 == runner.max_iters
        return self.is_last_epoch(runner) and self.end_of_epoch(runner)
