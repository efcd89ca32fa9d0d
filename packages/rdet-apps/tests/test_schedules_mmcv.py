"""rdet's ``lr_config`` / ``momentum_config`` against MMCV 1.7's updater hooks.

``_mmcv_*`` below transcribe MMCV 1.7's ``mmcv/runner/hooks/lr_updater.py`` and
``momentum_updater.py`` (one optimizer, no dict of optimizers) and the hook calls of its
``EpochBasedRunner`` (``max_iters = max_epochs * len(loader)``, then ``before_run``;
``before_train_epoch`` and ``before_train_iter``) and ``IterBasedRunner`` (``before_run``,
``before_epoch``: nothing for these hooks, then ``before_train_iter``). Each case runs rdet's
real ``Runner`` on a toy model and records every parameter group's learning rate and momentum
as the iteration sees them; the MMCV transcription, driven the same way on an optimizer of the
same groups, must give the same sequence.
"""

from __future__ import annotations

import numbers
from math import cos, pi
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import Hook, Runner, build_runner, build_schedule
from rdet_apps.engine.hooks import LrUpdaterHook

# ---------------------------------------------------------------------------------------------
# MMCV 1.7, transcribed (lr_updater.py, momentum_updater.py)
# ---------------------------------------------------------------------------------------------


def annealing_cos(start, end, factor, weight=1.0):
    cos_out = cos(pi * factor) + 1
    return end + 0.5 * weight * (start - end) * cos_out


def annealing_linear(start, end, factor):
    return start + (end - start) * factor


def format_param(name, optim, param):
    if isinstance(param, numbers.Number):
        return [param] * len(optim.param_groups)
    elif isinstance(param, (list, tuple)):
        if len(param) != len(optim.param_groups):
            raise ValueError(f"expected {len(optim.param_groups)} values for {name}, got {len(param)}")
        return param
    else:
        if name not in param:
            raise KeyError(f"{name} is not found in {param.keys()}")
        return param[name]


class _MMCVLr:
    def __init__(self, by_epoch=True, warmup=None, warmup_iters=0, warmup_ratio=0.1, warmup_by_epoch=False):
        if warmup is not None:
            assert warmup in ["constant", "linear", "exp"]
            assert warmup_iters > 0
            assert 0 < warmup_ratio <= 1.0
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        if self.warmup_by_epoch:
            self.warmup_epochs = self.warmup_iters
            self.warmup_iters = None
        else:
            self.warmup_epochs = None
        self.base_lr = []
        self.regular_lr = []

    def _set_lr(self, runner, lr_groups):
        for param_group, lr in zip(runner.optimizer.param_groups, lr_groups):
            param_group["lr"] = lr

    def get_regular_lr(self, runner):
        return [self.get_lr(runner, _base_lr) for _base_lr in self.base_lr]

    def get_warmup_lr(self, cur_iters):
        regular_lr = self.regular_lr
        if self.warmup == "constant":
            warmup_lr = [_lr * self.warmup_ratio for _lr in regular_lr]
        elif self.warmup == "linear":
            k = (1 - cur_iters / self.warmup_iters) * (1 - self.warmup_ratio)
            warmup_lr = [_lr * (1 - k) for _lr in regular_lr]
        elif self.warmup == "exp":
            k = self.warmup_ratio ** (1 - cur_iters / self.warmup_iters)
            warmup_lr = [_lr * k for _lr in regular_lr]
        return warmup_lr

    def before_run(self, runner):
        for group in runner.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lr = [group["initial_lr"] for group in runner.optimizer.param_groups]

    def before_train_epoch(self, runner):
        if self.warmup_iters is None:
            epoch_len = len(runner.data_loader)
            self.warmup_iters = self.warmup_epochs * epoch_len
        if not self.by_epoch:
            return
        self.regular_lr = self.get_regular_lr(runner)
        self._set_lr(runner, self.regular_lr)

    def before_train_iter(self, runner):
        cur_iter = runner.iter
        assert isinstance(self.warmup_iters, int)
        if not self.by_epoch:
            self.regular_lr = self.get_regular_lr(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))
        elif self.by_epoch:
            if self.warmup is None or cur_iter > self.warmup_iters:
                return
            elif cur_iter == self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))


class FixedLr(_MMCVLr):
    def get_lr(self, runner, base_lr):
        return base_lr


class StepLr(_MMCVLr):
    def __init__(self, step, gamma=0.1, min_lr=None, **kwargs):
        self.step, self.gamma, self.min_lr = step, gamma, min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = len(self.step)
            for i, s in enumerate(self.step):
                if progress < s:
                    exp = i
                    break
        lr = base_lr * (self.gamma**exp)
        if self.min_lr is not None:
            lr = max(lr, self.min_lr)
        return lr


class ExpLr(_MMCVLr):
    def __init__(self, gamma, **kwargs):
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * self.gamma**progress


class PolyLr(_MMCVLr):
    def __init__(self, power=1.0, min_lr=0.0, **kwargs):
        self.power, self.min_lr = power, min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        coeff = (1 - progress / max_progress) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


class InvLr(_MMCVLr):
    def __init__(self, gamma, power=1.0, **kwargs):
        self.gamma, self.power = gamma, power
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * (1 + self.gamma * progress) ** (-self.power)


class CosineAnnealingLr(_MMCVLr):
    def __init__(self, min_lr=None, min_lr_ratio=None, **kwargs):
        assert (min_lr is None) ^ (min_lr_ratio is None)
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        target_lr = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        return annealing_cos(base_lr, target_lr, progress / max_progress)


class FlatCosineAnnealingLr(_MMCVLr):
    def __init__(self, start_percent=0.75, min_lr=None, min_lr_ratio=None, **kwargs):
        assert (min_lr is None) ^ (min_lr_ratio is None)
        if start_percent < 0 or start_percent > 1 or not isinstance(start_percent, float):
            raise ValueError(start_percent)
        self.start_percent, self.min_lr, self.min_lr_ratio = start_percent, min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        if self.by_epoch:
            start = round(runner.max_epochs * self.start_percent)
            progress = runner.epoch - start
            max_progress = runner.max_epochs - start
        else:
            start = round(runner.max_iters * self.start_percent)
            progress = runner.iter - start
            max_progress = runner.max_iters - start
        target_lr = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        if progress < 0:
            return base_lr
        return annealing_cos(base_lr, target_lr, progress / max_progress)


