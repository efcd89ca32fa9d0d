"""Detectors."""

from rdet_models.detectors.base import RotatedBaseDetector, sanitize_gt
from rdet_models.detectors.single_stage import RotatedRetinaNet, RotatedSingleStageDetector
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
    "RotatedFasterRCNN",
    "RotatedRetinaNet",
    "RotatedSingleStageDetector",
    "RotatedTwoStageDetector",
    "sanitize_gt",
]
