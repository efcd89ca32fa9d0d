"""MMDetection 2.x's gradient harmonizing losses ``GHMC`` and ``GHMR`` (Li et al., "Gradient
Harmonized Single-stage Detector", https://arxiv.org/abs/1811.05181).

Each element's gradient norm ``g`` (``|sigmoid(x) - t|`` for GHM-C, ``|d| / sqrt(d^2 + mu^2)`` for
GHM-R) falls in one of ``bins`` equal bins; an element of a bin holding ``k`` valid elements weighs
``tot / k / n`` (``tot``: the valid elements, GHM-R: the sum of ``label_weight``; ``n``: the
non-empty bins), or ``tot / acc_sum[i] / n`` with ``momentum``, ``acc_sum`` a running count per
bin kept in a buffer and updated at every call. 'mean' is then ``sum(loss * w) / tot``; the
caller's ``avg_factor`` is accepted and not used (MMDetection). The buffers are MMDetection's
(``edges``; ``acc_sum`` when ``momentum > 0``), so its checkpoints' keys load strictly.

MMDetection 2.28's numbers, bit for bit on the CPU (tests transcribe its loops). Differences:

- the bins are counted on the device in one pass (``bucketize`` + ``scatter_add_``) instead of a
  Python loop reading each bin's count with ``.item()`` (``bins`` host syncs per call and level);
  on CUDA a division may round differently in the last bit (PyTorch divides by a Python number
  there as a multiplication by its reciprocal);
- ``reduction='sum'`` gives ``sum(loss * w)``: MMDetection passes its ``tot`` as ``avg_factor``,
  so 'sum' always raised ``avg_factor can not be used with reduction="sum"`` (as here when the
  call gives an ``avg_factor``, the package's rule);
- ``label_weight`` may be omitted (every element valid; MMDetection requires it), a keyword
  argument other than ``avg_factor`` is a ``TypeError`` naming it (``GHMC`` swallowed any), and
  ``bins``, ``momentum`` and ``mu`` are checked (``ValueError`` naming the argument).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.utils import weight_reduce_loss
from rdet_models.precision import float32_forward
from rdet_models.registry import LOSSES

__all__ = ["GHMC", "GHMR", "expand_onehot_labels", "ghm_weights"]


def expand_onehot_labels(
    labels: torch.Tensor, label_weights: torch.Tensor, label_channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """MMDetection's ``_expand_onehot_labels`` of ``ghm_loss.py``: labels (N,) to 0/1 rows (N, C)
    (a label outside [0, C), e.g. the background index C, gives a row of zeros) and the (N,)
    label weights expanded to (N, C)."""
    if label_weights.numel() != labels.size(0):
        raise ValueError(
            f"label_weight must hold one weight per label ({labels.size(0)}) when the labels are "
            f"class indices, got {tuple(label_weights.shape)}"
        )
    classes = torch.arange(label_channels, device=labels.device)
    bin_labels = (labels.unsqueeze(1) == classes).to(labels.dtype)
    return bin_labels, label_weights.view(-1, 1).expand(labels.size(0), label_channels)


def _check_broadcast(name: str, weight: torch.Tensor, pred: torch.Tensor) -> None:
    try:
        shape = torch.broadcast_shapes(weight.shape, pred.shape)
    except RuntimeError:
        shape = None
    if shape != pred.shape:
        raise ValueError(
            f"{name} {tuple(weight.shape)} must have pred's shape {tuple(pred.shape)} or broadcast to it"
        )


def ghm_weights(
    g: torch.Tensor,
    valid: torch.Tensor,
    edges: torch.Tensor,
    tot: torch.Tensor,
    momentum: float = 0.0,
    acc_sum: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The gradient-harmonizing weights of MMDetection's GHM loops, without host syncs.

    Args:
        g: gradient norms, any shape (detached).
        valid: bool, broadcast to ``g``: the elements that count (``label_weight > 0``).
        edges: (bins + 1,) ascending bin edges; bin i is ``[edges[i], edges[i + 1])``.
        tot: 0-d float32, the normaliser (``max(..., 1)``).
        momentum: with ``acc_sum``, the running count's factor.
        acc_sum: (bins,) running counts, updated in place for every non-empty bin.
        dtype: of the weights (default ``g``'s; MMDetection's GHM-C: the prediction's).

    Returns:
        weights of ``g``'s shape: ``tot / count / n`` in a bin (``count``: the bin's
        valid elements, or its ``acc_sum`` with momentum; ``n``: the non-empty bins), 0 outside.
    """
    bins = edges.numel() - 1
    dtype = g.dtype if dtype is None else dtype
    # in g's type, as MMDetection's ``g >= edges[i]`` (a 0-d edge takes the tensor's type)
    edges = edges.to(g.dtype)
    valid = valid.expand_as(g)
    # bin i holds edges[i] <= g < edges[i + 1] (MMDetection's two comparisons; NaN in no bin)
    binned = valid & (g >= edges[0]) & (g < edges[-1])
    idx = (torch.bucketize(g, edges, right=True) - 1).clamp(0, bins - 1)
    flat = torch.where(binned, idx, bins).flatten()  # index bins: not counted
    counts = torch.zeros(bins + 1, dtype=torch.long, device=g.device)
    counts = counts.scatter_add_(0, flat, torch.ones_like(flat))[:bins]
    filled = counts > 0
    if acc_sum is not None and momentum > 0:
        # MMDetection: acc_sum[i] = mmt * acc_sum[i] + (1 - mmt) * num_in_bin (a Python number)
        step = ((1 - momentum) * counts.double()).to(acc_sum.dtype)
        acc_sum.copy_(torch.where(filled, momentum * acc_sum + step, acc_sum))
        # ``tot / acc_sum[i]`` with tot a Python float is acc_sum[i].reciprocal() * tot (PyTorch)
        per_bin = acc_sum.reciprocal() * tot.to(acc_sum.dtype)
    else:
        # ``tot / num_in_bin``: two Python numbers, rounded once when stored
        per_bin = tot.double() / counts.clamp(min=1).double()
    weights = torch.where(binned, per_bin.to(dtype)[idx], g.new_zeros((), dtype=dtype))
    return weights / filled.sum().clamp(min=1)


