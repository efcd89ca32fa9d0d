"""Detectors."""

from rdet_models.detectors.base import RotatedBaseDetector, sanitize_gt
from rdet_models.detectors.single_stage import RotatedRetinaNet, RotatedSingleStageDetector

__all__ = ["RotatedBaseDetector", "RotatedRetinaNet", "RotatedSingleStageDetector", "sanitize_gt"]
