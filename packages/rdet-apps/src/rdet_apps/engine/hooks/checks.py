"""``NumClassCheckHook``: the heads' ``num_classes`` against the dataset's classes;
``CheckInvalidLossHook``: the loss is finite."""

from __future__ import annotations

import math
from typing import Any

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["CheckInvalidLossHook", "NumClassCheckHook"]


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Before training and validation: the heads' ``num_classes`` must equal the dataset's
    number of classes (MMDetection's check; RPN heads are exempt), or training would
    silently mislabel.

    Args:
        num_classes: The dataset's number of classes (default ``runner.meta['num_classes']``;
            when neither is known, nothing is checked).
    """

    def __init__(self, num_classes: int | None = None, **kwargs: Any) -> None:
        self.num_classes = num_classes

    def _check(self, runner: RunnerView) -> None:
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

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Check before each training epoch.

        Raises:
            ValueError: A module's ``num_classes`` differs from the dataset's.
        """
        self._check(runner)

    def before_val_epoch(self, runner: RunnerView) -> None:
        """Check before each validation epoch.

        Raises:
            ValueError: A module's ``num_classes`` differs from the dataset's.
        """
        self._check(runner)


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """MMDetection's ``CheckInvalidLossHook``: every ``interval`` iterations, the loss must be
    finite. The runner already stops at a NaN or infinite loss term (on the CPU before the
    backward pass; on a GPU when the values come to the host, at the latest every
    ``max_pending`` iterations), naming the iteration and the term; this hook brings the values
    over every ``interval`` iterations (one host sync), so that a GPU run stops there.

    Args:
        interval: Check every ``interval`` iterations. Default 50.

    Raises:
        rdet_models.NonFiniteLossError: (in ``after_train_iter``) a loss term of an iteration up to
            this one is NaN or infinite.
    """

    def __init__(self, interval: int = 50) -> None:
        self.check_args(interval)
        self.interval = interval

    @staticmethod
    def check_args(interval: int = 50) -> None:
        """Raises ValueError: ``interval`` is not a positive integer."""
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"CheckInvalidLossHook interval must be a positive integer, got {interval!r}")

    def after_train_iter(self, runner: RunnerView) -> None:
        """Check the losses logged so far (the runner raises on a non-finite one)."""
        if self.every_n_iters(runner, self.interval):
            loss = runner.log_buffer.latest().get("loss")
            if loss is not None and not math.isfinite(loss):
                raise FloatingPointError(
                    f"iteration {runner.iter + 1}: the loss is {loss} (CheckInvalidLossHook)"
                )
