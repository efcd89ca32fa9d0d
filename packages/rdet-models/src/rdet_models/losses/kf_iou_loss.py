"""``KFLoss``: the KFIoU loss (Kalman-filter IoU of box Gaussians), MMRotate 0.3.x."""

from __future__ import annotations

import torch

from rdet_models.losses.base import WeightedLoss, function_kwargs
from rdet_models.losses.gaussian_dist_loss import xy_wh_r_2_xy_sigma
from rdet_models.losses.utils import weighted_loss
from rdet_models.precision import float32_forward
from rdet_models.registry import LOSSES

__all__ = ["KFLoss", "kfiou_loss"]


@weighted_loss
def kfiou_loss(  # type: ignore[no-untyped-def]
    pred, target, pred_decode=None, targets_decode=None, fun=None, beta=1.0 / 9.0, eps=1e-6
):
    """Smooth-L1 of the centre deltas (``pred``/``target`` (N, 5) deltas) + KFIoU term of the
    decoded boxes ``pred_decode`` / ``targets_decode`` (N, 5); ``fun`` 'ln', 'exp' or none."""
    xy_p, xy_t = pred[:, :2], target[:, :2]
    _, Sigma_p = xy_wh_r_2_xy_sigma(pred_decode)
    _, Sigma_t = xy_wh_r_2_xy_sigma(targets_decode)
    diff = torch.abs(xy_p - xy_t)
    xy_loss = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta).sum(dim=-1)
    Vb_p = 4 * Sigma_p.det().sqrt()
    Vb_t = 4 * Sigma_t.det().sqrt()
    K = Sigma_p.bmm((Sigma_p + Sigma_t).inverse())
    Sigma = Sigma_p - K.bmm(Sigma_p)
    Vb = 4 * Sigma.det().sqrt()
    Vb = torch.where(torch.isnan(Vb), torch.full_like(Vb, 0), Vb)
    KFIoU = Vb / (Vb_p + Vb_t - Vb + eps)
    if fun == "ln":
        kf_loss = -torch.log(KFIoU + eps)
    elif fun == "exp":
        kf_loss = torch.exp(1 - KFIoU) - 1
    else:
        kf_loss = 1 - KFIoU
    return (xy_loss + kf_loss).clamp(0)


# kfiou_loss's own options: beta, eps
_OPTIONS = function_kwargs(kfiou_loss, exclude=("pred", "target", "pred_decode", "targets_decode", "fun"))


@LOSSES.register_module()
class KFLoss(WeightedLoss):
    """KFIoU loss. ``forward(pred, target, weight=None, avg_factor=None, pred_decode=None,
    targets_decode=None, reduction_override=None, **kwargs)``: deltas (N, 5) and decoded
    boxes (N, 5); ``kwargs`` are :func:`kfiou_loss`'s ``beta`` and ``eps``.

    Args:
        fun: 'none' (1 - KFIoU), 'ln' (-ln KFIoU) or 'exp' (exp(1 - KFIoU) - 1).
        reduction, loss_weight: see :class:`~rdet_models.losses.base.WeightedLoss`.
        **kwargs: ``beta`` and ``eps`` of :func:`kfiou_loss` (MMRotate ignored these silently);
            any other name is a ``TypeError``.
    """

    box_weight = True
    extra_kwargs = _OPTIONS | {"pred_decode", "targets_decode"}

    def __init__(
        self, fun: str = "none", reduction: str = "mean", loss_weight: float = 1.0, **kwargs: object
    ) -> None:
        super().__init__(reduction, loss_weight)
        if fun not in ("none", "ln", "exp"):
            raise ValueError(f"fun must be none, ln or exp, got {fun!r}")
        self.fun = fun
        self.check_kwargs(kwargs, where="__init__()", accepted=_OPTIONS)
        self.kwargs = kwargs

    # MMRotate's KFLoss.forward takes the decoded boxes before reduction_override (positional order)
    @float32_forward
    def forward(  # type: ignore[override]
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        pred_decode: torch.Tensor | None = None,
        targets_decode: torch.Tensor | None = None,
        reduction_override: str | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        # MMRotate's positional order: the decoded boxes come before reduction_override
        return super().forward(
            pred,
            target,
            weight,
            avg_factor,
            reduction_override,
            pred_decode=pred_decode,
            targets_decode=targets_decode,
            **kwargs,
        )

    def elementwise(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        pred_decode: torch.Tensor | None = None,
        targets_decode: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if pred_decode is None or targets_decode is None:
            raise ValueError(
                "KFLoss needs pred_decode and targets_decode (decoded boxes); use KFIoURRetinaHead"
            )
        kw = {**self.kwargs, **kwargs}
        return kfiou_loss(
            pred,
            target,
            pred_decode=pred_decode,
            targets_decode=targets_decode,
            fun=self.fun,
            reduction="none",
            **kw,
        )