def get_position_from_periods(iteration, cumulative_periods):
    for i, period in enumerate(cumulative_periods):
        if iteration < period:
            return i
    raise ValueError(f"Current iteration {iteration} exceeds cumulative_periods {cumulative_periods}")


class CosineRestartLr(_MMCVLr):
    def __init__(self, periods, restart_weights=(1,), min_lr=None, min_lr_ratio=None, **kwargs):
        assert (min_lr is None) ^ (min_lr_ratio is None)
        self.periods, self.min_lr, self.min_lr_ratio = periods, min_lr, min_lr_ratio
        self.restart_weights = list(restart_weights)
        assert len(self.periods) == len(self.restart_weights)
        super().__init__(**kwargs)
        self.cumulative_periods = [sum(self.periods[0 : i + 1]) for i in range(0, len(self.periods))]

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        target_lr = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        idx = get_position_from_periods(progress, self.cumulative_periods)
        current_weight = self.restart_weights[idx]
        nearest_restart = 0 if idx == 0 else self.cumulative_periods[idx - 1]
        current_periods = self.periods[idx]
        alpha = min((progress - nearest_restart) / current_periods, 1)
        return annealing_cos(base_lr, target_lr, alpha, current_weight)


class CyclicLr(_MMCVLr):
    def __init__(
        self,
        by_epoch=False,
        target_ratio=(10, 1e-4),
        cyclic_times=1,
        step_ratio_up=0.4,
        anneal_strategy="cos",
        gamma=1,
        **kwargs,
    ):
        if isinstance(target_ratio, float):
            target_ratio = (target_ratio, target_ratio / 1e5)
        elif isinstance(target_ratio, tuple):
            target_ratio = (
                (target_ratio[0], target_ratio[0] / 1e5) if len(target_ratio) == 1 else target_ratio
            )
        else:
            raise ValueError(target_ratio)
        assert len(target_ratio) == 2
        assert 0 <= step_ratio_up < 1.0
        assert 0 < gamma <= 1
        self.target_ratio, self.cyclic_times, self.step_ratio_up, self.gamma = (
            target_ratio,
            cyclic_times,
            step_ratio_up,
            gamma,
        )
        self.max_iter_per_phase = None
        self.lr_phases = []
        self.anneal_func = annealing_cos if anneal_strategy == "cos" else annealing_linear
        assert not by_epoch
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner):
        super().before_run(runner)
        self.max_iter_per_phase = runner.max_iters // self.cyclic_times
        iter_up_phase = int(self.step_ratio_up * self.max_iter_per_phase)
        self.lr_phases.append([0, iter_up_phase, 1, self.target_ratio[0]])
        self.lr_phases.append(
            [iter_up_phase, self.max_iter_per_phase, self.target_ratio[0], self.target_ratio[1]]
        )

    def get_lr(self, runner, base_lr):
        curr_iter = runner.iter % self.max_iter_per_phase
        curr_cycle = runner.iter // self.max_iter_per_phase
        scale = self.gamma**curr_cycle
        for start_iter, end_iter, start_ratio, end_ratio in self.lr_phases:
            if start_iter <= curr_iter < end_iter:
                if start_iter == 0:
                    end_ratio = 1 - scale + end_ratio * scale
                else:
                    start_ratio = 1 - scale + start_ratio * scale
                progress = curr_iter - start_iter
                return self.anneal_func(
                    base_lr * start_ratio, base_lr * end_ratio, progress / (end_iter - start_iter)
                )


class OneCycleLr(_MMCVLr):
    def __init__(
        self,
        max_lr,
        total_steps=None,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25,
        final_div_factor=1e4,
        three_phase=False,
        **kwargs,
    ):
        if "by_epoch" not in kwargs:
            kwargs["by_epoch"] = False
        else:
            assert not kwargs["by_epoch"]
        self._max_lr = max_lr
        if total_steps is not None:
            self.total_steps = total_steps
        self.pct_start = pct_start
        self.anneal_func = annealing_cos if anneal_strategy == "cos" else annealing_linear
        self.div_factor, self.final_div_factor, self.three_phase = div_factor, final_div_factor, three_phase
        self.lr_phases = []
        super().__init__(**kwargs)

    def before_run(self, runner):
        total_steps = self.total_steps if hasattr(self, "total_steps") else runner.max_iters
        if total_steps < runner.max_iters:
            raise ValueError("The total steps must be greater than or equal to max iterations")
        k = type(runner.optimizer).__name__
        _max_lr = format_param(k, runner.optimizer, self._max_lr)
        self.base_lr = [lr / self.div_factor for lr in _max_lr]
        for group, lr in zip(runner.optimizer.param_groups, self.base_lr):
            group.setdefault("initial_lr", lr)
        if self.three_phase:
            self.lr_phases.append([float(self.pct_start * total_steps) - 1, 1, self.div_factor])
            self.lr_phases.append([float(2 * self.pct_start * total_steps) - 2, self.div_factor, 1])
            self.lr_phases.append([total_steps - 1, 1, 1 / self.final_div_factor])
        else:
            self.lr_phases.append([float(self.pct_start * total_steps) - 1, 1, self.div_factor])
            self.lr_phases.append([total_steps - 1, self.div_factor, 1 / self.final_div_factor])

    def get_lr(self, runner, base_lr):
        curr_iter = runner.iter
        start_iter = 0
        for _i, (end_iter, start_lr, end_lr) in enumerate(self.lr_phases):
            if curr_iter <= end_iter:
                pct = (curr_iter - start_iter) / (end_iter - start_iter)
                lr = self.anneal_func(base_lr * start_lr, base_lr * end_lr, pct)
                break
            start_iter = end_iter
        return lr


class LinearAnnealingLr(_MMCVLr):
    def __init__(self, min_lr=None, min_lr_ratio=None, **kwargs):
        assert (min_lr is None) ^ (min_lr_ratio is None)
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        target_lr = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        return annealing_linear(base_lr, target_lr, progress / max_progress)


