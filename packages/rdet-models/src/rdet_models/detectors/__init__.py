"""Detectors."""

from rdet_models.detectors.base import RotatedBaseDetector, sanitize_gt
from rdet_models.detectors.r3det import R3Det
from rdet_models.detectors.redet import ReDet
from rdet_models.detectors.rotated_reppoints import RotatedRepPoints
from rdet_models.detectors.s2anet import S2ANet
from rdet_models.detectors.single_stage import RotatedFCOS, RotatedRetinaNet, RotatedSingleStageDetector
from rdet_models.detectors.two_stage import (
    GlidingVertex,
    OrientedRCNN,
    RoITransformer,
    RotatedFasterRCNN,
    RotatedTwoStageDetector,
)

__all__ = [
    "GlidingVertex",
    "OrientedRCNN",
    "R3Det",
    "ReDet",
    "RoITransformer",
    "RotatedBaseDetector",
    "RotatedFCOS",
    "RotatedFasterRCNN",
    "RotatedRepPoints",
    "RotatedRetinaNet",
    "RotatedSingleStageDetector",
    "RotatedTwoStageDetector",
    "S2ANet",
    "sanitize_gt",
]
