"""Learning-rate and momentum schedules from MMRotate's ``lr_config`` / ``momentum_config``.

MMCV 1.7's updater hooks (``mmcv/runner/hooks/lr_updater.py``, ``momentum_updater.py``) as
pure functions of the training progress, with their arguments and defaults. ``policy`` is
matched without case or underscores (MMCV wants ``'cyclic'`` or ``'CosineAnnealing'``).

``lr_config`` policies and their arguments (beside the common ``by_epoch=True``, ``warmup``,
``warmup_iters=0``, ``warmup_ratio=0.1``, ``warmup_by_epoch=False``):

- ``fixed``; ``step`` (``step`` an int or list, ``gamma=0.1``, ``min_lr=None``); ``exp``
  (``gamma``); ``poly`` (``power=1.0``, ``min_lr=0.0``); ``inv`` (``gamma``, ``power=1.0``);
- ``CosineAnnealing`` and ``LinearAnnealing`` (exactly one of ``min_lr`` / ``min_lr_ratio``);
  ``FlatCosineAnnealing`` (``start_percent=0.75``, ``min_lr`` / ``min_lr_ratio``);
  ``CosineRestart`` (``periods``, ``restart_weights=[1]``, ``min_lr`` / ``min_lr_ratio``);
- ``cyclic`` (``by_epoch=False`` only; ``target_ratio=(10, 1e-4)``, a float ``r`` meaning
  ``(r, r / 1e5)``; ``cyclic_times=1``, ``step_ratio_up=0.4``, ``anneal_strategy='cos'`` or
  ``'linear'``, ``gamma=1``: each later cycle's peak is scaled by ``gamma ** cycle``);
- ``OneCycle`` (``by_epoch=False`` only; ``max_lr`` a number, a list per parameter group or a
  dict by optimizer class name, ``total_steps=None`` (the run's iterations), ``pct_start=0.3``,
  ``anneal_strategy='cos'``, ``div_factor=25``, ``final_div_factor=1e4``,
  ``three_phase=False``). Its base learning rate is ``max_lr / div_factor``, not the
  optimizer's ``lr``. As in MMCV it does not touch momentum: that is ``momentum_config``'s
  ``OneCycle``.

``momentum_config`` policies (common keys ``by_epoch=True``, ``warmup``, ``warmup_iters=0``,
``warmup_ratio=0.9``; no ``warmup_by_epoch``): ``step`` (``step``, ``gamma=0.5``,
``min_momentum=None``), ``CosineAnnealing`` and ``LinearAnnealing`` (``min_momentum`` /
``min_momentum_ratio``), ``cyclic`` (``target_ratio=(0.85 / 0.95, 1)``, the rest as the lr's),
``OneCycle`` (``base_momentum=0.85``, ``max_momentum=0.95``, each a number, list or dict;
``pct_start=0.3``, ``anneal_strategy='cos'``, ``three_phase=False``; it sets every group's
momentum, or Adam's beta1, to ``max_momentum`` at the start and needs an optimizer with one).

Warm-up (global iterations, or epochs with ``warmup_by_epoch``) scales the regular value: the
learning rate is multiplied (``constant``: ``ratio``; ``linear``: ``1 - (1 - i / n) * (1 -
ratio)``; ``exp``: ``ratio ** (1 - i / n)``), momentum divided by the same factor.

Iteration-based policies (``by_epoch=False``) under an epoch-based run count the run's
iterations as MMCV's ``EpochBasedRunner`` does: ``max_epochs * len(train loader)`` (the hook
passes it in). A key that the policy does not take is a ``ConfigKeyError`` naming it and the
policy; what MMCV asserts (both or neither of ``min_lr`` / ``min_lr_ratio``, cyclic with
``by_epoch=True`` ...) is a ``ValueError`` naming the key.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rdet_apps.cfg_options import ConfigKeyError  # a KeyError, the config checks' own

__all__ = [
    "LR_POLICIES",
    "MOMENTUM_POLICIES",
    "Schedule",
    "annealing_cos",
    "annealing_linear",
    "build_schedule",
]

_REQUIRED = object()  # a policy argument without a default


def annealing_cos(start: float, end: float, factor: float, weight: float = 1.0) -> float:
    """MMCV's ``annealing_cos``: cosine from ``weight * start + (1 - weight) * end`` (factor 0)
    to ``end`` (factor 1)."""
    cos_out = math.cos(math.pi * factor) + 1
    return end + 0.5 * weight * (start - end) * cos_out


def annealing_linear(start: float, end: float, factor: float) -> float:
    """MMCV's ``annealing_linear``: from ``start`` (factor 0) to ``end`` (factor 1)."""
    return start + (end - start) * factor