class _MMCVMomentum:
    def __init__(self, by_epoch=True, warmup=None, warmup_iters=0, warmup_ratio=0.9):
        if warmup is not None:
            assert warmup in ["constant", "linear", "exp"]
            assert warmup_iters > 0
            assert 0 < warmup_ratio <= 1.0
        self.by_epoch, self.warmup, self.warmup_iters, self.warmup_ratio = (
            by_epoch,
            warmup,
            warmup_iters,
            warmup_ratio,
        )
        self.base_momentum = []
        self.regular_momentum = []

    def _set_momentum(self, runner, momentum_groups):
        for param_group, mom in zip(runner.optimizer.param_groups, momentum_groups):
            if "momentum" in param_group:
                param_group["momentum"] = mom
            elif "betas" in param_group:
                param_group["betas"] = (mom, param_group["betas"][1])

    def get_regular_momentum(self, runner):
        return [self.get_momentum(runner, _base_momentum) for _base_momentum in self.base_momentum]

    def get_warmup_momentum(self, cur_iters):
        regular_momentum = self.regular_momentum
        if self.warmup == "constant":
            warmup_momentum = [_momentum / self.warmup_ratio for _momentum in regular_momentum]
        elif self.warmup == "linear":
            k = (1 - cur_iters / self.warmup_iters) * (1 - self.warmup_ratio)
            warmup_momentum = [_momentum / (1 - k) for _momentum in regular_momentum]
        elif self.warmup == "exp":
            k = self.warmup_ratio ** (1 - cur_iters / self.warmup_iters)
            warmup_momentum = [_momentum / k for _momentum in regular_momentum]
        return warmup_momentum

    def before_run(self, runner):
        for group in runner.optimizer.param_groups:
            if "momentum" in group:
                group.setdefault("initial_momentum", group["momentum"])
            else:
                group.setdefault("initial_momentum", group["betas"][0])
        self.base_momentum = [group["initial_momentum"] for group in runner.optimizer.param_groups]

    def before_train_epoch(self, runner):
        if not self.by_epoch:
            return
        self.regular_momentum = self.get_regular_momentum(runner)
        self._set_momentum(runner, self.regular_momentum)

    def before_train_iter(self, runner):
        cur_iter = runner.iter
        if not self.by_epoch:
            self.regular_momentum = self.get_regular_momentum(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_momentum(runner, self.regular_momentum)
            else:
                self._set_momentum(runner, self.get_warmup_momentum(cur_iter))
        elif self.by_epoch:
            if self.warmup is None or cur_iter > self.warmup_iters:
                return
            elif cur_iter == self.warmup_iters:
                self._set_momentum(runner, self.regular_momentum)
            else:
                self._set_momentum(runner, self.get_warmup_momentum(cur_iter))


class StepMomentum(_MMCVMomentum):
    def __init__(self, step, gamma=0.5, min_momentum=None, **kwargs):
        self.step, self.gamma, self.min_momentum = step, gamma, min_momentum
        super().__init__(**kwargs)

    def get_momentum(self, runner, base_momentum):
        progress = runner.epoch if self.by_epoch else runner.iter
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = len(self.step)
            for i, s in enumerate(self.step):
                if progress < s:
                    exp = i
                    break
        momentum = base_momentum * (self.gamma**exp)
        if self.min_momentum is not None:
            momentum = max(momentum, self.min_momentum)
        return momentum


class CosineAnnealingMomentum(_MMCVMomentum):
    def __init__(self, min_momentum=None, min_momentum_ratio=None, **kwargs):
        assert (min_momentum is None) ^ (min_momentum_ratio is None)
        self.min_momentum, self.min_momentum_ratio = min_momentum, min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, runner, base_momentum):
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        if self.min_momentum_ratio is not None:
            target_momentum = base_momentum * self.min_momentum_ratio
        else:
            target_momentum = self.min_momentum
        return annealing_cos(base_momentum, target_momentum, progress / max_progress)


class LinearAnnealingMomentum(CosineAnnealingMomentum):
    def get_momentum(self, runner, base_momentum):
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        if self.min_momentum_ratio is not None:
            target_momentum = base_momentum * self.min_momentum_ratio
        else:
            target_momentum = self.min_momentum
        return annealing_linear(base_momentum, target_momentum, progress / max_progress)


class CyclicMomentum(_MMCVMomentum):
    def __init__(
        self,
        by_epoch=False,
        target_ratio=(0.85 / 0.95, 1.0),
        cyclic_times=1,
        step_ratio_up=0.4,
        anneal_strategy="cos",
        gamma=1.0,
        **kwargs,
    ):
        if isinstance(target_ratio, float):
            target_ratio = (target_ratio, target_ratio / 1e5)
        elif isinstance(target_ratio, tuple):
            target_ratio = (
                (target_ratio[0], target_ratio[0] / 1e5) if len(target_ratio) == 1 else target_ratio
            )
        self.target_ratio, self.cyclic_times, self.step_ratio_up, self.gamma = (
            target_ratio,
            cyclic_times,
            step_ratio_up,
            gamma,
        )
        self.momentum_phases = []
        self.anneal_func = annealing_cos if anneal_strategy == "cos" else annealing_linear
        assert not by_epoch
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner):
        super().before_run(runner)
        max_iter_per_phase = runner.max_iters // self.cyclic_times
        iter_up_phase = int(self.step_ratio_up * max_iter_per_phase)
        self.max_iter_per_phase = max_iter_per_phase
        self.momentum_phases.append([0, iter_up_phase, 1, self.target_ratio[0]])
        self.momentum_phases.append(
            [iter_up_phase, max_iter_per_phase, self.target_ratio[0], self.target_ratio[1]]
        )

    def get_momentum(self, runner, base_momentum):
        curr_iter = runner.iter % self.max_iter_per_phase
        curr_cycle = runner.iter // self.max_iter_per_phase
        scale = self.gamma**curr_cycle
        for start_iter, end_iter, start_ratio, end_ratio in self.momentum_phases:
            if start_iter <= curr_iter < end_iter:
                if start_iter == 0:
                    end_ratio = 1 - scale + end_ratio * scale
                else:
                    start_ratio = 1 - scale + start_ratio * scale
                progress = curr_iter - start_iter
                return self.anneal_func(
                    base_momentum * start_ratio, base_momentum * end_ratio, progress / (end_iter - start_iter)
                )
        raise RuntimeError


