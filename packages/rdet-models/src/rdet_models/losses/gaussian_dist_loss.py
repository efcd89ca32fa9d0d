"""``GDLoss``: Gaussian-distance regression losses (GWD, KLD, JD, symmetric KLDs), MMRotate 0.3.x.

Boxes ``(cx, cy, w, h, theta)`` become 2-D Gaussians ``mu = (cx, cy)``,
``Sigma = R diag(w^2/4, h^2/4) R^T``; the distance is turned into a loss by ``fun``
('log1p', 'sqrt', 'none') and, when ``tau >= 1``, ``1 - 1 / (tau + d)``.

Every square root takes its argument clamped to at least 1e-7, as MMRotate does: the
derivative of ``sqrt`` at 0 is infinite, so a perfect prediction (distance 0) with
``clamp(0)`` gave a NaN / inf gradient; at the clamp its gradient is 0.
"""

from __future__ import annotations

import torch

from rdet_models.losses.base import WeightedLoss, function_kwargs
from rdet_models.losses.utils import weighted_loss
from rdet_models.registry import LOSSES

__all__ = [
    "GDLoss",
    "gwd_loss",
    "jd_loss",
    "kld_loss",
    "kld_symmax_loss",
    "kld_symmin_loss",
    "postprocess",
    "xy_stddev_pearson_2_xy_sigma",
    "xy_wh_r_2_xy_sigma",
]


def xy_wh_r_2_xy_sigma(xywhr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 5) boxes -> mu (..., 2) pixels, Sigma (..., 2, 2) pixels^2 (w, h clamped to [1e-7, 1e7])."""
    shape = xywhr.shape
    if shape[-1] != 5:
        raise ValueError(f"boxes must have 5 columns, got {tuple(shape)}")
    xy = xywhr[..., :2]
    wh = xywhr[..., 2:4].clamp(min=1e-7, max=1e7).reshape(-1, 2)
    r = xywhr[..., 4]
    cos_r, sin_r = torch.cos(r), torch.sin(r)
    R = torch.stack((cos_r, -sin_r, sin_r, cos_r), dim=-1).reshape(-1, 2, 2)
    S = 0.5 * torch.diag_embed(wh)
    sigma = R.bmm(S.square()).bmm(R.permute(0, 2, 1)).reshape(shape[:-1] + (2, 2))
    return xy, sigma


def xy_stddev_pearson_2_xy_sigma(xy_stddev_pearson: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 5) ``(x, y, std_x, std_y, pearson)`` -> mu, Sigma."""
    shape = xy_stddev_pearson.shape
    xy = xy_stddev_pearson[..., :2]
    stddev = xy_stddev_pearson[..., 2:4]
    pearson = xy_stddev_pearson[..., 4].clamp(min=1e-7 - 1, max=1 - 1e-7)
    covar = pearson * stddev.prod(dim=-1)
    var = stddev.square()
    sigma = torch.stack((var[..., 0], covar, covar, var[..., 1]), dim=-1).reshape(shape[:-1] + (2, 2))
    return xy, sigma


def postprocess(distance: torch.Tensor, fun: str = "log1p", tau: float = 1.0) -> torch.Tensor:
    """Distance -> loss: ``fun`` then, if ``tau >= 1``, ``1 - 1 / (tau + d)``."""
    if fun == "log1p":
        distance = torch.log1p(distance)
    elif fun == "sqrt":
        distance = torch.sqrt(distance.clamp(1e-7))
    elif fun != "none":
        raise ValueError(f"Invalid non-linear function {fun}")
    if tau >= 1.0:
        return 1 - 1 / (tau + distance)
    return distance


@weighted_loss
def gwd_loss(pred, target, fun="log1p", tau=1.0, alpha=1.0, normalize=True):  # type: ignore[no-untyped-def]
    """Gaussian Wasserstein distance loss of Gaussians ``pred = (mu, Sigma)``, ``target``."""
    xy_p, Sigma_p = pred
    xy_t, Sigma_t = target
    xy_distance = (xy_p - xy_t).square().sum(dim=-1)
    whr_distance = Sigma_p.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    whr_distance = whr_distance + Sigma_t.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    _t_tr = (Sigma_p.bmm(Sigma_t)).diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    _t_det_sqrt = (Sigma_p.det() * Sigma_t.det()).clamp(1e-7).sqrt()
    whr_distance = whr_distance + (-2) * ((_t_tr + 2 * _t_det_sqrt).clamp(1e-7).sqrt())
    distance = (xy_distance + alpha * alpha * whr_distance).clamp(1e-7).sqrt()
    if normalize:
        scale = 2 * (_t_det_sqrt.clamp(1e-7).sqrt().clamp(1e-7).sqrt()).clamp(1e-7)
        distance = distance / scale
    return postprocess(distance, fun=fun, tau=tau)


