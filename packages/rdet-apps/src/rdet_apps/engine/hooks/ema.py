"""Exponential moving averages of the weights: MMCV's ``EMAHook`` and MMDetection 2.x's
``ExpMomentumEMAHook`` / ``LinearMomentumEMAHook``, with their state-dict naming.

As in MMCV, the averages live in the model as buffers named ``ema_<name with '.' replaced by
'_'>`` (``ema_backbone_conv1_weight``), so checkpoints carry them, and in epoch-based training the
weights and the averages swap places at the end of each epoch (the evaluation and a checkpoint
saved then see the averages; ``ema_*`` then holds the trained weights) and back at the start of
the next. The hooks run at priority 49 unless the config gives one (MMDetection's YOLOX configs
set 49; MMCV's default NORMAL would save the epoch's checkpoint before the swap), so a checkpoint
saved at an epoch's end holds the averaged weights under the model's own names, and ``rdet test`` / ``init_detector`` load those, leaving the
``ema_*`` buffers aside (MMCV's non-strict load ignores them the same way). Iteration-based runs
never swap, as MMCV's ``IterBasedRunner`` (which calls no ``before_train_epoch``) never does.

Resuming (``resume_from``) restores the averages with the weights; a checkpoint without them (a run
that had no EMA) starts them from its weights. ``load_from`` and a fresh start begin the averages
at the model's weights, as MMCV's ``before_run`` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = [
    "BaseEMAHook",
    "EMAHook",
    "ExpMomentumEMAHook",
    "LinearMomentumEMAHook",
    "ema_buffer_name",
    "fill_missing_ema",
    "strip_ema_buffers",
]

#: the model attribute where the hooks record {ema buffer name: the state key it averages}
_SOURCES = "_rdet_ema_sources"


def ema_buffer_name(name: str) -> str:
    """MMCV's name of the average of the state entry ``name``: ``ema_`` + ``name`` with dots
    replaced by underscores (a buffer name may hold no dot)."""
    return f"ema_{name.replace('.', '_')}"


def strip_ema_buffers(state_dict: Mapping[str, Any], model: nn.Module) -> tuple[dict[str, Any], list[str]]:
    """``state_dict`` without the EMA buffers of MMCV's / MMDetection's EMA hooks (``ema_<name>``
    for a ``name`` of ``model``'s state that ``model`` itself does not have), and the keys left
    out. What a checkpoint saved with an EMA hook holds beside the weights; the weights under the
    model's own names are what MMCV's test tools load."""
    own = unwrap(model).state_dict()
    names = {ema_buffer_name(k[7:] if k.startswith("module.") else k) for k in own}
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        bare = key[7:] if key.startswith("module.") else key
        if bare not in own and bare in names:
            dropped.append(key)
        else:
            kept[key] = value
    return kept, dropped


def fill_missing_ema(model: nn.Module, state_dict: dict[str, Any]) -> list[str]:
    """For resuming: add to ``state_dict`` (in place) each EMA buffer that ``model`` has (an EMA
    hook registered it) and the checkpoint lacks, as a copy of the weight it averages (a run
    without EMA, resumed with it, starts the averages at the resumed weights). Returns the keys
    added."""
    sources = getattr(unwrap(model), _SOURCES, {})
    prefix = "module." if state_dict and all(k.startswith("module.") for k in state_dict) else ""
    added = []
    for buffer, source in sources.items():
        if prefix + buffer not in state_dict and prefix + source in state_dict:
            state_dict[prefix + buffer] = state_dict[prefix + source].clone()
            added.append(buffer)
    return added


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _number(name: str, value: Any, low: float, high: float | None = None) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= low or (high is not None and value >= high):
        where = f"in ({low}, {high})" if high is not None else f"> {low}"
        raise ValueError(f"{name} must be a number {where}, got {value!r}")


class _EMA(Hook):
    """What MMCV's ``EMAHook`` and MMDetection's ``BaseEMAHook`` share: the buffers, their
    registration, the swaps. Subclasses say which entries are averaged (``_tracked``), when, and
    with which momentum (``after_train_iter``)."""

    #: a custom hook's priority when its config gives none. MMCV's NORMAL would run the swap after
    #: the CheckpointHook (NORMAL, registered first), so the epoch's checkpoint would hold the
    #: trained weights while the evaluation scored the averages; 49 (what MMDetection's YOLOX
    #: configs set) swaps first, so the checkpoint holds what was evaluated.
    default_priority = 49

    def __init__(self, momentum: float, interval: int, resume_from: str | None) -> None:
        self.interval = interval
        self.resume_from = resume_from  # build_runner resumes from it (MMCV: in before_run)
        self.tracked: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}

    def _tracked(self, model: nn.Module) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def attach(self, runner: RunnerView) -> None:
        """Register the ``ema_*`` buffers in the model (once; the runner calls this when the hook
        is registered, so that resuming finds them)."""
        model = unwrap(runner.model)
        owner = getattr(model, "_rdet_ema_owner", None)
        if owner is not None and owner is not self:
            raise ValueError(
                f"two EMA hooks ({type(owner).__name__}, {type(self).__name__}) on one model: their ema_* "
                "buffers would be the same; keep one"
            )
        model._rdet_ema_owner = self
        sources: dict[str, str] = getattr(model, _SOURCES, None) or {}
        own = set(sources)  # the buffers are not averaged themselves
        self.tracked = {k: v for k, v in self._tracked(model).items() if k not in own}
        for name, value in self.tracked.items():
            buffer = ema_buffer_name(name)
            if not hasattr(model, buffer):
                model.register_buffer(buffer, value.detach().clone())
            sources[buffer] = name
        setattr(model, _SOURCES, sources)
        named = dict(model.named_buffers())
        self.buffers = {name: named[ema_buffer_name(name)] for name in self.tracked}

    def before_run(self, runner: RunnerView) -> None:
        """Start the averages at the model's weights (after ``load_from``), unless training
        resumes (they were restored with the weights)."""
        if not self.tracked:
            self.attach(runner)
        if runner.iter == 0:
            for name, value in self.tracked.items():
                self.buffers[name].data.copy_(value.data)

    def _update(self, momentum: float, floating_only: bool) -> None:
        for name, value in self.tracked.items():
            if floating_only and not value.dtype.is_floating_point:
                continue
            self.buffers[name].mul_(1 - momentum).add_(value.data, alpha=momentum)

    def _swap(self, runner: RunnerView) -> None:
        if runner.max_epochs is None:  # MMCV's IterBasedRunner calls no before/after_train_epoch
            return
        for name, value in self.tracked.items():
            saved = value.data.clone()
            buffer = self.buffers[name]
            value.data.copy_(buffer.data)
            buffer.data.copy_(saved)

    def after_train_epoch(self, runner: RunnerView) -> None:
        """The averages into the weights, for the evaluation and the epoch's checkpoint."""
        self._swap(runner)

    def before_train_epoch(self, runner: RunnerView) -> None:
        """The trained weights back, after the last epoch's evaluation."""
        self._swap(runner)


@HOOKS.register_module()
class EMAHook(_EMA):
    """MMCV's ``EMAHook``: an exponential moving average of every parameter,
    ``ema = (1 - m) * ema + m * param`` with ``m = min(momentum ** interval, (1 + it) / (warm_up +
    it))`` at iteration ``it`` (0-based), every ``interval`` iterations (``it % interval == 0``).

    Args:
        momentum: In (0, 1). Default 0.0002.
        interval: Update every ``interval`` iterations.
        warm_up: The momentum is smaller over the first iterations (the formula above).
        resume_from: A checkpoint to resume training from (weights, averages, optimizer,
            epoch); wins over the config's ``resume_from``, as MMCV's hook resumes after it.
    """

    def __init__(
        self, momentum: float = 0.0002, interval: int = 1, warm_up: int = 100, resume_from: str | None = None
    ) -> None:
        self.check_args(momentum=momentum, interval=interval, warm_up=warm_up, resume_from=resume_from)
        super().__init__(momentum, interval, resume_from)
        self.warm_up = warm_up
        self.momentum = momentum**interval

    @staticmethod
    def check_args(
        momentum: float = 0.0002, interval: int = 1, warm_up: int = 100, resume_from: str | None = None
    ) -> None:
        """The arguments' values (MMCV asserts them).

        Raises:
            ValueError: ``momentum`` not in (0, 1), ``interval`` not a positive integer, ``warm_up``
                not > 0, ``resume_from`` not a path.
        """
        _number("EMAHook momentum", momentum, 0.0, 1.0)
        _positive_int("EMAHook interval", interval)
        _number("EMAHook warm_up", warm_up, 0.0)
        if resume_from is not None and not isinstance(resume_from, str):
            raise ValueError(f"EMAHook resume_from must be a checkpoint path or None, got {resume_from!r}")

    def _tracked(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return dict(model.named_parameters(recurse=True))

    def after_train_iter(self, runner: RunnerView) -> None:
        """Update the averages (MMCV's schedule)."""
        step = runner.iter
        momentum = min(self.momentum, (1 + step) / (self.warm_up + step))
        if step % self.interval != 0:
            return
        self._update(momentum, floating_only=False)


class BaseEMAHook(_EMA):
    """MMDetection 2.x's ``BaseEMAHook``: an exponential moving average of the whole state (or of
    the parameters with ``skip_buffers``), ``ema = (1 - m) * ema + m * value`` for floating-point
    entries, every ``interval`` iterations (``(it + 1) % interval == 0``), ``m`` from
    :meth:`momentum_at` (iteration ``it``, 0-based).

    Args:
        momentum: In (0, 1). Default 0.0002.
        interval: Update every ``interval`` iterations.
        skip_buffers: Average the parameters only, not the buffers (BatchNorm statistics).
        resume_from: As :class:`EMAHook`'s.
    """

    def __init__(
        self,
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        BaseEMAHook.check_args(momentum, interval, skip_buffers, resume_from)
        super().__init__(momentum, interval, resume_from)
        self.momentum = momentum
        self.skip_buffers = skip_buffers

    @staticmethod
    def check_args(
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        """The arguments' values.

        Raises:
            ValueError: ``momentum`` not in (0, 1), ``interval`` not a positive integer,
                ``skip_buffers`` not a bool, ``resume_from`` not a path.
        """
        _number("momentum", momentum, 0.0, 1.0)
        _positive_int("interval", interval)
        if not isinstance(skip_buffers, bool):
            raise ValueError(f"skip_buffers must be True or False, got {skip_buffers!r}")
        if resume_from is not None and not isinstance(resume_from, str):
            raise ValueError(f"resume_from must be a checkpoint path or None, got {resume_from!r}")

    def _tracked(self, model: nn.Module) -> dict[str, torch.Tensor]:
        if self.skip_buffers:
            return dict(model.named_parameters())
        return {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}

    def momentum_at(self, iteration: int) -> float:
        """The momentum at ``iteration`` (0-based): constant here."""
        return self.momentum

    def after_train_iter(self, runner: RunnerView) -> None:
        """Update the averages (MMDetection's schedule)."""
        if (runner.iter + 1) % self.interval != 0:
            return
        self._update(self.momentum_at(runner.iter), floating_only=True)


@HOOKS.register_module()
class ExpMomentumEMAHook(BaseEMAHook):
    """MMDetection's ``ExpMomentumEMAHook`` (YOLOX): momentum ``(1 - m) * exp(-(1 + it) /
    total_iter) + m``, from 1 down to ``momentum``.

    Args:
        total_iter: Iterations over which the momentum decays. Default 2000.
        **kwargs: :class:`BaseEMAHook`'s (``momentum``, ``interval``, ``skip_buffers``,
            ``resume_from``).
    """

    def __init__(
        self,
        total_iter: int = 2000,
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        self.check_args(total_iter, momentum, interval, skip_buffers, resume_from)
        super().__init__(momentum, interval, skip_buffers, resume_from)
        self.total_iter = total_iter

    @staticmethod
    def check_args(  # type: ignore[override]
        total_iter: int = 2000,
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        """The arguments' values.

        Raises:
            ValueError: ``total_iter`` not > 0, or a bad :class:`BaseEMAHook` argument.
        """
        _number("ExpMomentumEMAHook total_iter", total_iter, 0.0)
        BaseEMAHook.check_args(momentum, interval, skip_buffers, resume_from)

    def momentum_at(self, iteration: int) -> float:
        """``(1 - momentum) * exp(-(1 + it) / total_iter) + momentum``."""
        return (1 - self.momentum) * math.exp(-(1 + iteration) / self.total_iter) + self.momentum


@HOOKS.register_module()
class LinearMomentumEMAHook(BaseEMAHook):
    """MMDetection's ``LinearMomentumEMAHook``: momentum ``min(momentum ** interval, (1 + it) /
    (warm_up + it))``.

    Args:
        warm_up: The momentum is smaller over the first iterations. Default 100.
        **kwargs: :class:`BaseEMAHook`'s.
    """

    def __init__(
        self,
        warm_up: int = 100,
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        self.check_args(warm_up, momentum, interval, skip_buffers, resume_from)
        super().__init__(momentum, interval, skip_buffers, resume_from)
        self.warm_up = warm_up

    @staticmethod
    def check_args(  # type: ignore[override]
        warm_up: int = 100,
        momentum: float = 0.0002,
        interval: int = 1,
        skip_buffers: bool = False,
        resume_from: str | None = None,
    ) -> None:
        """The arguments' values.

        Raises:
            ValueError: ``warm_up`` not > 0, or a bad :class:`BaseEMAHook` argument.
        """
        _number("LinearMomentumEMAHook warm_up", warm_up, 0.0)
        BaseEMAHook.check_args(momentum, interval, skip_buffers, resume_from)

    def momentum_at(self, iteration: int) -> float:
        """``min(momentum ** interval, (1 + it) / (warm_up + it))``."""
        return min(self.momentum**self.interval, (1 + iteration) / (self.warm_up + iteration))