class OneCycleMomentum(_MMCVMomentum):
    def __init__(
        self,
        base_momentum=0.85,
        max_momentum=0.95,
        pct_start=0.3,
        anneal_strategy="cos",
        three_phase=False,
        **kwargs,
    ):
        if "by_epoch" not in kwargs:
            kwargs["by_epoch"] = False
        else:
            assert not kwargs["by_epoch"]
        self._base_momentum, self._max_momentum, self.pct_start = base_momentum, max_momentum, pct_start
        self.anneal_func = annealing_cos if anneal_strategy == "cos" else annealing_linear
        self.three_phase = three_phase
        self.momentum_phases = []
        super().__init__(**kwargs)

    def before_run(self, runner):
        optim = runner.optimizer
        if "momentum" not in optim.defaults and "betas" not in optim.defaults:
            raise ValueError("optimizer must support momentum withoption enabled")
        self.use_beta1 = "betas" in optim.defaults
        k = type(optim).__name__
        _base_momentum = format_param(k, optim, self._base_momentum)
        _max_momentum = format_param(k, optim, self._max_momentum)
        for group, b_momentum, m_momentum in zip(optim.param_groups, _base_momentum, _max_momentum):
            if self.use_beta1:
                _, beta2 = group["betas"]
                group["betas"] = (m_momentum, beta2)
            else:
                group["momentum"] = m_momentum
            group["base_momentum"] = b_momentum
            group["max_momentum"] = m_momentum
        m = runner.max_iters
        if self.three_phase:
            self.momentum_phases.append(
                {
                    "end_iter": float(self.pct_start * m) - 1,
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                }
            )
            self.momentum_phases.append(
                {
                    "end_iter": float(2 * self.pct_start * m) - 2,
                    "start_momentum": "base_momentum",
                    "end_momentum": "max_momentum",
                }
            )
            self.momentum_phases.append(
                {"end_iter": m - 1, "start_momentum": "max_momentum", "end_momentum": "max_momentum"}
            )
        else:
            self.momentum_phases.append(
                {
                    "end_iter": float(self.pct_start * m) - 1,
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                }
            )
            self.momentum_phases.append(
                {"end_iter": m - 1, "start_momentum": "base_momentum", "end_momentum": "max_momentum"}
            )

    def get_momentum(self, runner, param_group):
        curr_iter = runner.iter
        start_iter = 0
        momentum = 0.0
        for i, phase in enumerate(self.momentum_phases):
            end_iter = phase["end_iter"]
            if curr_iter <= end_iter or i == len(self.momentum_phases) - 1:
                pct = (curr_iter - start_iter) / (end_iter - start_iter)
                momentum = self.anneal_func(
                    param_group[phase["start_momentum"]], param_group[phase["end_momentum"]], pct
                )
                break
            start_iter = end_iter
        return momentum

    def get_regular_momentum(self, runner):
        return [self.get_momentum(runner, param_group) for param_group in runner.optimizer.param_groups]


def _mmcv_hook(cfg, kind):
    """MMCV's ``register_lr_hook`` / ``register_momentum_hook``: ``policy`` -> the hook class."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    policy = cfg.pop("policy")
    if policy == policy.lower():
        policy = policy.title()
    return globals()[policy + ("Lr" if kind == "lr" else "Momentum")](**cfg)


# ---------------------------------------------------------------------------------------------
# the toy run, in rdet and in the transcription
# ---------------------------------------------------------------------------------------------


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(2, 1)

    def loss(self, batch):
        (x,) = batch
        return {"loss": self.b(self.a(x)).square().mean()}


def _optimizer(model, kind, lr=0.1):
    groups = [{"params": model.a.parameters()}, {"params": model.b.parameters(), "lr": lr / 5}]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def _snapshot(optimizer):
    return [(g["lr"], g["momentum"] if "momentum" in g else g["betas"][0]) for g in optimizer.param_groups]


class _Record(Hook):
    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner):
        self.seen.append((runner.epoch, runner.iter, _snapshot(runner.optimizer)))


def _loader(batches):
    return DataLoader(TensorDataset(torch.randn(batches * 2, 3)), batch_size=2)


def rdet_run(tmp_path, lr_cfg, mom_cfg=None, opt="sgd", max_epochs=3, max_iters=None, batches=4):
    torch.manual_seed(0)
    model = Toy()
    runner = Runner(
        model,
        _optimizer(model, opt),
        tmp_path,
        max_epochs=None if max_iters else max_epochs,
        max_iters=max_iters,
    )
    runner.register_hook(
        LrUpdaterHook(build_schedule(lr_cfg), build_schedule(mom_cfg, kind="momentum")), "VERY_HIGH"
    )
    record = _Record()
    runner.register_hook(record, "NORMAL")
    runner.run({"train": _loader(batches)})
    return record.seen


def mmcv_run(lr_cfg, mom_cfg=None, opt="sgd", max_epochs=3, max_iters=None, batches=4, lr=0.1):
    """The hook calls of MMCV's EpochBasedRunner (or, with ``max_iters``, IterBasedRunner)."""
    model = Toy()
    optimizer = _optimizer(model, opt, lr)
    hooks = [h for h in (_mmcv_hook(lr_cfg, "lr"), _mmcv_hook(mom_cfg, "momentum")) if h is not None]
    loader = range(batches)
    runner = SimpleNamespace(
        optimizer=optimizer,
        epoch=0,
        iter=0,
        data_loader=loader,
        max_epochs=max_epochs,
        max_iters=max_epochs * len(loader) if max_iters is None else max_iters,
    )
    seen = []
    for h in hooks:
        h.before_run(runner)
    if max_iters is None:
        for epoch in range(max_epochs):
            runner.epoch = epoch
            for h in hooks:
                h.before_train_epoch(runner)
            for _ in loader:
                for h in hooks:
                    h.before_train_iter(runner)
                seen.append((runner.epoch, runner.iter, _snapshot(optimizer)))
                runner.iter += 1
    else:
        runner.max_epochs = None
        while runner.iter < max_iters:
            runner.epoch = runner.iter // len(loader)  # IterLoader's epoch
            for h in hooks:
                h.before_train_iter(runner)
            seen.append((runner.epoch, runner.iter, _snapshot(optimizer)))
            runner.iter += 1
    return seen


