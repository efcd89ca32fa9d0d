"""``KLDRepPointsLoss``: G-Rep's loss, the KL divergence between a point set's Gaussian and its
ground-truth polygon's Gaussian (MMRotate 0.3.x)."""

from __future__ import annotations

import torch

from rbox_geometry import gt2gaussian
from rdet_models.losses.base import WeightedLoss
from rdet_models.registry import LOSSES

__all__ = ["KLDRepPointsLoss", "kld_reppoints_loss", "kld_single2single", "points_to_gaussian"]

#: MMRotate's GaussianMixture ``eps``: added to the point count and to the covariance's diagonal
GMM_EPS = 1e-6


def points_to_gaussian(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Point sets (..., P, 2) -> their Gaussian ``mu`` (..., 2), ``Sigma`` (..., 2, 2).

    MMRotate's one-component ``GaussianMixture.fit`` (EM converges in one step with one
    component), in closed form: ``mu = sum(p) / (P + 1e-6)``, ``Sigma = sum((p - mu)(p -
    mu)^T) / P + 1e-6 I`` (the maximum-likelihood covariance; the 1e-6 keeps a collapsed set
    invertible). Differentiable in ``points``; same unit as the points (px -> px, px^2).
    """
    num = points.size(-2)
    mu = points.sum(-2) / (num + GMM_EPS)
    diff = points - mu.unsqueeze(-2)
    sigma = diff.unsqueeze(-1).matmul(diff.unsqueeze(-2)).sum(-3) / num
    eye = torch.eye(2, dtype=points.dtype, device=points.device)
    return mu, sigma + eye * GMM_EPS


def kld_single2single(
    p_mu: torch.Tensor, p_var: torch.Tensor, t_mu: torch.Tensor, t_var: torch.Tensor
) -> torch.Tensor:
    """``KL(p || t)`` of aligned 2-D Gaussians, (N, 2) / (N, 2, 2) each -> (N,), as MMRotate's
    ``kld_single2single``: ``0.5 * (d^T St^-1 d + tr(St^-1 Sp) + ln(|St| / |Sp|)) - 1``."""
    delta = (p_mu - t_mu).unsqueeze(-1)
    t_inv = torch.inverse(t_var)
    term1 = delta.transpose(-1, -2).matmul(t_inv).matmul(delta).reshape(-1)
    trace = torch.diagonal(t_inv.matmul(p_var), dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (term1 + trace + torch.log(torch.det(t_var) / torch.det(p_var))) - 1


def _check_inputs(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.dim() != 2 or pred.size(-1) % 2 or pred.size(-1) < 6:
        raise ValueError(
            f"pred must be (N, 2 * num_points) point sets (3 points or more), got {tuple(pred.shape)}"
        )
    if target.dim() != 2 or target.size(-1) != 8:
        raise ValueError(f"target must be (N, 8) polygons, got {tuple(target.shape)}")
    if target.size(0) != pred.size(0):
        raise ValueError(
            f"target has {target.size(0)} rows, pred has {pred.size(0)}: one polygon per point set"
        )
    # a NaN prediction gives a NaN loss, as every loss here: the training loop's finite check
    # then names the loss term and the iteration; a bad target is the data's fault, named now
    if not bool(torch.isfinite(target).all()):
        raise ValueError("target holds NaN or infinite values")


def kld_reppoints_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per point set ``1 - 1 / (2 + sqrt(max(KLD, eps)))``, KLD = ``KL(points || polygon)``.

    Args:
        pred: (N, 2P) point sets ``(x1, y1, ..., xP, yP)`` (MMRotate: P = 9 only).
        target: (N, 8) polygons ``(x1, y1, ..., x4, y4)``, a rectangle's corners in order (the
            Gaussian takes w, h from the sides p1p2, p2p3: ``gt2gaussian``).
        eps: floor of the KLD.

    Returns:
        (N,) losses in [0.5, 1).

    Raises:
        ValueError: wrong shapes, a non-finite target (a NaN prediction gives a NaN loss), or a
            target polygon of zero area (its Gaussian has no inverse; MMRotate returns NaN).
    """
    _check_inputs(pred, target)
    if pred.size(0) == 0:
        return pred.sum(-1)
    t_mu, t_var = gt2gaussian(target.reshape(-1, 4, 2))
    t_det = torch.det(t_var)
    degenerate = torch.nonzero(~(t_det > 0)).reshape(-1)
    if degenerate.numel():
        raise ValueError(
            f"target rows {degenerate[:5].tolist()} are polygons of zero area (a side of length 0): "
            "their Gaussian is singular"
        )
    p_mu, p_var = points_to_gaussian(pred.reshape(pred.size(0), -1, 2))
    kld = kld_single2single(p_mu, p_var, t_mu, t_var)
    return 1 - 1 / (2 + torch.sqrt(kld.clamp(min=eps)))


@LOSSES.register_module()
class KLDRepPointsLoss(WeightedLoss):
    """KLD between point sets and polygons (G-Rep). ``forward(pred (N, 2P), target (N, 8),
    weight (N,)=None, avg_factor=None, reduction_override=None)``; no positive weight gives
    ``(pred * weight).sum()`` (a zero that keeps the graph), as MMRotate.

    Difference from MMRotate: its per-box loss is (N, 1), which a (N,) weight broadcasts to
    (N, N): it returns ``mean(loss) * mean(weight)`` for 'mean' (and an (N, N) matrix for
    'none'). Here the loss is (N,) and 'mean' is ``mean(loss * weight)``: the same number when
    the weights are equal (the heads' case: every positive weighs 1).

    Args:
        eps: floor of the KLD (see :func:`kld_reppoints_loss`).
        reduction, loss_weight: see :class:`~rdet_models.losses.base.WeightedLoss`.
    """

    box_weight = True

    def __init__(self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return kld_reppoints_loss(pred, target, self.eps)
