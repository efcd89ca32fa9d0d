"""The typed contracts between rdet's packages (DESIGN.md, "How data flows").

``DetSample`` (one image after the pipeline), ``DetBatch`` (what a detector takes),
``Detections`` (what it predicts, per image), and converters to and from MMRotate's result
format (a list per class of (k, 6) arrays).
"""

from rdet_core.structures.detections import Detections, detections_from_result, detections_to_result
from rdet_core.structures.sample import DetBatch, DetSample, GroundTruth, ImageMeta

__all__ = [
    "DetBatch",
    "DetSample",
    "Detections",
    "GroundTruth",
    "ImageMeta",
    "detections_from_result",
    "detections_to_result",
]
