"""Assigners and IoU calculators."""

from rdet_models.assigners.assign_result import AssignResult
from rdet_models.assigners.atss_kld_assigner import ATSSKldAssigner
from rdet_models.assigners.atss_obb_assigner import ATSSObbAssigner
from rdet_models.assigners.convex_assigner import ConvexAssigner
from rdet_models.assigners.iou_calculators import (
    BboxOverlaps2D,
    RBboxOverlaps2D,
    bbox_overlaps,
    rbbox_overlaps,
)
from rdet_models.assigners.max_convex_iou_assigner import MaxConvexIoUAssigner
from rdet_models.assigners.max_iou_assigner import MaxIoUAssigner
from rdet_models.assigners.sas_assigner import SASAssigner

__all__ = [
    "ATSSKldAssigner",
    "ATSSObbAssigner",
    "AssignResult",
    "BboxOverlaps2D",
    "ConvexAssigner",
    "MaxConvexIoUAssigner",
    "MaxIoUAssigner",
    "RBboxOverlaps2D",
    "SASAssigner",
    "bbox_overlaps",
    "rbbox_overlaps",
]