_ANNEAL: dict[str, Callable[[float, float, float], float]] = {
    "cos": annealing_cos,
    "linear": annealing_linear,
}

# MMCV's policy names, by the key rdet matches them on (lower case, no underscores)
_NAMES = {
    "fixed": "Fixed",
    "step": "Step",
    "exp": "Exp",
    "poly": "Poly",
    "inv": "Inv",
    "cosineannealing": "CosineAnnealing",
    "flatcosineannealing": "FlatCosineAnnealing",
    "cosinerestart": "CosineRestart",
    "cyclic": "Cyclic",
    "onecycle": "OneCycle",
    "linearannealing": "LinearAnnealing",
}

#: ``lr_config``: each policy's own arguments and their defaults (MMCV 1.7's ``*LrUpdaterHook``)
LR_POLICIES: dict[str, dict[str, Any]] = {
    "fixed": {},
    "step": {"step": _REQUIRED, "gamma": 0.1, "min_lr": None},
    "exp": {"gamma": _REQUIRED},
    "poly": {"power": 1.0, "min_lr": 0.0},
    "inv": {"gamma": _REQUIRED, "power": 1.0},
    "cosineannealing": {"min_lr": None, "min_lr_ratio": None},
    "flatcosineannealing": {"start_percent": 0.75, "min_lr": None, "min_lr_ratio": None},
    "cosinerestart": {"periods": _REQUIRED, "restart_weights": [1], "min_lr": None, "min_lr_ratio": None},
    "cyclic": {
        "target_ratio": (10, 1e-4),
        "cyclic_times": 1,
        "step_ratio_up": 0.4,
        "anneal_strategy": "cos",
        "gamma": 1,
    },
    "onecycle": {
        "max_lr": _REQUIRED,
        "total_steps": None,
        "pct_start": 0.3,
        "anneal_strategy": "cos",
        "div_factor": 25,
        "final_div_factor": 1e4,
        "three_phase": False,
    },
    "linearannealing": {"min_lr": None, "min_lr_ratio": None},
}
#: ``momentum_config``: MMCV 1.7's ``*MomentumUpdaterHook`` (only these five exist)
MOMENTUM_POLICIES: dict[str, dict[str, Any]] = {
    "step": {"step": _REQUIRED, "gamma": 0.5, "min_momentum": None},
    "cosineannealing": {"min_momentum": None, "min_momentum_ratio": None},
    "linearannealing": {"min_momentum": None, "min_momentum_ratio": None},
    "cyclic": {
        "target_ratio": (0.85 / 0.95, 1.0),
        "cyclic_times": 1,
        "step_ratio_up": 0.4,
        "anneal_strategy": "cos",
        "gamma": 1.0,
    },
    "onecycle": {
        "base_momentum": 0.85,
        "max_momentum": 0.95,
        "pct_start": 0.3,
        "anneal_strategy": "cos",
        "three_phase": False,
    },
}
# the updater base classes' arguments, and which policies only run by iteration
_COMMON = {
    "lr": {
        "by_epoch": True,
        "warmup": None,
        "warmup_iters": 0,
        "warmup_ratio": 0.1,
        "warmup_by_epoch": False,
    },
    "momentum": {"by_epoch": True, "warmup": None, "warmup_iters": 0, "warmup_ratio": 0.9},
}
_ITER_ONLY = ("cyclic", "onecycle")
_SECTION = {"lr": "lr_config", "momentum": "momentum_config"}
_FLOOR = {"lr": ("min_lr", "min_lr_ratio"), "momentum": ("min_momentum", "min_momentum_ratio")}


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def per_group(name: str, value: Any, n_groups: int, optimizer_name: str) -> list[Any]:
    """MMCV's ``format_param``: a number for every group, a list (one per group), or a dict by
    optimizer class name (MMCV's several-optimizer form; here the one optimizer's entry)."""
    if isinstance(value, Mapping):
        if optimizer_name not in value:
            raise ValueError(
                f"{name}: a dict by optimizer class name has no entry for {optimizer_name!r} "
                f"(its keys: {', '.join(map(str, value))})"
            )
        value = value[optimizer_name]
    if _is_real(value):
        return [value] * n_groups
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(
                f"{name}: expected {n_groups} values (one per parameter group), got {len(value)}"
            )
        return list(value)
    raise ValueError(f"{name}: expected a number, a list or a dict, got {value!r}")


