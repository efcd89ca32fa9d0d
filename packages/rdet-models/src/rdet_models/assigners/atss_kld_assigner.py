"""``ATSSKldAssigner``: ATSS on point sets with KLD overlaps (MMRotate 0.3.x, Oriented RepPoints)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rbox_geometry import gt2gaussian
from rdet_models.assigners.assign_result import AssignResult
from rdet_models.assigners.atss_obb_assigner import _check_topk, atss_assign, check_atss_inputs, empty_assign
from rdet_models.losses.kld_reppoints_loss import points_to_gaussian
from rdet_models.registry import BBOX_ASSIGNERS

__all__ = ["ATSSKldAssigner"]


@BBOX_ASSIGNERS.register_module()
class ATSSKldAssigner:
    """ATSS whose priors are 9-point sets (n, 18) and whose gts are polygons (k, 8): the overlap
    is ``1 / (2 + KLD)`` between the gt's Gaussian (``gt2gaussian``) and the points' fitted
    Gaussian; centres are the points' mean and the gt's horizontal box centre (see
    :func:`~rdet_models.assigners.atss_obb_assigner.atss_assign`).

    Args:
        topk: candidates per level and gt.
        use_reassign: multiply each threshold by ``exp(-mean aspect ratio of all gts / 4)``.
    """

    def __init__(self, topk: int, use_reassign: bool = False) -> None:
        self.topk = _check_topk(topk)
        self.use_reassign = bool(use_reassign)

    def assign(
        self,
        bboxes: torch.Tensor,
        num_level_bboxes: Sequence[int],
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """Point sets (n, 18) ``(x1, y1, ..., x9, y9)`` px, n_l per level, gt polygons (k, 8)
        [, ignored (unused), labels (k,)] -> :class:`AssignResult`."""
        if bboxes.dim() != 2 or bboxes.size(-1) != 18:
            raise ValueError(f"bboxes must be (n, 18) point sets, got {tuple(bboxes.shape)}")
        if gt_bboxes.dim() != 2 or gt_bboxes.size(-1) < 8:
            raise ValueError(f"gt_bboxes must be (k, 8) polygons, got {tuple(gt_bboxes.shape)}")
        num_gt, num_bboxes = gt_bboxes.size(0), bboxes.size(0)
        levels = check_atss_inputs(num_level_bboxes, num_bboxes, gt_bboxes, gt_labels)
        if num_gt == 0 or num_bboxes == 0:
            return empty_assign(num_gt, num_bboxes, bboxes, gt_labels)
        polygons = gt_bboxes[:, :8]
        overlaps = self.kld_overlaps(polygons, bboxes).t()
        xs, ys = polygons[:, 0::2], polygons[:, 1::2]
        gt_points = torch.stack(
            ((xs.min(1)[0] + xs.max(1)[0]) / 2.0, (ys.min(1)[0] + ys.max(1)[0]) / 2.0), dim=1
        )
        points = bboxes.reshape(-1, 9, 2).mean(dim=1)
        thr_weight = None
        if self.use_reassign:
            thr_weight = torch.exp(-0.25 * self.aspect_ratio(polygons).mean(0))
        return atss_assign(overlaps, points, gt_points, polygons, levels, self.topk, gt_labels, thr_weight)

    @staticmethod
    def kld_overlaps(gt_polygons: torch.Tensor, points: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """(k, 8) polygons x (n, 18) point sets -> (k, n) ``1 / (2 + max(KLD, eps))``.

        The point sets' Gaussian is MMRotate's one-component ``GaussianMixture`` fit, in closed
        form: ``mu = sum(p) / (9 + 1e-6)``, ``Sigma = sum((p - mu)(p - mu)^T) / 9 + 1e-6 I``.
        """
        pts = points.reshape(-1, 9, 2)
        p_mu, p_var = points_to_gaussian(pts)
        t_mu, t_var = gt2gaussian(gt_polygons.reshape(-1, 4, 2))
        t_mu, t_var = t_mu.to(pts.dtype), t_var.to(pts.dtype)
        delta = (p_mu[None, :, :] - t_mu[:, None, :]).unsqueeze(-1)  # (k, n, 2, 1)
        t_inv = torch.inverse(t_var)[:, None]  # (k, 1, 2, 2)
        term1 = delta.transpose(-1, -2).matmul(t_inv).matmul(delta).reshape(t_mu.size(0), -1)
        term2 = torch.diagonal(t_inv.matmul(p_var[None]), dim1=-2, dim2=-1).sum(-1) + torch.log(
            torch.det(t_var)[:, None] / torch.det(p_var)[None, :]
        )
        kld = 0.5 * (term1 + term2) - 1
        return 1 / (2 + kld.clamp(min=eps))

    @staticmethod
    def aspect_ratio(gt_polygons: torch.Tensor) -> torch.Tensor:
        """(k, 8) polygons -> (k,) long side / short side (|p1p2| and |p2p3|)."""
        p = gt_polygons[:, :8].reshape(-1, 4, 2)
        e1 = (p[:, 0] - p[:, 1]).pow(2).sum(-1).sqrt()
        e2 = (p[:, 1] - p[:, 2]).pow(2).sum(-1).sqrt()
        return torch.max(e1, e2) / torch.min(e1, e2)

    def __repr__(self) -> str:
        return f"ATSSKldAssigner(topk={self.topk}, use_reassign={self.use_reassign})"