def _assert_same(rdet, mmcv):
    assert [(e, i) for e, i, _ in rdet] == [(e, i) for e, i, _ in mmcv]
    for (e, i, got), (_, _, want) in zip(rdet, mmcv):
        for g, (a, b) in enumerate(zip(got, want)):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), f"epoch {e} iter {i} group {g}: {a} != {b}"


def _varies(seen, index=0):
    """The schedule does something: the first group's lr (0) or momentum (1) takes more than one value."""
    return len({round(s[0][index], 12) for _, _, s in seen}) > 1


LR_CASES = {
    "fixed+linear warmup": dict(policy="fixed", warmup="linear", warmup_iters=5, warmup_ratio=0.1),
    "step list+exp warmup": dict(
        policy="step", step=[1, 2], gamma=0.5, min_lr=0.03, warmup="exp", warmup_iters=6, warmup_ratio=0.01
    ),
    "step int by iter": dict(policy="step", step=5, gamma=0.3, by_epoch=False),
    "exp by iter": dict(policy="exp", gamma=0.9, by_epoch=False),
    "exp by epoch+constant warmup": dict(policy="exp", gamma=0.5, warmup="constant", warmup_iters=3),
    "poly (MMRotate docs)": dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False),
    "poly by epoch+linear warmup": dict(policy="poly", power=2.0, warmup="linear", warmup_iters=6),
    "inv": dict(policy="inv", gamma=0.1, power=2.0, by_epoch=False),
    "CosineAnnealing ratio by iter": dict(policy="CosineAnnealing", min_lr_ratio=0.01, by_epoch=False),
    "CosineAnnealing min_lr by epoch": dict(
        policy="CosineAnnealing", min_lr=0.001, warmup="linear", warmup_iters=5
    ),
    "FlatCosineAnnealing by iter": dict(
        policy="FlatCosineAnnealing", start_percent=0.5, min_lr=0.001, by_epoch=False
    ),
    "FlatCosineAnnealing by epoch": dict(policy="FlatCosineAnnealing", start_percent=0.3, min_lr_ratio=0.1),
    "CosineRestart by iter": dict(
        policy="CosineRestart", periods=[5, 7], restart_weights=[1, 0.5], min_lr_ratio=0.1, by_epoch=False
    ),
    "CosineRestart by epoch": dict(
        policy="CosineRestart", periods=[1, 2], restart_weights=[1, 0.6], min_lr=0.005
    ),
    "cyclic default": dict(policy="cyclic"),
    "cyclic float ratio, 2 cycles, gamma, linear": dict(
        policy="cyclic", target_ratio=5.0, cyclic_times=2, gamma=0.5, anneal_strategy="linear"
    ),
    "cyclic 3 cycles, gamma, up 0": dict(
        policy="cyclic", target_ratio=(4, 0.01), cyclic_times=3, step_ratio_up=0.0, gamma=0.7
    ),
    "cyclic 1-tuple+warmup": dict(policy="cyclic", target_ratio=(8.0,), warmup="exp", warmup_iters=3),
    "OneCycle": dict(policy="OneCycle", max_lr=0.5),
    "OneCycle per group, three phase, linear": dict(
        policy="OneCycle", max_lr=[0.5, 0.2], three_phase=True, anneal_strategy="linear", pct_start=0.25
    ),
    "OneCycle total_steps, dict max_lr": dict(
        policy="OneCycle", max_lr={"SGD": [0.4, 0.3]}, total_steps=20, div_factor=10, final_div_factor=100.0
    ),
    "LinearAnnealing by iter": dict(policy="LinearAnnealing", min_lr_ratio=0.05, by_epoch=False),
    "LinearAnnealing by epoch": dict(policy="LinearAnnealing", min_lr=0.002),
    "warmup_by_epoch": dict(
        policy="step", step=[2], warmup="linear", warmup_iters=1, warmup_by_epoch=True, warmup_ratio=0.2
    ),
    "warmup_by_epoch, 2 epochs, by iter": dict(
        policy="poly", by_epoch=False, warmup="exp", warmup_iters=2, warmup_by_epoch=True
    ),
}


@pytest.mark.parametrize("cfg", list(LR_CASES.values()), ids=list(LR_CASES))
def test_lr_policies_follow_mmcv_in_an_epoch_based_run(tmp_path, cfg):
    """Every lr policy and warm-up, a whole 3-epoch run of 4 iterations, two groups (lr 0.1
    and 0.02): by_epoch=False policies count max_epochs * len(loader) = 12 iterations."""
    seen = rdet_run(tmp_path, cfg)
    assert len(seen) == 12 and _varies(seen)
    _assert_same(seen, mmcv_run(cfg))


ITER_CASES = [
    "poly (MMRotate docs)",
    "cyclic float ratio, 2 cycles, gamma, linear",
    "OneCycle",
    "CosineRestart by iter",
    "FlatCosineAnnealing by iter",
    "exp by iter",
]


@pytest.mark.parametrize("name", ITER_CASES)
def test_iteration_policies_follow_mmcv_in_an_iteration_based_run(tmp_path, name):
    cfg = dict(LR_CASES[name], warmup="linear", warmup_iters=3)
    seen = rdet_run(tmp_path, cfg, max_iters=10)
    assert len(seen) == 10 and _varies(seen)
    _assert_same(seen, mmcv_run(cfg, max_iters=10))


def test_a_by_epoch_warmup_in_an_iteration_based_run_warms_up(tmp_path):
    """Where rdet does not follow MMCV: its IterBasedRunner calls ``before_epoch``, not the lr
    hook's ``before_train_epoch``, so a ``by_epoch=True`` policy's warm-up scales an empty list
    and the lr stays as it is. rdet warms up."""
    cfg = dict(policy="fixed", warmup="linear", warmup_iters=4, warmup_ratio=0.1)
    seen = rdet_run(tmp_path, cfg, max_iters=6)
    assert [s[0][0] for _, _, s in seen] == pytest.approx([0.01, 0.0325, 0.055, 0.0775, 0.1, 0.1])
    assert {s[0][0] for _, _, s in mmcv_run(cfg, max_iters=6)} == {0.1}


