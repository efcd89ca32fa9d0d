"""``KFLoss``: the KFIoU loss (Kalman-filter IoU of box Gaussians), MMRotate 0.3.x."""

from __future__ import annotations

import torch
from torch import nn

from rdet_models.losses.gaussian_dist_loss import xy_wh_r_2_xy_sigma
from rdet_models.losses.utils import check_reduction, weighted_loss
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


@LOSSES.register_module()
class KFLoss(nn.Module):
    """KFIoU loss. ``forward(pred, target, weight=None, avg_factor=None, pred_decode=None,
    targets_decode=None, reduction_override=None)``: deltas (N, 5) and decoded boxes (N, 5).

    Args:
        fun: 'none' (1 - KFIoU), 'ln' (-ln KFIoU) or 'exp' (exp(1 - KFIoU) - 1).
    """

    def __init__(
        self, fun: str = "none", reduction: str = "mean", loss_weight: float = 1.0, **kwargs: object
    ) -> None:
        super().__init__()
        if reduction not in ("none", "sum", "mean"):
            raise ValueError(f"reduction must be none, sum or mean, got {reduction!r}")
        if fun not in ("none", "ln", "exp"):
            raise ValueError(f"fun must be none, ln or exp, got {fun!r}")
        self.fun, self.reduction, self.loss_weight = fun, reduction, loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        pred_decode: torch.Tensor | None = None,
        targets_decode: torch.Tensor | None = None,
        reduction_override: str | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override, self.reduction)
        if weight is not None and not torch.any(weight > 0) and reduction != "none":
            return (pred * weight).sum()
        if weight is not None and weight.dim() > 1:
            if weight.shape != pred.shape:
                raise ValueError(f"weight {tuple(weight.shape)} must match pred {tuple(pred.shape)}")
            weight = weight.mean(-1)
        if pred_decode is None or targets_decode is None:
            raise ValueError(
                "KFLoss needs pred_decode and targets_decode (decoded boxes); use KFIoURRetinaHead"
            )
        return (
            kfiou_loss(
                pred,
                target,
                fun=self.fun,
                weight=weight,
                avg_factor=avg_factor,
                pred_decode=pred_decode,
                targets_decode=targets_decode,
                reduction=reduction,
                **kwargs,
            )
            * self.loss_weight
        )