def _kld(pred, target, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    xy_p, Sigma_p = pred
    xy_t, Sigma_t = target
    shape = xy_p.shape
    xy_p, xy_t = xy_p.reshape(-1, 2), xy_t.reshape(-1, 2)
    Sigma_p, Sigma_t = Sigma_p.reshape(-1, 2, 2), Sigma_t.reshape(-1, 2, 2)
    Sigma_p_inv = torch.stack(
        (Sigma_p[..., 1, 1], -Sigma_p[..., 0, 1], -Sigma_p[..., 1, 0], Sigma_p[..., 0, 0]), dim=-1
    ).reshape(-1, 2, 2)
    Sigma_p_inv = Sigma_p_inv / Sigma_p.det().unsqueeze(-1).unsqueeze(-1)
    dxy = (xy_p - xy_t).unsqueeze(-1)
    xy_distance = 0.5 * dxy.permute(0, 2, 1).bmm(Sigma_p_inv).bmm(dxy).view(-1)
    whr_distance = 0.5 * Sigma_p_inv.bmm(Sigma_t).diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    whr_distance = whr_distance + 0.5 * (Sigma_p.det().log() - Sigma_t.det().log())
    whr_distance = whr_distance - 1
    distance = xy_distance / (alpha * alpha) + whr_distance
    if sqrt:
        distance = distance.clamp(1e-7).sqrt()
    return distance.reshape(shape[:-1])


@weighted_loss
def kld_loss(pred, target, fun="log1p", tau=1.0, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    """Kullback-Leibler divergence KL(pred || target) loss."""
    return postprocess(_kld(pred, target, alpha, sqrt), fun=fun, tau=tau)


@weighted_loss
def jd_loss(pred, target, fun="log1p", tau=1.0, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    """Jeffreys (symmetric KL) divergence loss."""
    jd = 0.5 * (_kld(pred, target, alpha, False) + _kld(target, pred, alpha, False))
    if sqrt:
        jd = jd.clamp(1e-7).sqrt()
    return postprocess(jd, fun=fun, tau=tau)


@weighted_loss
def kld_symmax_loss(pred, target, fun="log1p", tau=1.0, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    """max(KL(p||t), KL(t||p)) loss."""
    return postprocess(
        torch.max(_kld(pred, target, alpha, sqrt), _kld(target, pred, alpha, sqrt)), fun=fun, tau=tau
    )


@weighted_loss
def kld_symmin_loss(pred, target, fun="log1p", tau=1.0, alpha=1.0, sqrt=True):  # type: ignore[no-untyped-def]
    """min(KL(p||t), KL(t||p)) loss."""
    return postprocess(
        torch.min(_kld(pred, target, alpha, sqrt), _kld(target, pred, alpha, sqrt)), fun=fun, tau=tau
    )


@LOSSES.register_module()
class GDLoss(WeightedLoss):
    """Gaussian-distance loss of decoded boxes (use with ``reg_decoded_bbox=True``).

    Args:
        loss_type: 'gwd', 'kld', 'jd', 'kld_symmax' or 'kld_symmin'.
        representation: 'xy_wh_r' (boxes) or 'xy_stddev_pearson'.
        fun: 'log1p', 'sqrt' or 'none'. tau: see module doc. alpha: weight of the centre term.
        reduction, loss_weight: see :class:`~rdet_models.losses.base.WeightedLoss`.
        **kwargs: passed to the distance (e.g. ``sqrt=False`` for the "stable" KLD,
            ``normalize`` for GWD); a name the distance does not take is a ``TypeError``.

    ``forward(pred (N, 5), target (N, 5), weight (N,) or (N, 5), avg_factor, reduction_override,
    **kwargs)``: ``kwargs`` as the constructor's, for this call.
    """

    BAG_GD_LOSS = {  # noqa: RUF012
        "gwd": gwd_loss,
        "kld": kld_loss,
        "jd": jd_loss,
        "kld_symmax": kld_symmax_loss,
        "kld_symmin": kld_symmin_loss,
    }
    BAG_PREP = {"xy_stddev_pearson": xy_stddev_pearson_2_xy_sigma, "xy_wh_r": xy_wh_r_2_xy_sigma}  # noqa: RUF012
    box_weight = True

    def __init__(
        self,
        loss_type: str,
        representation: str = "xy_wh_r",
        fun: str = "log1p",
        tau: float = 0.0,
        alpha: float = 1.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        **kwargs: object,
    ) -> None:
        super().__init__(reduction, loss_weight)
        if fun not in ("log1p", "none", "sqrt"):
            raise ValueError(f"fun must be log1p, none or sqrt, got {fun!r}")
        if loss_type not in self.BAG_GD_LOSS:
            raise ValueError(f"loss_type must be one of {sorted(self.BAG_GD_LOSS)}, got {loss_type!r}")
        if representation not in self.BAG_PREP:
            raise ValueError(f"representation must be one of {sorted(self.BAG_PREP)}, got {representation!r}")
        self.loss_type = loss_type
        self.loss = self.BAG_GD_LOSS[loss_type]
        self.preprocess = self.BAG_PREP[representation]
        self.fun, self.tau, self.alpha = fun, tau, alpha
        self.check_kwargs(kwargs, where="__init__()")
        self.kwargs = kwargs

    def accepted_kwargs(self) -> frozenset[str]:
        """The distance's own options (``sqrt``, ``normalize``) for this ``loss_type``."""
        return function_kwargs(self.loss, exclude=("pred", "target", "fun", "tau", "alpha"))

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor, **kwargs: object) -> torch.Tensor:
        kw = {**self.kwargs, **kwargs}
        return self.loss(
            self.preprocess(pred),
            self.preprocess(target),
            fun=self.fun,
            tau=self.tau,
            alpha=self.alpha,
            reduction="none",
            **kw,
        )
