"""Small helpers shared by heads and detectors, and the loss checks the engine calls."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch

__all__ = ["NonFiniteLossError", "check_finite_losses", "multi_apply", "parse_losses", "to_config"]


def multi_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[list[Any], ...]:
    """Apply ``func`` to each element of zipped ``args``; transpose the results into lists."""
    pfunc = partial(func, **kwargs) if kwargs else func
    return tuple(map(list, zip(*map(pfunc, *args))))


def to_config(cfg: Mapping[str, Any] | None) -> Any:
    """A dict with attribute access (``cfg.assigner``), or None."""
    if cfg is None:
        return None
    from rdet_core.config import ConfigDict

    return cfg if isinstance(cfg, ConfigDict) else ConfigDict(dict(cfg))


def parse_losses(losses: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    """MMDetection's ``_parse_losses``: (total of every ``*loss*`` term, dict of floats for logging).

    A value may be a tensor (its mean is used) or a list of tensors (sum of their means,
    e.g. one per FPN level).
    """
    log_vars: dict[str, torch.Tensor] = OrderedDict()
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
        elif isinstance(value, (list, tuple)):
            log_vars[name] = sum(v.mean() for v in value)
        else:
            raise TypeError(f"{name} is not a tensor or a list of tensors (got {type(value).__name__})")
    total = sum(v for k, v in log_vars.items() if "loss" in k)
    if not isinstance(total, torch.Tensor):
        total = torch.zeros(())
    log_vars["loss"] = total
    return total, {k: float(v.detach().item()) for k, v in log_vars.items()}


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training must stop."""

    def __init__(self, message: str, iteration: int | None, terms: list[str]) -> None:
        super().__init__(message)
        self.iteration, self.terms = iteration, terms


def check_finite_losses(losses: Mapping[str, Any], iteration: int | None = None) -> None:
    """Raise :class:`NonFiniteLossError` naming the iteration and the loss terms that are NaN / inf.

    The engine calls it after each forward pass. ``losses`` maps names to tensors, lists of
    tensors (one per level: the message names the level) or floats. Common causes (MMRotate
    FAQ): zero-size or sub-pixel ground-truth boxes (after augmentation), a learning rate too
    high for the batch size (lengthen the warm-up), no gradient clipping
    (``optimizer_config.grad_clip=dict(max_norm=35, norm_type=2)``).
    """
    bad: list[str] = []
    for name, value in losses.items():
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for level, v in items:
            finite = bool(torch.isfinite(v).all()) if isinstance(v, torch.Tensor) else math.isfinite(float(v))
            if not finite:
                bad.append(name if level is None else f"{name}[level {level}]")
    if bad:
        where = f"iteration {iteration}" if iteration is not None else "this iteration"
        raise NonFiniteLossError(
            f"loss is NaN or infinite at {where}: {', '.join(bad)}. Training stopped. Check for "
            "zero-size or sub-pixel ground-truth boxes (after augmentation), lower the learning rate "
            "or lengthen the warm-up, or clip gradients (optimizer_config.grad_clip=dict(max_norm=35, "
            "norm_type=2)).",
            iteration,
            bad,
        )
