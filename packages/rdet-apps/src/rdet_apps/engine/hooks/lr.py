"""``LrUpdaterHook``: learning rate (and momentum) schedules applied to the optimizer."""

from __future__ import annotations

from typing import Any

from rdet_apps.engine.hooks.base import Hook, RunnerView

__all__ = ["LrUpdaterHook"]


class LrUpdaterHook(Hook):
    """Sets each parameter group's ``lr`` (and, with a momentum schedule, its momentum or
    Adam's beta1) before every training iteration, from the schedules of ``lr_config`` /
    ``momentum_config`` and the group's initial value.

    Args:
        lr_schedule: ``value(base, epoch, iter, max_epochs, max_iters)`` (see
            ``rdet_apps.engine.schedules``); None keeps the initial learning rate.
        momentum_schedule: The same for momentum; None leaves momentum alone.
    """

    def __init__(self, lr_schedule: Any, momentum_schedule: Any = None) -> None:
        self.lr_schedule = lr_schedule
        self.momentum_schedule = momentum_schedule
        self.base_lrs: list[float] = []
        self.base_momenta: list[float] = []

    def before_run(self, runner: RunnerView) -> None:
        """Remember every group's initial learning rate (and momentum)."""
        groups = runner.optimizer.param_groups
        for g in groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in groups]
        if self.momentum_schedule is not None:
            for g in groups:
                g.setdefault("initial_momentum", g["betas"][0] if "betas" in g else g.get("momentum", 0.0))
            self.base_momenta = [g["initial_momentum"] for g in groups]

    def before_train_iter(self, runner: RunnerView) -> None:
        """Set this iteration's learning rate (and momentum) on every group."""
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