class _GHMLoss(WeightedLoss):
    """The buffers, checks and call of both GHM losses."""

    def __init__(
        self, bins: int, momentum: float, last_edge: float | None, reduction: str, loss_weight: float
    ) -> None:
        super().__init__(reduction, loss_weight)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.bins, self.momentum = bins, momentum
        edges = torch.arange(bins + 1).float() / bins
        if last_edge is None:
            edges[-1] += 1e-6
        else:
            edges[-1] = last_edge
        self.register_buffer("edges", edges)
        if momentum > 0:
            self.register_buffer("acc_sum", torch.zeros(bins))

    def _acc_sum(self) -> torch.Tensor | None:
        return self.acc_sum if self.momentum > 0 else None


@LOSSES.register_module()
class GHMC(_GHMLoss):
    """GHM-C: sigmoid binary cross-entropy of logits, weighted by gradient density.

    ``forward(pred (N, C) logits, target (N,) labels in [0, C] (C = background) or (N, C) 0/1,
    label_weight (N,) or (N, C) (> 0: valid; its values are not multiplied in), reduction_override,
    *, avg_factor=None (not used))`` - MMDetection's positional order (``reduction_override``
    fourth). As RetinaNet's ``loss_cls`` it trains every anchor (no sampling).

    Args:
        bins: Number of bins of the gradient norm in [0, 1].
        momentum: Factor of the running bin counts (0: this call's counts).
        use_sigmoid: Must be True (MMDetection: BCE only).
        loss_weight: Multiplies the result.
        reduction: 'none' (``loss * w``, (N, C)), 'mean' (``sum / tot``) or 'sum'.
    """

    def __init__(
        self,
        bins: int = 10,
        momentum: float = 0,
        use_sigmoid: bool = True,
        loss_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(bins, momentum, None, reduction, loss_weight)
        if not use_sigmoid:
            raise NotImplementedError("GHMC supports use_sigmoid=True only (as MMDetection)")
        self.use_sigmoid = use_sigmoid

    @float32_forward
    def forward(  # type: ignore[override]
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        label_weight: torch.Tensor | None = None,
        reduction_override: str | None = None,
        *,
        avg_factor: float | torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``loss_weight`` times the GHM-C loss; ``avg_factor`` is accepted and not used."""
        return super().forward(pred, target, label_weight, avg_factor, reduction_override, **kwargs)

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        label_weight = weight
        if pred.dim() != target.dim():
            if label_weight is None:
                label_weight = pred.new_ones(target.size(0))
            target, label_weight = expand_onehot_labels(target, label_weight, pred.size(-1))
        elif label_weight is None:
            label_weight = torch.ones_like(pred)
        else:
            _check_broadcast("label_weight", label_weight, pred)
        if target.shape != pred.shape:
            raise ValueError(
                f"target {tuple(target.shape)} must be (N,) labels or pred's shape {tuple(pred.shape)}"
            )
        target, label_weight = target.float(), label_weight.float()
        g = torch.abs(pred.detach().sigmoid() - target)
        valid = label_weight > 0
        tot = valid.float().sum().clamp(min=1.0)
        weights = ghm_weights(g, valid, self.edges, tot, self.momentum, self._acc_sum(), pred.dtype)
        loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        return _reduce(loss, weights, reduction, tot)


@LOSSES.register_module()
class GHMR(_GHMLoss):
    """GHM-R: the authentic smooth L1 ``sqrt(d^2 + mu^2) - mu``, weighted by gradient density.

    ``forward(pred, target, label_weight=None, avg_factor=None (not used), reduction_override=None)``
    (MMDetection's order): box deltas of one shape, e.g. (N, 5); ``label_weight`` of that shape
    (or broadcast to it): > 0 marks the valid elements, and its sum is ``tot``.

    Args:
        mu: The smooth L1's ``mu`` (> 0).
        bins: Number of bins of the gradient norm in [0, 1].
        momentum: Factor of the running bin counts (0: this call's counts).
        loss_weight: Multiplies the result.
        reduction: 'none' (``loss * w``), 'mean' (``sum / tot``) or 'sum'.
    """

    def __init__(
        self,
        mu: float = 0.02,
        bins: int = 10,
        momentum: float = 0,
        loss_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(bins, momentum, 1e3, reduction, loss_weight)
        if not mu > 0:
            raise ValueError(f"mu must be > 0, got {mu!r}")
        self.mu = mu

    @float32_forward
    def forward(  # type: ignore[override]
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        label_weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``loss_weight`` times the GHM-R loss; ``avg_factor`` is accepted and not used."""
        return super().forward(pred, target, label_weight, avg_factor, reduction_override, **kwargs)

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        if target.shape != pred.shape:
            raise ValueError(f"target {tuple(target.shape)} must have pred's shape {tuple(pred.shape)}")
        label_weight = torch.ones_like(pred) if weight is None else weight
        _check_broadcast("label_weight", label_weight, pred)
        mu = self.mu
        diff = pred - target
        loss = torch.sqrt(diff * diff + mu * mu) - mu
        g = torch.abs(diff / torch.sqrt(mu * mu + diff * diff)).detach()
        valid = label_weight > 0
        tot = label_weight.float().sum().clamp(min=1.0)
        weights = ghm_weights(g, valid, self.edges, tot, self.momentum, self._acc_sum())
        return _reduce(loss, weights, reduction, tot)


def _reduce(loss: torch.Tensor, weights: torch.Tensor, reduction: str, tot: torch.Tensor) -> torch.Tensor:
    """MMDetection's ``weight_reduce_loss(loss, weights, reduction, avg_factor=tot)``, 'sum' included:
    'mean' divides by ``tot + eps`` (``tot`` a Python float there: added in at least float32) and
    keeps the loss's type."""
    loss = loss * weights
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    avg_factor = tot.to(torch.promote_types(loss.dtype, tot.dtype))
    return weight_reduce_loss(loss, None, reduction, avg_factor).to(loss.dtype)