MOMENTUM_CASES = {
    "step+linear warmup (default ratio 0.9)": (
        dict(policy="step", step=[2], gamma=0.1),
        dict(policy="step", step=[1, 2], min_momentum=0.3, warmup="linear", warmup_iters=5),
        "sgd",
    ),
    "step by iter, constant warmup": (
        None,
        dict(policy="step", step=4, by_epoch=False, warmup="constant", warmup_iters=3, warmup_ratio=0.95),
        "sgd",
    ),
    "CosineAnnealing by iter, exp warmup": (
        dict(policy="CosineAnnealing", min_lr_ratio=0.1, by_epoch=False),
        dict(
            policy="CosineAnnealing",
            min_momentum_ratio=0.5,
            by_epoch=False,
            warmup="exp",
            warmup_iters=4,
            warmup_ratio=0.8,
        ),
        "sgd",
    ),
    "CosineAnnealing by epoch, Adam betas": (None, dict(policy="CosineAnnealing", min_momentum=0.5), "adam"),
    "LinearAnnealing by epoch": (
        None,
        dict(policy="LinearAnnealing", min_momentum_ratio=0.2, warmup="linear", warmup_iters=2),
        "sgd",
    ),
    "LinearAnnealing by iter, Adam": (
        None,
        dict(policy="LinearAnnealing", min_momentum=0.7, by_epoch=False),
        "adam",
    ),
    "cyclic lr + cyclic momentum (MMRotate docs)": (
        dict(policy="cyclic", target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4),
        dict(policy="cyclic", target_ratio=(0.85 / 0.95, 1), cyclic_times=1, step_ratio_up=0.4),
        "sgd",
    ),
    "cyclic momentum defaults, 2 cycles, gamma, linear": (
        None,
        dict(policy="cyclic", cyclic_times=2, gamma=0.5, anneal_strategy="linear"),
        "sgd",
    ),
    "OneCycle lr + OneCycle momentum (SGD)": (
        dict(policy="OneCycle", max_lr=0.3),
        dict(policy="OneCycle"),
        "sgd",
    ),
    "OneCycle momentum three phase (Adam betas)": (
        dict(policy="OneCycle", max_lr=[0.3, 0.1], three_phase=True),
        dict(
            policy="OneCycle",
            base_momentum=[0.8, 0.7],
            max_momentum=0.9,
            three_phase=True,
            pct_start=0.25,
            anneal_strategy="linear",
        ),
        "adam",
    ),
}


@pytest.mark.parametrize("case", list(MOMENTUM_CASES.values()), ids=list(MOMENTUM_CASES))
def test_momentum_policies_follow_mmcv(tmp_path, case):
    """Momentum (SGD's, or Adam's beta1) over a whole run, with and without an lr schedule;
    warm-up divides (MMCV's momentum warm-up, default ratio 0.9)."""
    lr_cfg, mom_cfg, opt = case
    seen = rdet_run(tmp_path, lr_cfg, mom_cfg, opt=opt)
    assert len(seen) == 12 and _varies(seen, index=1)
    _assert_same(seen, mmcv_run(lr_cfg or dict(policy="fixed"), mom_cfg, opt=opt))


def test_momentum_warmup_starts_above_the_regular_momentum():
    """MMCV warms momentum up by dividing: from m / ratio down to m (before: m * ratio)."""
    s = build_schedule(dict(policy="step", step=[10], warmup="linear", warmup_iters=10), kind="momentum")
    assert s.warmup_ratio == 0.9
    assert s.value(0.9, 0, 0, 12, None) == pytest.approx(1.0)
    assert s.value(0.9, 0, 5, 12, None) == pytest.approx(0.9 / (1 - 0.5 * 0.1))
    assert s.value(0.9, 0, 10, 12, None) == pytest.approx(0.9)
    const = build_schedule(
        dict(policy="step", step=[10], warmup="constant", warmup_iters=2, warmup_ratio=0.5), kind="momentum"
    )
    assert const.value(0.4, 0, 1, 12, None) == pytest.approx(0.8)
    exp = build_schedule(
        dict(policy="step", step=[10], warmup="exp", warmup_iters=4, warmup_ratio=0.25), kind="momentum"
    )
    assert exp.value(0.2, 0, 2, 12, None) == pytest.approx(0.2 / 0.25**0.5)


def _build_cfg(**over):
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9),
        runner=dict(type="EpochBasedRunner", max_epochs=3),
        log_config=dict(hooks=[]),
        checkpoint_config=dict(interval=100),
    )
    cfg.update(over)
    return cfg


def _single_group_mmcv(lr_cfg, mom_cfg):
    """The transcription on one group of lr 0.01, momentum 0.9 (what build_runner's SGD has)."""
    seen = mmcv_run(lr_cfg, mom_cfg, lr=0.01)
    return [(e, i, s[:1]) for e, i, s in seen]


@pytest.mark.parametrize(
    ("lr_cfg", "mom_cfg"),
    [
        (dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False), None),
        (
            dict(policy="cyclic", target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4),
            dict(policy="cyclic", target_ratio=(0.85 / 0.95, 1), cyclic_times=1, step_ratio_up=0.4),
        ),
        (dict(policy="step", step=[2]), dict(policy="step", step=[2], warmup="linear", warmup_iters=3)),
    ],
    ids=["poly", "cyclic+cyclic momentum", "momentum warm-up"],
)
def test_mmrotate_docs_examples_through_build_runner(tmp_path, lr_cfg, mom_cfg):
    """MMRotate's docs (customize_runtime): ``poly`` by iteration, and cyclic lr with cyclic
    momentum, in an epoch-based config. Before, both failed at the first iteration (the poly
    policy needs max_epochs/max_iters)."""
    runner = build_runner(_build_cfg(lr_config=lr_cfg, momentum_config=mom_cfg), Toy(), tmp_path)
    record = _Record()
    runner.register_hook(record, "NORMAL")
    runner.run({"train": _loader(4)})
    assert len(record.seen) == 12 and _varies(record.seen, index=1 if mom_cfg and "warmup" in mom_cfg else 0)
    _assert_same(record.seen, _single_group_mmcv(lr_cfg, mom_cfg))


