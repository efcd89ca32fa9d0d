"""``NumClassCheckHook``: the heads' ``num_classes`` against the dataset's classes."""

from __future__ import annotations

from typing import Any

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["NumClassCheckHook"]


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
