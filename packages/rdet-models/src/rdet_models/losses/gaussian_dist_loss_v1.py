"""``GDLoss_v1``: the first Gaussian-distance losses of MMRotate (kld, bcd, gwd); positive rows only."""

from __future__ import annotations

from typing import Any

import torch

from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.gaussian_dist_loss import xy_wh_r_2_xy_sigma
from rdet_models.registry import LOSSES

__all__ = ["GDLoss_v1"]


def gwd_loss_v1(pred, target, fun="sqrt", tau=2.0):  # type: ignore[no-untyped-def]
    mu_p, sigma_p = pred
    mu_t, sigma_t = target
    xy_distance = (mu_p - mu_t).square().sum(dim=-1)
    whr = sigma_p.diagonal(dim1=-2, dim2=-1).sum(dim=-1) + sigma_t.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    _t_tr = (sigma_p.bmm(sigma_t)).diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    _t_det_sqrt = (sigma_p.det() * sigma_t.det()).clamp(0).sqrt()
    whr = whr + (-2) * (_t_tr + 2 * _t_det_sqrt).clamp(0).sqrt()
    dis = (xy_distance + whr).clamp(min=1e-6)
    if fun == "sqrt":
        return 1 - 1 / (tau + torch.sqrt(dis))
    if fun == "log1p":
        return 1 - 1 / (tau + torch.log1p(dis))
    scale = 2 * (_t_det_sqrt.sqrt().sqrt()).clamp(1e-7)
    return torch.log1p(torch.sqrt(dis) / scale)


def bcd_loss_v1(pred, target, fun="log1p", tau=1.0):  # type: ignore[no-untyped-def]
    mu_p, sigma_p = pred
    mu_t, sigma_t = target
    mu_p, mu_t = mu_p.reshape(-1, 2), mu_t.reshape(-1, 2)
    sigma_p, sigma_t = sigma_p.reshape(-1, 2, 2), sigma_t.reshape(-1, 2, 2)
    delta = (mu_p - mu_t).unsqueeze(-1)
    sigma = 0.5 * (sigma_p + sigma_t)
    sigma_inv = torch.inverse(sigma)
    term1 = torch.log(torch.det(sigma) / (torch.sqrt(torch.det(sigma_t.matmul(sigma_p))))).reshape(-1, 1)
    term2 = delta.transpose(-1, -2).matmul(sigma_inv).matmul(delta).squeeze(-1)
    dis = (0.5 * term1 + 0.125 * term2).clamp(min=1e-6)
    if fun == "sqrt":
        return 1 - 1 / (tau + torch.sqrt(dis))
    if fun == "log1p":
        return 1 - 1 / (tau + torch.log1p(dis))
    return 1 - 1 / (tau + dis)


def _positive_det(sigma: torch.Tensor) -> torch.Tensor:
    """``det(sigma)`` of (n, 2, 2) covariances, at least the dtype's smallest normal number.

    A (near) zero-width box's covariance is singular in exact arithmetic, and float32 rounding
    of ``R S^2 R^T`` can make its determinant 0 or negative: MMRotate's ``log(det)`` is then NaN.
    Clamping keeps such a box's loss finite (and near its maximum); other boxes are unchanged.
    """
    return torch.det(sigma).clamp(min=torch.finfo(sigma.dtype).tiny)


def kld_loss_v1(pred, target, fun="log1p", tau=1.0):  # type: ignore[no-untyped-def]
    mu_p, sigma_p = pred
    mu_t, sigma_t = target
    mu_p, mu_t = mu_p.reshape(-1, 2), mu_t.reshape(-1, 2)
    sigma_p, sigma_t = sigma_p.reshape(-1, 2, 2), sigma_t.reshape(-1, 2, 2)
    delta = (mu_p - mu_t).unsqueeze(-1)
    sigma_t_inv = torch.inverse(sigma_t)
    term1 = delta.transpose(-1, -2).matmul(sigma_t_inv).matmul(delta).squeeze(-1)
    term2 = torch.diagonal(sigma_t_inv.matmul(sigma_p), dim1=-2, dim2=-1).sum(
        dim=-1, keepdim=True
    ) + torch.log(torch.det(sigma_t) / _positive_det(sigma_p)).reshape(-1, 1)
    dis = (term1 + term2 - 2).clamp(min=1e-6)
    if fun == "sqrt":
        return 1 - 1 / (tau + torch.sqrt(dis))
    return 1 - 1 / (tau + torch.log1p(dis))


@LOSSES.register_module()
class GDLoss_v1(WeightedLoss):
    """Gaussian-distance loss, version 1: 'kld', 'bcd' or 'gwd' with ``fun`` 'log1p' / 'sqrt' / ''.

    Only rows with weight > 0 are used, and the result is the plain tensor of their losses
    times ``loss_weight`` (MMRotate 0.3.x neither reduces nor uses ``avg_factor`` here; the
    detector sums every loss term). Kept for config compatibility. The distances take no
    options, so any ``**kwargs`` (constructor or call) is a ``TypeError``.
    """

    BAG_GD_LOSS = {"kld": kld_loss_v1, "bcd": bcd_loss_v1, "gwd": gwd_loss_v1}  # noqa: RUF012
    box_weight = True
    reduces = False

    def __init__(
        self,
        loss_type: str,
        fun: str = "sqrt",
        tau: float = 1.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        **kwargs: object,
    ) -> None:
        super().__init__(reduction, loss_weight)
        if fun not in ("log1p", "sqrt", ""):
            raise ValueError(f"fun must be log1p, sqrt or '', got {fun!r}")
        if loss_type not in self.BAG_GD_LOSS:
            raise ValueError(f"loss_type must be one of {sorted(self.BAG_GD_LOSS)}, got {loss_type!r}")
        self.loss = self.BAG_GD_LOSS[loss_type]
        self.fun, self.tau = fun, tau
        self.check_kwargs(kwargs, where="__init__()")  # the distances take none
        self.kwargs = kwargs

    def compute(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        avg_factor: float | torch.Tensor | None,
        reduction: str,
        **kwargs: Any,
    ) -> torch.Tensor:
        """One loss per positive box (``weight > 0``), unreduced, as MMRotate's ``GDLoss_v1``."""
        if weight is None:
            weight = pred.new_ones(pred.shape[:-1])
        mask = (weight > 0).detach()
        return self.loss(
            xy_wh_r_2_xy_sigma(pred[mask]), xy_wh_r_2_xy_sigma(target[mask]), fun=self.fun, tau=self.tau
        )
