"""``LrUpdaterHook``: learning rate (and momentum) schedules applied to the optimizer."""

from __future__ import annotations

from typing import Any

from rdet_apps.engine.hooks.base import Hook, RunnerView

__all__ = ["LrUpdaterHook"]


class LrUpdaterHook(Hook):
    """Sets each parameter group's ``lr`` (and, with a momentum schedule, its ``momentum`` or
    Adam's beta1) before every training iteration, from the schedules of ``lr_config`` /
    ``momentum_config`` (``rdet_apps.engine.schedules``) and the group's initial value: MMCV
    1.7's ``LrUpdaterHook`` and ``MomentumUpdaterHook`` in one hook.

    As MMCV's runners: an epoch-based run has ``max_iters = max_epochs * len(train loader)``,
    so iteration-based policies (``by_epoch=False``) work in it; ``warmup_by_epoch`` counts its
    epochs in the first training epoch's iterations. ``OneCycle``'s base learning rate is
    ``max_lr / div_factor``; its momentum schedule starts every group at ``max_momentum``.

    Args:
        lr_schedule: A ``kind='lr'`` ``Schedule``; None keeps the initial learning rate.
        momentum_schedule: A ``kind='momentum'`` ``Schedule`` (one built as an lr schedule is
            read again as momentum's: its defaults differ); None leaves momentum alone.
    """

    def __init__(self, lr_schedule: Any = None, momentum_schedule: Any = None) -> None:
        if momentum_schedule is not None and getattr(momentum_schedule, "kind", "momentum") != "momentum":
            momentum_schedule = momentum_schedule.as_kind("momentum")
        self.lr_schedule = lr_schedule
        self.momentum_schedule = momentum_schedule
        self.base_lrs: list[Any] = []
        self.base_momenta: list[Any] = []
        self._epoch_len: int | None = None  # the first training epoch's iterations (warm-up epochs)
        self._checked = False

    def _schedules(self) -> list[Any]:
        return [s for s in (self.lr_schedule, self.momentum_schedule) if s is not None]

    @staticmethod
    def _max_iters(runner: RunnerView) -> int | None:
        """The run's iterations; an epoch-based run's as MMCV's ``EpochBasedRunner`` counts them."""
        if runner.max_iters is not None:
            return runner.max_iters
        if runner.max_epochs is None or not runner.iters_per_epoch:
            return None
        return runner.max_epochs * runner.iters_per_epoch

    def _check(self, runner: RunnerView) -> None:
        max_iters = self._max_iters(runner)
        if self._checked or max_iters is None:
            return
        for schedule in self._schedules():
            schedule.check_run(runner.max_epochs, max_iters)
        self._checked = True

    def before_run(self, runner: RunnerView) -> None:
        """Remember every group's base learning rate (and momentum), as MMCV's ``before_run``."""
        optimizer = runner.optimizer
        groups = optimizer.param_groups
        name = type(optimizer).__name__
        lr = self.lr_schedule
        if lr is not None and lr.policy == "onecycle":
            self.base_lrs = lr.group_bases([g["lr"] for g in groups], name)
            for g, base in zip(groups, self.base_lrs):
                g.setdefault("initial_lr", base)
        else:
            for g in groups:
                g.setdefault("initial_lr", g["lr"])
            self.base_lrs = [g["initial_lr"] for g in groups]
        momentum = self.momentum_schedule
        if momentum is not None and momentum.policy == "onecycle":
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"momentum_config: the OneCycle policy needs an optimizer with momentum or betas, "
                    f"and {name} has neither"
                )
            use_beta1 = "betas" in optimizer.defaults
            self.base_momenta = momentum.group_bases([0.0] * len(groups), name)
            for g, (low, high) in zip(groups, self.base_momenta):
                if use_beta1:
                    g["betas"] = (high, g["betas"][1])
                else:
                    g["momentum"] = high
                g["base_momentum"], g["max_momentum"] = low, high
        elif momentum is not None:
            for g in groups:
                if "momentum" in g:
                    g.setdefault("initial_momentum", g["momentum"])
                elif "betas" in g:
                    g.setdefault("initial_momentum", g["betas"][0])
                else:
                    raise ValueError(
                        f"momentum_config: {name}'s parameter groups have neither momentum nor betas"
                    )
            self.base_momenta = [g["initial_momentum"] for g in groups]
        self._epoch_len = None
        self._checked = False
        self._check(runner)  # iteration-based runs: now, as MMCV's before_run

    def before_train_epoch(self, runner: RunnerView) -> None:
        """The first training epoch: its length (``warmup_by_epoch``, and an epoch-based run's
        ``max_iters``), and the checks that need the run's iterations."""
        if self._epoch_len is None:
            self._epoch_len = runner.iters_per_epoch
        self._check(runner)

    def before_train_iter(self, runner: RunnerView) -> None:
        """Set this iteration's learning rate (and momentum) on every group."""
        self._check(runner)
        epoch_len = self._epoch_len if self._epoch_len is not None else runner.iters_per_epoch
        args = (runner.epoch, runner.iter, runner.max_epochs, self._max_iters(runner))
        groups = runner.optimizer.param_groups
        for g, base in zip(groups, self.base_lrs):
            if self.lr_schedule is None:
                g["lr"] = base
            else:
                g["lr"] = self.lr_schedule.value(base, *args, iters_per_epoch=epoch_len)
        if self.momentum_schedule is not None:
            for g, base in zip(groups, self.base_momenta):
                value = self.momentum_schedule.value(base, *args, iters_per_epoch=epoch_len)
                if "momentum" in g:
                    g["momentum"] = value
                elif "betas" in g:
                    g["betas"] = (value, *g["betas"][1:])
