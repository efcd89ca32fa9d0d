"""The hook base class, priorities, and ``RunnerView``: what a hook may see of the runner.

A hook is called at fixed points of training (``before_run``, ``before_train_epoch``,
``before_train_iter``, ``after_train_iter``, ``after_train_epoch``, ``before_val_epoch``,
``after_val_epoch``, ``after_run``) with the runner as its one argument. Hooks type that
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
    """Base class: every method does nothing; subclasses override the points they need."""

    def before_run(self, runner: RunnerView) -> None:
        """Once, before the first iteration."""

    def after_run(self, runner: RunnerView) -> None:
        """Once, after the last iteration."""

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Before each training epoch (iteration-based runs: once, at the start)."""

    def after_train_epoch(self, runner: RunnerView) -> None:
        """After each training epoch (iteration-based runs: once, at the end)."""

    def before_train_iter(self, runner: RunnerView) -> None:
        """Before each training iteration."""

    def after_train_iter(self, runner: RunnerView) -> None:
        """After each training iteration (its values are in ``runner.log_buffer``)."""

    def before_val_epoch(self, runner: RunnerView) -> None:
        """Before a ``('val', n)`` workflow epoch."""

    def after_val_epoch(self, runner: RunnerView) -> None:
        """After a validation (workflow epoch or evaluation); the results are in
        ``runner.log_buffer``."""
