"""``WeightedLoss``: MMDetection's loss calling convention, written once.

Every loss module is called as ``loss(pred, target, weight=None, avg_factor=None,
reduction_override=None, **extra)`` and returns ``loss_weight`` times the weighted, reduced
loss. This base class owns that convention:

- ``reduction`` (constructor) and ``reduction_override`` (call) must be 'none', 'mean' or
  'sum' (the override may also be None); anything else is a ``ValueError`` naming the argument;
- ``weight`` multiplies the element-wise loss (torch broadcasting, as MMDetection's
  ``weight_reduce_loss``; :meth:`WeightedLoss.broadcast_weight` may reshape it first);
- ``avg_factor`` with 'mean' divides the sum by ``avg_factor + eps`` (float32 eps, exactly as
  MMDetection); with 'sum' it is a ``ValueError``;
- a keyword argument the loss does not know is a ``TypeError`` naming it (it used to be
  dropped silently by some losses); a loss lists its own in :attr:`WeightedLoss.extra_kwargs`.

A subclass implements :meth:`WeightedLoss.elementwise` (the unweighted, unreduced term), or,
when its weights or ``avg_factor`` depend on the targets (cross-entropy's ignored labels),
:meth:`WeightedLoss.compute`. Under autocast a loss runs in float32 (``forward`` is
:func:`rdet_models.precision.float32_forward`: MMCV's ``force_fp32``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from rdet_models.losses.utils import weight_reduce_loss
from rdet_models.precision import float32_forward

__all__ = ["REDUCTIONS", "WeightedLoss", "check_reduction", "function_kwargs"]

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(value: object, argument: str, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``value`` is 'none', 'mean' or 'sum' (or None)."""
    if (value is None and allow_none) or (isinstance(value, str) and value in REDUCTIONS):
        return
    allowed = ("None, " if allow_none else "") + "'none', 'mean' or 'sum'"
    raise ValueError(f"{argument} must be {allowed}, got {value!r}")


def function_kwargs(fn: Callable[..., Any], exclude: Iterable[str]) -> frozenset[str]:
    """The keyword parameters of ``fn`` (through ``functools.wraps``) other than ``exclude``."""
    params = inspect.signature(fn).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in params if p.kind in kinds) - frozenset(exclude)


def _mean_box_weight(weight: torch.Tensor | None, pred: torch.Tensor) -> torch.Tensor | None:
    """MMRotate's box losses: a (N, 5) weight becomes its per-box mean (N,)."""
    if weight is None or weight.dim() <= 1:
        return weight
    if weight.shape != pred.shape:
        raise ValueError(f"weight {tuple(weight.shape)} must match pred {tuple(pred.shape)}")
    return weight.mean(-1)


class WeightedLoss(nn.Module):
    """Base of the losses: ``reduction``, ``loss_weight``, ``weight``, ``avg_factor``, kwargs.

    Args:
        reduction: 'none', 'mean' or 'sum', used when a call gives no ``reduction_override``.
        loss_weight: Multiplies the result.

    Class attributes a subclass may set:
        extra_kwargs: Keyword arguments ``forward`` accepts besides ``weight``, ``avg_factor``
            and ``reduction_override``; they are passed on to :meth:`compute` (and from there
            to :meth:`elementwise`). Override :meth:`accepted_kwargs` when they depend on the
            instance.
        box_weight: MMRotate's box-regression losses (one loss per box): a (N, 5) weight is
            averaged to (N,), and when no weight is positive the result is ``(pred *
            weight).sum()``, a zero that keeps the graph (unless the reduction is 'none').
        reduces: False for a loss that returns its per-sample terms whatever the reduction
            (``GDLoss_v1``, as MMRotate); ``avg_factor`` with 'sum' is then not an error.
    """

    extra_kwargs: ClassVar[frozenset[str]] = frozenset()
    box_weight: ClassVar[bool] = False
    reduces: ClassVar[bool] = True

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        check_reduction(reduction, "reduction")
        self.reduction = reduction
        self.loss_weight = loss_weight

    # -- the calling convention ---------------------------------------------------------------

    def accepted_kwargs(self) -> frozenset[str]:
        """The extra keyword arguments this instance's ``forward`` accepts."""
        return self.extra_kwargs

    def check_kwargs(
        self, kwargs: Mapping[str, object], where: str = "forward()", accepted: frozenset[str] | None = None
    ) -> None:
        """Raise ``TypeError`` naming every key of ``kwargs`` not in ``accepted`` (default
        :meth:`accepted_kwargs`); ``where`` names the method in the message."""
        allowed = self.accepted_kwargs() if accepted is None else accepted
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            accepted_text = ", ".join(sorted(allowed)) or "none"
            raise TypeError(
                f"{type(self).__name__}.{where} got unexpected keyword argument(s) "
                f"{', '.join(repr(k) for k in unknown)} (extra keyword arguments it accepts: {accepted_text})"
            )

    def resolve_reduction(self, reduction_override: str | None) -> str:
        """``reduction_override`` if given, else ``self.reduction``; ValueError if invalid."""
        check_reduction(reduction_override, "reduction_override", allow_none=True)
        return reduction_override or self.reduction

    @float32_forward
    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``loss_weight`` times the weighted loss of ``pred`` against ``target``, reduced.

        Args:
            pred: Predictions.
            target: Targets.
            weight: Multiplies the element-wise loss (broadcast).
            avg_factor: With 'mean', the sum is divided by it instead of the element count.
            reduction_override: Replaces the constructor's ``reduction`` for this call.
            **kwargs: Only those :meth:`accepted_kwargs` names.

        Raises:
            ValueError: A bad ``reduction_override``, or ``avg_factor`` with 'sum'.
            TypeError: An unknown keyword argument.
        """
        reduction = self.resolve_reduction(reduction_override)
        self.check_kwargs(kwargs)
        if avg_factor is not None and reduction == "sum" and self.reduces:
            raise ValueError('avg_factor can not be used with reduction="sum"')
        if self.box_weight:
            if weight is not None and not torch.any(weight > 0) and reduction != "none":
                if pred.dim() == weight.dim() + 1:  # one weight per box
                    weight = weight.unsqueeze(1)
                return (pred * weight).sum()
            weight = _mean_box_weight(weight, pred)
        return self.loss_weight * self.compute(pred, target, weight, avg_factor, reduction, **kwargs)

    # -- what a loss implements ---------------------------------------------------------------

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The weighted, reduced loss before ``loss_weight``: :meth:`elementwise`, then
        ``weight_reduce_loss`` with :meth:`broadcast_weight`'s weight. ``kwargs``: the call's
        :attr:`extra_kwargs`, already checked by ``forward``."""
        loss = self.elementwise(pred, target, **kwargs)
        return weight_reduce_loss(loss, self.broadcast_weight(weight, loss), reduction, avg_factor)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unweighted, unreduced loss (element-wise or one per sample); a loss with
        :attr:`extra_kwargs` takes them as keyword arguments with defaults."""
        raise NotImplementedError(f"{type(self).__name__} must implement elementwise() or compute()")

    def broadcast_weight(self, weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
        """``weight`` shaped to multiply ``loss``; by default unchanged (torch broadcasting)."""
        return weight
