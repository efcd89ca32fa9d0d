"""``RotatedRepPoints``: backbone -> neck -> a RepPoints head (Rotated RepPoints, SASM, CFA,
Oriented RepPoints, G-Rep)."""

from __future__ import annotations

from rdet_models.detectors.single_stage import RotatedSingleStageDetector
from rdet_models.registry import MODELS

__all__ = ["RotatedRepPoints"]


@MODELS.register_module()
class RotatedRepPoints(RotatedSingleStageDetector):
    """Rotated RepPoints and the detectors built on it (MMRotate's ``RotatedRepPoints``): a
    single-stage detector whose ``bbox_head`` is a point-set head."""
