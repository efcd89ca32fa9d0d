"""Losses with MMDetection's weight / avg_factor / reduction semantics."""

from rdet_models.losses.accuracy import accuracy
from rdet_models.losses.balanced_l1_loss import BalancedL1Loss, balanced_l1_loss
from rdet_models.losses.base import WeightedLoss
from rdet_models.losses.convex_giou_loss import BCConvexGIoULoss, ConvexGIoULoss, convex_giou
from rdet_models.losses.cross_entropy_loss import CrossEntropyLoss, binary_cross_entropy, cross_entropy
from rdet_models.losses.focal_loss import FocalLoss, py_sigmoid_focal_loss, sigmoid_focal_loss
from rdet_models.losses.gaussian_dist_loss import GDLoss, xy_wh_r_2_xy_sigma
from rdet_models.losses.gaussian_dist_loss_v1 import GDLoss_v1
from rdet_models.losses.ghm_loss import GHMC, GHMR
from rdet_models.losses.iou_loss import GIoULoss, IoULoss
from rdet_models.losses.kf_iou_loss import KFLoss, kfiou_loss
from rdet_models.losses.kld_reppoints_loss import KLDRepPointsLoss, kld_reppoints_loss
from rdet_models.losses.mse_loss import MSELoss, mse_loss
from rdet_models.losses.rotated_iou_loss import RotatedIoULoss, rotated_iou_loss
from rdet_models.losses.smooth_focal_loss import SmoothFocalLoss
from rdet_models.losses.smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from rdet_models.losses.spatial_border_loss import SpatialBorderLoss, spatial_border_loss
from rdet_models.losses.utils import reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    "GHMC",
    "GHMR",
    "BCConvexGIoULoss",
    "BalancedL1Loss",
    "ConvexGIoULoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "GDLoss",
    "GDLoss_v1",
    "GIoULoss",
    "IoULoss",
    "KFLoss",
    "KLDRepPointsLoss",
    "L1Loss",
    "MSELoss",
    "RotatedIoULoss",
    "SmoothFocalLoss",
    "SmoothL1Loss",
    "SpatialBorderLoss",
    "WeightedLoss",
    "accuracy",
    "balanced_l1_loss",
    "binary_cross_entropy",
    "convex_giou",
    "cross_entropy",
    "kfiou_loss",
    "kld_reppoints_loss",
    "l1_loss",
    "mse_loss",
    "py_sigmoid_focal_loss",
    "reduce_loss",
    "rotated_iou_loss",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "spatial_border_loss",
    "weight_reduce_loss",
    "weighted_loss",
    "xy_wh_r_2_xy_sigma",
]