@dataclass
class Schedule:
    """One ``lr_config`` or ``momentum_config``: its policy applied to base values (a parameter
    group's initial learning rate or momentum) at a point of training.

    Attributes:
        policy: The policy's key (``'step'``, ``'cosineannealing'``, ``'onecycle'`` ...).
        by_epoch: The policy counts epochs (else global iterations).
        options: The policy's arguments, defaults filled in (``target_ratio`` as a pair).
        warmup / warmup_iters / warmup_ratio: The warm-up (``warmup_iters`` counts epochs when
            ``warmup_by_epoch``).
        kind: ``'lr'`` or ``'momentum'`` (warm-up multiplies a learning rate, divides a momentum).
        config: The config it was built from (without defaults).
    """

    policy: str
    by_epoch: bool
    options: dict[str, Any]
    warmup: str | None = None
    warmup_iters: int = 0
    warmup_ratio: float = 0.1
    kind: str = "lr"
    warmup_by_epoch: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def section(self) -> str:
        return _SECTION[self.kind]

    @property
    def name(self) -> str:
        """MMCV's name of the policy (``'CosineAnnealing'``)."""
        return _NAMES[self.policy]

    # -- per-group bases (MMCV's before_run) -------------------------------------------------

    def group_bases(self, current: Sequence[Any], optimizer_name: str) -> list[Any]:
        """The base value of each parameter group. ``current``: the groups' initial values
        (``initial_lr`` / ``initial_momentum``), which every policy but ``OneCycle`` anneals;
        ``OneCycle`` lr: ``max_lr / div_factor``; ``OneCycle`` momentum: ``(base_momentum,
        max_momentum)`` pairs."""
        if self.policy != "onecycle":
            return list(current)
        o, n = self.options, len(current)
        if self.kind == "lr":
            return [
                lr / o["div_factor"]
                for lr in per_group(f"{self.section}.max_lr", o["max_lr"], n, optimizer_name)
            ]
        low = per_group(f"{self.section}.base_momentum", o["base_momentum"], n, optimizer_name)
        high = per_group(f"{self.section}.max_momentum", o["max_momentum"], n, optimizer_name)
        return list(zip(low, high))

    def warmup_length(self, iters_per_epoch: int | None = None) -> int:
        """Warm-up iterations: ``warmup_iters``, or ``warmup_iters`` epochs of
        ``iters_per_epoch`` (the first training epoch's loader length, as MMCV) with
        ``warmup_by_epoch``."""
        if not self.warmup_by_epoch:
            return self.warmup_iters
        if iters_per_epoch is None:
            raise ValueError(f"{self.section}.warmup_by_epoch needs the number of iterations per epoch")
        return self.warmup_iters * iters_per_epoch

    def check_run(self, max_epochs: int | None, max_iters: int | None) -> None:
        """Fail before training on what MMCV would fail on during it (or in ``before_run``).

        Raises:
            ValueError: A ``by_epoch`` policy that needs ``max_epochs`` in an iteration-based
                run; ``OneCycle``'s ``total_steps`` under the run's iterations; fewer iterations
                than ``cyclic_times``; ``CosineRestart``'s periods ending before the run.
        """
        o, s = self.options, self.section
        if (
            self.by_epoch
            and max_epochs is None
            and self.policy in ("poly", "cosineannealing", "flatcosineannealing", "linearannealing")
        ):
            raise ValueError(
                f"{s}: the {self.name} policy with by_epoch=True needs max_epochs, and an "
                "IterBasedRunner has none; set by_epoch=False"
            )
        if max_iters is None:
            return
        total = o["total_steps"] if self.policy == "onecycle" and self.kind == "lr" else None
        if total is not None and total < max_iters:
            raise ValueError(
                f"{s}.total_steps: must be at least the run's {max_iters} iterations, got {o['total_steps']}"
            )
        if self.policy == "cyclic" and max_iters // o["cyclic_times"] == 0:
            raise ValueError(
                f"{s}.cyclic_times: {o['cyclic_times']} cycles do not fit in the run's {max_iters} iterations"
            )
        if self.policy == "cosinerestart":
            length = max_epochs if self.by_epoch else max_iters
            if length is not None and sum(o["periods"]) < length:
                unit = "epochs" if self.by_epoch else "iterations"
                raise ValueError(
                    f"{s}.periods: they sum to {sum(o['periods'])} {unit}, but the run has {length}; "
                    "MMCV fails when the progress passes the last period"
                )

    # -- values ------------------------------------------------------------------------------

    def regular(
        self, base: Any, epoch: int, iteration: int, max_epochs: int | None, max_iters: int | None
    ) -> float:
        """The policy's value for ``base`` at 0-based ``epoch`` / global ``iteration`` (MMCV's
        ``get_lr`` / ``get_momentum``)."""
        o, p = self.options, self.policy
        progress = epoch if self.by_epoch else iteration
        if p == "fixed":
            return base
        if p == "step":
            step = o["step"]
            if isinstance(step, int):
                exp = progress // step
            else:
                exp = len(step)
                for i, s in enumerate(step):
                    if progress < s:
                        exp = i
                        break
            value = base * o["gamma"] ** exp
            floor = o["min_lr" if self.kind == "lr" else "min_momentum"]
            return max(value, floor) if floor is not None else value
        if p == "exp":
            return base * o["gamma"] ** progress
        if p == "inv":
            return base * (1 + o["gamma"] * progress) ** (-o["power"])
        if p == "cosinerestart":
            return self._cosine_restart(base, progress)
        max_progress = max_epochs if self.by_epoch else max_iters
        if max_progress is None:
            unit = "max_epochs" if self.by_epoch else "max_iters"
            raise ValueError(f"{self.section}: the {self.name} policy needs the run's {unit}")
        if p == "poly":
            coeff = (1 - progress / max_progress) ** o["power"]
            return (base - o["min_lr"]) * coeff + o["min_lr"]
        if p in ("cosineannealing", "linearannealing"):
            anneal = annealing_cos if p == "cosineannealing" else annealing_linear
            return anneal(base, self._target(base), progress / max_progress)
        if p == "flatcosineannealing":
            start = round(max_progress * o["start_percent"])
            if progress - start < 0:
                return base
            return annealing_cos(base, self._target(base), (progress - start) / (max_progress - start))
        assert max_iters is not None  # cyclic and OneCycle are iteration-based
        if p == "cyclic":
            return self._cyclic(base, iteration, max_iters)
        if p == "onecycle":
            return self._one_cycle(base, iteration, max_iters)
        raise AssertionError(p)  # pragma: no cover

    def _target(self, base: float) -> float:
        absolute, ratio = (self.options[k] for k in _FLOOR[self.kind])
        return base * ratio if ratio is not None else absolute

    def _cosine_restart(self, base: float, progress: int) -> float:
        o = self.options
        cumulative = [sum(o["periods"][: i + 1]) for i in range(len(o["periods"]))]
        idx = next((i for i, end in enumerate(cumulative) if progress < end), None)
        if idx is None:
            raise ValueError(
                f"{self.section}.periods: progress {progress} is past the last period (cumulative {cumulative})"
            )
        nearest_restart = 0 if idx == 0 else cumulative[idx - 1]
        alpha = min((progress - nearest_restart) / o["periods"][idx], 1)
        return annealing_cos(base, self._target(base), alpha, o["restart_weights"][idx])

    def _cyclic(self, base: float, iteration: int, max_iters: int) -> float:
        o = self.options
        anneal = _ANNEAL[o["anneal_strategy"]]
        up_ratio, down_ratio = o["target_ratio"]
        max_iter_per_phase = max_iters // o["cyclic_times"]
        iter_up_phase = int(o["step_ratio_up"] * max_iter_per_phase)
        phases = [(0, iter_up_phase, 1, up_ratio), (iter_up_phase, max_iter_per_phase, up_ratio, down_ratio)]
        curr_iter = iteration % max_iter_per_phase
        scale = o["gamma"] ** (iteration // max_iter_per_phase)
        for start_iter, end_iter, start_ratio, end_ratio in phases:
            if start_iter <= curr_iter < end_iter:
                # each later cycle's peak: base + scale * (peak - base), as MMCV
                if start_iter == 0:
                    end_ratio = 1 - scale + end_ratio * scale
                else:
                    start_ratio = 1 - scale + start_ratio * scale
                progress = curr_iter - start_iter
                return anneal(base * start_ratio, base * end_ratio, progress / (end_iter - start_iter))
        raise AssertionError("the cyclic phases cover every iteration")  # pragma: no cover

    def _one_cycle(self, base: Any, iteration: int, max_iters: int) -> float:
        o = self.options
        anneal = _ANNEAL[o["anneal_strategy"]]
        pct = o["pct_start"]
        if self.kind == "lr":
            total = o["total_steps"] if o["total_steps"] is not None else max_iters
            div, final = o["div_factor"], 1 / o["final_div_factor"]
            phases = [(float(pct * total) - 1, 1, div)]
            if o["three_phase"]:
                phases += [(float(2 * pct * total) - 2, div, 1), (total - 1, 1, final)]
            else:
                phases += [(total - 1, div, final)]
            start_iter: float = 0
            for end_iter, start_lr, end_lr in phases:
                if iteration <= end_iter:
                    frac = self._fraction(iteration - start_iter, end_iter - start_iter)
                    return anneal(base * start_lr, base * end_lr, frac)
                start_iter = end_iter
            raise ValueError(f"{self.section}: iteration {iteration} is past OneCycle's total_steps {total}")
        low, high = base  # momentum: (base_momentum, max_momentum) of the group
        ends = [(float(pct * max_iters) - 1, high, low)]
        if o["three_phase"]:
            ends += [(float(2 * pct * max_iters) - 2, low, high), (max_iters - 1, high, high)]
        else:
            ends += [(max_iters - 1, low, high)]
        start_iter = 0
        for i, (end_iter, start_m, end_m) in enumerate(ends):
            if iteration <= end_iter or i == len(ends) - 1:
                return anneal(start_m, end_m, self._fraction(iteration - start_iter, end_iter - start_iter))
            start_iter = end_iter
        raise AssertionError("the last OneCycle phase takes every later iteration")  # pragma: no cover

    def _fraction(self, done: float, length: float) -> float:
        if length == 0:
            raise ValueError(
                f"{self.section}.pct_start: pct_start * steps = 1 leaves a OneCycle phase of no length "
                "(MMCV divides by zero)"
            )
        return done / length

    def value(
        self,
        base: Any,
        epoch: int,
        iteration: int,
        max_epochs: int | None,
        max_iters: int | None,
        iters_per_epoch: int | None = None,
    ) -> float:
        """The value with warm-up applied (warm-up counts global iterations; with
        ``warmup_by_epoch`` its epochs are ``iters_per_epoch`` iterations each)."""
        regular = self.regular(base, epoch, iteration, max_epochs, max_iters)
        if self.warmup is None:
            return regular
        length = self.warmup_length(iters_per_epoch)
        if iteration >= length:
            return regular
        if self.kind == "lr":  # MMCV: k = (1 - i / n) * (1 - ratio); lr * (1 - k) ...
            if self.warmup == "constant":
                return regular * self.warmup_ratio
            if self.warmup == "linear":
                return regular * (1 - (1 - iteration / length) * (1 - self.warmup_ratio))
            return regular * self.warmup_ratio ** (1 - iteration / length)
        if self.warmup == "constant":  # momentum: the same factors, divided
            return regular / self.warmup_ratio
        if self.warmup == "linear":
            return regular / (1 - (1 - iteration / length) * (1 - self.warmup_ratio))
        return regular / self.warmup_ratio ** (1 - iteration / length)

    def as_kind(self, kind: str) -> Schedule:
        """The same config read as a ``kind`` (``'lr'`` / ``'momentum'``) schedule."""
        return self if kind == self.kind else build_schedule(self.config, kind=kind)


# -- building and checking --------------------------------------------------------------------


def _key_error(section: str, key: Any, policy: str, kind: str, allowed: Sequence[str]) -> Exception:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {section}.{close[0]}?)" if close else ""
    return ConfigKeyError(
        f"{section}.{key}: not an argument of the {policy} {kind} policy{hint}; "
        f"its keys: {', '.join(sorted(allowed))}"
    )


