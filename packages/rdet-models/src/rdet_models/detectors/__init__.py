"""Detectors."""

from rdet_models.detectors.base import RotatedBaseDetector, sanitize_gt
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
    "RoITransformer",
    "RotatedBaseDetector",
    "RotatedFCOS",
    "RotatedFasterRCNN",
    "RotatedRetinaNet",
    "RotatedSingleStageDetector",
    "RotatedTwoStageDetector",
    "sanitize_gt",
]