# ---------------------------------------------------------------------------------------------
# what MMCV refuses, and typos
# ---------------------------------------------------------------------------------------------

ALL_LR = {
    "fixed": {},
    "step": {"step": [2]},
    "exp": {"gamma": 0.9},
    "poly": {},
    "inv": {"gamma": 0.1},
    "CosineAnnealing": {"min_lr": 0.0},
    "FlatCosineAnnealing": {"min_lr": 0.0},
    "CosineRestart": {"periods": [12], "min_lr": 0.0},
    "cyclic": {},
    "OneCycle": {"max_lr": 0.1},
    "LinearAnnealing": {"min_lr_ratio": 0.1},
}
ALL_MOMENTUM = {
    "step": {"step": [2]},
    "CosineAnnealing": {"min_momentum": 0.5},
    "LinearAnnealing": {"min_momentum": 0.5},
    "cyclic": {},
    "OneCycle": {},
}


@pytest.mark.parametrize(
    ("kind", "policy"), [("lr", p) for p in ALL_LR] + [("momentum", p) for p in ALL_MOMENTUM]
)
def test_every_policy_builds_and_names_an_unknown_key(kind, policy):
    args = (ALL_LR if kind == "lr" else ALL_MOMENTUM)[policy]
    section = f"{kind}_config"
    assert build_schedule(dict(policy=policy, **args), kind=kind).kind == kind
    with pytest.raises(
        KeyError, match=rf"^'?{section}\.bogus: not an argument of the {policy} {kind} policy"
    ):
        build_schedule(dict(policy=policy, bogus=1, **args), kind=kind)


@pytest.mark.parametrize(
    ("kind", "cfg", "message"),
    [
        (
            "lr",
            dict(policy="OneCycle", max_lrr=0.1),
            r"lr_config\.max_lrr: .*did you mean lr_config\.max_lr\?",
        ),
        ("lr", dict(policy="cyclic", target_ration=(10, 1e-4)), r"did you mean lr_config\.target_ratio\?"),
        ("lr", dict(policy="CosineRestart", periods=[3], min_lr=0, restart_weight=[1]), r"restart_weights"),
        ("momentum", dict(policy="CosineAnnealing", min_lr=0.5), r"momentum_config\.min_lr: .*min_momentum"),
        (
            "momentum",
            dict(policy="step", step=[2], warmup_by_epoch=True),
            r"momentum_config\.warmup_by_epoch",
        ),
        ("momentum", dict(policy="OneCycle", max_lr=0.1), r"momentum_config\.max_lr: .*OneCycle momentum"),
    ],
)
def test_typos_are_named_with_the_closest_key(kind, cfg, message):
    with pytest.raises(KeyError, match=message):
        build_schedule(cfg, kind=kind)


@pytest.mark.parametrize(
    ("kind", "cfg", "message"),
    [
        (
            "lr",
            dict(policy="cyclic", by_epoch=True),
            r"lr_config\.by_epoch: the cyclic policy only supports by_epoch=False",
        ),
        ("momentum", dict(policy="cyclic", by_epoch=True), r"momentum_config\.by_epoch"),
        ("lr", dict(policy="OneCycle", max_lr=0.1, by_epoch=True), r"lr_config\.by_epoch"),
        ("momentum", dict(policy="OneCycle", by_epoch=True), r"momentum_config\.by_epoch"),
        ("lr", dict(policy="CosineAnnealing"), r"exactly one of min_lr and min_lr_ratio, got neither"),
        (
            "lr",
            dict(policy="CosineAnnealing", min_lr=0, min_lr_ratio=0.1),
            r"min_lr and min_lr_ratio, got both",
        ),
        ("lr", dict(policy="FlatCosineAnnealing"), r"min_lr and min_lr_ratio"),
        ("lr", dict(policy="LinearAnnealing", min_lr=0, min_lr_ratio=0.1), r"min_lr and min_lr_ratio"),
        ("lr", dict(policy="CosineRestart", periods=[3]), r"min_lr and min_lr_ratio"),
        ("momentum", dict(policy="CosineAnnealing"), r"min_momentum and min_momentum_ratio, got neither"),
        ("lr", dict(policy="CosineRestart", periods=[3, 4], min_lr=0), r"restart_weights: .*same length"),
        ("lr", dict(policy="FlatCosineAnnealing", min_lr=0, start_percent=1.5), r"lr_config\.start_percent"),
        ("lr", dict(policy="cyclic", target_ratio="10"), r"lr_config\.target_ratio"),
        ("lr", dict(policy="cyclic", target_ratio=(1, 2, 3)), r"lr_config\.target_ratio"),
        ("lr", dict(policy="cyclic", anneal_strategy="triangle"), r"lr_config\.anneal_strategy"),
        ("lr", dict(policy="cyclic", gamma=0), r"lr_config\.gamma: must be > 0"),
        ("lr", dict(policy="cyclic", gamma=1.5), r"lr_config\.gamma: must be <= 1"),
        ("lr", dict(policy="cyclic", step_ratio_up=1.0), r"lr_config\.step_ratio_up: must be < 1"),
        ("lr", dict(policy="OneCycle"), r"the OneCycle policy needs max_lr"),
        ("lr", dict(policy="OneCycle", max_lr="0.1"), r"lr_config\.max_lr"),
        ("lr", dict(policy="OneCycle", max_lr=0.1, pct_start=2.0), r"lr_config\.pct_start"),
        ("lr", dict(policy="OneCycle", max_lr=0.1, total_steps=10.5), r"lr_config\.total_steps"),
        ("lr", dict(policy="OneCycle", max_lr=0.1, anneal_strategy="exp"), r"lr_config\.anneal_strategy"),
        ("momentum", dict(policy="OneCycle", base_momentum="a"), r"momentum_config\.base_momentum"),
        ("momentum", dict(policy="poly"), r"unknown momentum policy 'poly'"),
        ("lr", dict(policy="Cosine"), r"unknown lr policy 'Cosine'"),
        ("lr", dict(policy="step", step=[2], warmup="cosine", warmup_iters=2), r"lr_config\.warmup"),
        ("lr", dict(policy="step", step=[2], warmup="linear"), r"lr_config\.warmup_iters"),
        (
            "lr",
            dict(policy="step", step=[2], warmup="linear", warmup_iters=3, warmup_ratio=0),
            r"warmup_ratio",
        ),
        (
            "momentum",
            dict(policy="step", step=[2], warmup="linear", warmup_iters=3, warmup_ratio=1.2),
            r"momentum_config\.warmup_ratio",
        ),
        ("lr", dict(policy="step", step=[2, 0]), r"lr_config\.step"),
        ("lr", dict(policy="step", step=2.5), r"lr_config\.step"),
    ],
)
def test_what_mmcv_asserts_is_a_value_error_naming_the_key(kind, cfg, message):
    with pytest.raises(ValueError, match=message):
        build_schedule(cfg, kind=kind)