def _number(
    section: str,
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if not _is_real(value):
        raise ValueError(f"{section}.{key}: expected a number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{section}.{key}: must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{section}.{key}: must be {'<' if high_open else '<='} {high}, got {value!r}")


def _positive_int(section: str, key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{section}.{key}: expected a positive integer, got {value!r}")


def _check_options(section: str, policy: str, kind: str, o: dict[str, Any]) -> None:
    """MMCV's asserts and type checks of each policy's arguments, as ValueErrors naming the key;
    normalises ``target_ratio`` to a pair."""
    name = _NAMES[policy]
    if policy == "step":
        step = o["step"]
        if isinstance(step, (list, tuple)):
            if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in step):
                raise ValueError(f"{section}.step: expected positive integers, got {step!r}")
            o["step"] = list(step)
        else:
            _positive_int(section, "step", step)
    floor = _FLOOR[kind]
    if policy in ("cosineannealing", "linearannealing", "flatcosineannealing", "cosinerestart"):
        given = [k for k in floor if o[k] is not None]
        if len(given) != 1:
            what = "both" if given else "neither"
            raise ValueError(
                f"{section}: the {name} policy takes exactly one of {floor[0]} and {floor[1]}, got {what}"
            )
        _number(section, given[0], o[given[0]])
    if policy == "flatcosineannealing":
        _number(section, "start_percent", o["start_percent"], 0, 1)
    if policy == "cosinerestart":
        periods, weights = o["periods"], o["restart_weights"]
        if (
            not isinstance(periods, (list, tuple))
            or not periods
            or not all(_is_real(p) and p > 0 for p in periods)
        ):
            raise ValueError(
                f"{section}.periods: expected a list of positive period lengths, got {periods!r}"
            )
        if not isinstance(weights, (list, tuple)) or len(weights) != len(periods):
            raise ValueError(
                f"{section}.restart_weights: periods and restart_weights should have the same length, "
                f"got {periods!r} and {weights!r}"
            )
        o["periods"], o["restart_weights"] = list(periods), list(weights)
    if policy in ("cyclic", "onecycle") and o["anneal_strategy"] not in _ANNEAL:
        raise ValueError(
            f"{section}.anneal_strategy: must be 'cos' or 'linear', got {o['anneal_strategy']!r}"
        )
    if policy == "cyclic":
        ratio = o["target_ratio"]
        if _is_real(ratio):  # MMCV: a float r is (r, r / 1e5)
            ratio = (ratio, ratio / 1e5)
        elif isinstance(ratio, (list, tuple)) and len(ratio) == 1:
            ratio = (ratio[0], ratio[0] / 1e5)
        if not isinstance(ratio, (list, tuple)) or len(ratio) != 2 or not all(map(_is_real, ratio)):
            raise ValueError(
                f"{section}.target_ratio: expected a number or a tuple of one or two numbers, got {o['target_ratio']!r}"
            )
        o["target_ratio"] = (ratio[0], ratio[1])
        _positive_int(section, "cyclic_times", o["cyclic_times"])
        _number(section, "step_ratio_up", o["step_ratio_up"], 0, 1, high_open=True)
        if kind == "lr":
            _number(section, "gamma", o["gamma"], 0, 1, low_open=True)
        else:  # MMCV's cyclic momentum does not check gamma's range
            _number(section, "gamma", o["gamma"])
    if policy == "onecycle":
        _number(section, "pct_start", o["pct_start"], 0, 1)
        if not isinstance(o["three_phase"], bool):
            raise ValueError(f"{section}.three_phase: expected True or False, got {o['three_phase']!r}")
        values = ("max_lr",) if kind == "lr" else ("base_momentum", "max_momentum")
        for key in values:
            if not (_is_real(o[key]) or isinstance(o[key], (list, tuple, Mapping))):
                raise ValueError(f"{section}.{key}: expected a number, a list or a dict, got {o[key]!r}")
        if kind == "lr":
            if o["total_steps"] is not None:
                _positive_int(section, "total_steps", o["total_steps"])
            _number(section, "div_factor", o["div_factor"], 0, low_open=True)
            _number(section, "final_div_factor", o["final_div_factor"], 0, low_open=True)
    for key in ("gamma", "power", "min_lr", "min_momentum"):  # cyclic's gamma: checked above
        if o.get(key) is not None:
            _number(section, key, o[key])


def build_schedule(cfg: Mapping[str, Any] | None, kind: str = "lr") -> Schedule | None:
    """``lr_config`` (``kind='lr'``) or ``momentum_config`` (``kind='momentum'``) -> a
    ``Schedule``; None for no schedule. Without ``policy``: ``fixed``.

    Raises:
        ConfigKeyError: A key the policy does not take (a ``KeyError``, naming key and policy).
        ValueError: An unknown policy or warm-up, a missing required argument, or a value MMCV
            refuses (named by its key).
    """
    if cfg is None:
        return None
    if kind not in _SECTION:
        raise ValueError(f"kind must be 'lr' or 'momentum', got {kind!r}")
    section = _SECTION[kind]
    policies = LR_POLICIES if kind == "lr" else MOMENTUM_POLICIES
    config = dict(cfg)
    o = dict(config)
    given = str(o.pop("policy", "fixed"))
    policy = given.lower().replace("_", "")
    if policy not in policies:
        known = ", ".join(_NAMES[p] for p in policies)
        raise ValueError(
            f"unknown {kind} policy {given!r} ({section}.policy); MMCV's {kind} policies: {known}"
        )
    own, common = policies[policy], _COMMON[kind]
    allowed = [*common, *own]
    for key in o:
        if key not in allowed:
            raise _key_error(section, key, given, kind, allowed)
    for key, default in own.items():
        if default is _REQUIRED and key not in o:
            hint = " (an int or a list of epochs/iterations)" if key == "step" else ""
            raise ValueError(f"{section}: the {given} policy needs {key}=...{hint}")
    by_epoch = o.pop("by_epoch", policy not in _ITER_ONLY)
    if not isinstance(by_epoch, bool):
        raise ValueError(f"{section}.by_epoch: expected True or False, got {by_epoch!r}")
    if policy in _ITER_ONLY and by_epoch:
        raise ValueError(f"{section}.by_epoch: the {given} policy only supports by_epoch=False (MMCV)")
    warmup = o.pop("warmup", None)
    warmup_iters = o.pop("warmup_iters", 0)
    warmup_ratio = o.pop("warmup_ratio", common["warmup_ratio"])
    warmup_by_epoch = o.pop("warmup_by_epoch", False)
    if warmup not in (None, "linear", "exp", "constant"):
        raise ValueError(f"{section}.warmup: must be None, 'constant', 'linear' or 'exp', got {warmup!r}")
    if not isinstance(warmup_by_epoch, bool):
        raise ValueError(f"{section}.warmup_by_epoch: expected True or False, got {warmup_by_epoch!r}")
    if not _is_real(warmup_iters) or warmup_iters != int(warmup_iters):
        raise ValueError(f"{section}.warmup_iters: expected an integer, got {warmup_iters!r}")
    if warmup is not None:
        if warmup_iters <= 0:
            raise ValueError(
                f"{section}.warmup_iters: must be a positive integer when warmup is set, got {warmup_iters!r}"
            )
        _number(section, "warmup_ratio", warmup_ratio, 0, 1, low_open=True)
    options = {k: o.get(k, d) for k, d in own.items()}
    _check_options(section, policy, kind, options)
    return Schedule(
        policy=policy,
        by_epoch=by_epoch,
        options=options,
        warmup=warmup,
        warmup_iters=int(warmup_iters),
        warmup_ratio=float(warmup_ratio),
        kind=kind,
        warmup_by_epoch=warmup_by_epoch,
        config=config,
    )
