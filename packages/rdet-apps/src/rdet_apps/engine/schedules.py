"""Learning-rate and momentum schedules from MMRotate's ``lr_config`` / ``momentum_config``.

The policies and warm-ups of MMCV 1.x's updater hooks, as pure functions of the training
progress: ``policy`` ``step`` (``step`` an int or a list of epochs/iterations, ``gamma``,
``min_lr``), ``CosineAnnealing`` (``min_lr`` or ``min_lr_ratio``), ``poly`` (``power``,
``min_lr``), ``exp`` (``gamma``), ``fixed``, ``cyclic`` (``target_ratio``,
``cyclic_times``, ``step_ratio_up``); ``by_epoch`` (default True; cyclic: False); warm-up
``linear`` / ``exp`` / ``constant`` over ``warmup_iters`` iterations from ``warmup_ratio``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Schedule", "build_schedule"]

_POLICIES = ("step", "cosineannealing", "poly", "exp", "fixed", "cyclic", "inv")


def _cos(start: float, end: float, factor: float) -> float:
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * factor))


@dataclass
class Schedule:
    """A policy applied to base values (learning rates or momenta) at a point of training."""

    policy: str
    by_epoch: bool
    options: dict[str, Any]
    warmup: str | None = None
    warmup_iters: int = 0
    warmup_ratio: float = 0.1

    def regular(
        self, base: float, epoch: int, iteration: int, max_epochs: int | None, max_iters: int | None
    ) -> float:
        """The policy's value for ``base`` at 0-based ``epoch`` / global ``iteration``."""
        progress = epoch if self.by_epoch else iteration
        max_progress = max_epochs if self.by_epoch else max_iters
        o = self.options
        if self.policy == "fixed":
            return base
        if self.policy == "step":
            step = o["step"]
            exp = (
                progress // step
                if isinstance(step, int)
                else next((i for i, s in enumerate(step) if progress < s), len(step))
            )
            value = base * o.get("gamma", 0.1) ** exp
            return max(value, o["min_lr"]) if o.get("min_lr") is not None else value
        if self.policy == "exp":
            return base * o["gamma"] ** progress
        if self.policy == "inv":
            return base * (1 + o["gamma"] * progress) ** (-o["power"])
        if max_progress is None:
            raise ValueError(f"the {self.policy} policy needs max_epochs/max_iters")
        if self.policy == "poly":
            min_lr = o.get("min_lr", 0.0)
            return (base - min_lr) * (1 - progress / max_progress) ** o.get("power", 1.0) + min_lr
        if self.policy == "cosineannealing":
            target = base * o["min_lr_ratio"] if o.get("min_lr_ratio") is not None else o.get("min_lr", 0.0)
            return _cos(base, target, progress / max_progress)
        if self.policy == "cyclic":
            up_ratio, down_ratio = o.get("target_ratio", (10, 1e-4))
            cycles = o.get("cyclic_times", 1)
            length = max_progress // cycles
            up = int(o.get("step_ratio_up", 0.4) * length)
            pos = progress % length
            if pos < up:
                return _cos(base, base * up_ratio, pos / up)
            return _cos(base * up_ratio, base * down_ratio, (pos - up) / max(length - up, 1))
        raise AssertionError(self.policy)  # pragma: no cover

    def value(
        self, base: float, epoch: int, iteration: int, max_epochs: int | None, max_iters: int | None
    ) -> float:
        """The value with warm-up applied (warm-up counts global iterations)."""
        regular = self.regular(base, epoch, iteration, max_epochs, max_iters)
        if self.warmup is None or iteration >= self.warmup_iters:
            return regular
        if self.warmup == "constant":
            return regular * self.warmup_ratio
        if self.warmup == "linear":
            k = (1 - iteration / self.warmup_iters) * (1 - self.warmup_ratio)
            return regular * (1 - k)
        return regular * self.warmup_ratio ** (1 - iteration / self.warmup_iters)  # exp


def build_schedule(cfg: dict[str, Any] | None) -> Schedule | None:
    """``lr_config`` (or ``momentum_config``) -> a ``Schedule``; None for no schedule.

    Raises:
        ValueError: An unknown policy or warm-up, or a missing required option.
    """
    if cfg is None:
        return None
    o = dict(cfg)
    policy = str(o.pop("policy", "fixed"))
    key = policy.lower().replace("_", "")
    if key not in _POLICIES:
        raise ValueError(
            f"unknown lr policy {policy!r}; rdet knows step, CosineAnnealing, poly, exp, inv, fixed, cyclic"
        )
    if key == "step" and "step" not in o:
        raise ValueError("the step policy needs step=<int or list of epochs>")
    by_epoch = o.pop("by_epoch", key != "cyclic")
    warmup = o.pop("warmup", None)
    if warmup not in (None, "linear", "exp", "constant"):
        raise ValueError(f"warmup must be linear, exp or constant, got {warmup!r}")
    warmup_iters = int(o.pop("warmup_iters", 0))
    warmup_ratio = float(o.pop("warmup_ratio", 0.1))
    o.pop("warmup_by_epoch", None)
    if warmup is not None and warmup_iters <= 0:
        raise ValueError("warmup_iters must be positive when warmup is set")
    return Schedule(key, bool(by_epoch), o, warmup, warmup_iters, warmup_ratio)