def test_cyclic_target_ratio_forms_and_gamma_ranges():
    """A float r is (r, r / 1e5), a 1-tuple the same; cyclic momentum takes any gamma (MMCV
    checks the lr's only)."""
    float_form = build_schedule(dict(policy="cyclic", target_ratio=5.0))
    assert float_form.options["target_ratio"] == (5.0, 5.0 / 1e5)
    assert build_schedule(dict(policy="cyclic", target_ratio=(5.0,))).options["target_ratio"] == (
        5.0,
        5.0 / 1e5,
    )
    # the end of the cycle: base * r / 1e5
    assert float_form.value(1.0, 0, 99, None, 100) == pytest.approx(annealing_cos(5.0, 5e-5, 59 / 60))
    assert build_schedule(dict(policy="cyclic", gamma=2.0), kind="momentum").options["gamma"] == 2.0
    mom = build_schedule(dict(policy="cyclic"), kind="momentum")
    assert mom.options["target_ratio"] == (0.85 / 0.95, 1.0) and mom.warmup_ratio == 0.9


def test_an_lr_built_momentum_schedule_is_read_as_momentum():
    """build.py builds momentum_config with build_schedule's default kind: the hook reads it
    again as momentum (warm-up ratio 0.9 by default, momentum's cyclic defaults)."""
    hook = LrUpdaterHook(None, build_schedule(dict(policy="cyclic")))
    assert hook.momentum_schedule.kind == "momentum"
    assert hook.momentum_schedule.options["target_ratio"] == (0.85 / 0.95, 1.0)
    with pytest.raises(ValueError, match="unknown momentum policy 'poly'"):
        LrUpdaterHook(None, build_schedule(dict(policy="poly")))


def _toy_runner(tmp_path, optimizer=None, **kw):
    model = Toy()
    return Runner(model, optimizer or _optimizer(model, "sgd"), tmp_path, **kw)


@pytest.mark.parametrize(
    ("lr_cfg", "mom_cfg", "runner_kw", "message"),
    [
        (
            dict(policy="OneCycle", max_lr=0.1, total_steps=8),
            None,
            dict(max_epochs=3),
            r"lr_config\.total_steps: must be at least the run's 12 iterations, got 8",
        ),
        (
            dict(policy="OneCycle", max_lr=0.1, total_steps=8),
            None,
            dict(max_iters=10),
            r"run's 10 iterations",
        ),
        (
            dict(policy="CosineRestart", periods=[5, 5], min_lr=0, restart_weights=[1, 1], by_epoch=False),
            None,
            dict(max_epochs=3),
            r"lr_config\.periods: they sum to 10 iterations, but the run has 12",
        ),
        (dict(policy="CosineRestart", periods=[2], min_lr=0), None, dict(max_epochs=3), r"sum to 2 epochs"),
        (dict(policy="cyclic", cyclic_times=20), None, dict(max_epochs=3), r"lr_config\.cyclic_times"),
        (
            dict(policy="poly"),
            None,
            dict(max_iters=10),
            r"by_epoch=True needs max_epochs.*set by_epoch=False",
        ),
        (
            dict(policy="OneCycle", max_lr=[0.1, 0.2, 0.3]),
            None,
            dict(max_epochs=3),
            r"lr_config\.max_lr: expected 2 values",
        ),
        (dict(policy="OneCycle", max_lr={"Adam": 0.1}), None, dict(max_epochs=3), r"no entry for 'SGD'"),
        (
            None,
            dict(policy="OneCycle", max_momentum=[0.9]),
            dict(max_epochs=3),
            r"momentum_config\.max_momentum",
        ),
    ],
)
def test_what_fails_only_with_the_run_fails_before_the_first_step(
    tmp_path, lr_cfg, mom_cfg, runner_kw, message
):
    runner = _toy_runner(tmp_path, **runner_kw)
    runner.register_hook(
        LrUpdaterHook(build_schedule(lr_cfg), build_schedule(mom_cfg, kind="momentum")), "VERY_HIGH"
    )
    stepped = []

    class Spy(Hook):
        def after_train_iter(self, runner):
            stepped.append(runner.iter)

    runner.register_hook(Spy())
    with pytest.raises(ValueError, match=message):
        runner.run({"train": _loader(4)})
    assert stepped == []


def test_one_cycle_momentum_needs_an_optimizer_with_momentum(tmp_path):
    model = Toy()
    runner = Runner(model, torch.optim.Adagrad(model.parameters(), lr=0.1), tmp_path, max_epochs=1)
    runner.register_hook(LrUpdaterHook(None, build_schedule(dict(policy="OneCycle"), kind="momentum")))
    with pytest.raises(
        ValueError, match="OneCycle policy needs an optimizer with momentum or betas.*Adagrad"
    ):
        runner.run({"train": _loader(2)})


def test_one_cycle_lr_does_not_touch_momentum_and_starts_from_max_lr_over_div_factor(tmp_path):
    """MMCV 1.7's OneCycleLrUpdaterHook sets only the lr (momentum is momentum_config's
    OneCycle); its base is max_lr / div_factor, whatever the optimizer's lr."""
    seen = rdet_run(tmp_path, dict(policy="OneCycle", max_lr=[1.0, 0.5], div_factor=4))
    assert [lr for lr, _ in seen[0][2]] == pytest.approx([0.25, 0.125])
    assert {m for _, _, s in seen for _, m in s} == {0.9}
    assert max(s[0][0] for _, _, s in seen) == pytest.approx(1.0, rel=0.05)  # the peak, near pct_start
