"""The typed contracts between rdet's packages (DESIGN.md, "How data flows").

``DetSample`` (one image after the pipeline: what a dataset's ``__getitem__`` returns, or
MMRotate's ``Collect`` dict, checked by ``rdet_data.collate``; ``InvalidSampleError`` when an
item breaks that contract), ``DetBatch`` (what a detector takes), ``Detections`` (what it
predicts, per image), and converters to and from MMRotate's result format (a list per class
of (k, 6) arrays). Boxes are ``(cx, cy, w, h, theta)``: pixels, radians, clockwise on screen.
"""

from rdet_core.structures.detections import Detections, detections_from_result, detections_to_result
from rdet_core.structures.sample import (
    SAMPLE_CONTRACT,
    DetBatch,
    DetSample,
    GroundTruth,
    ImageMeta,
    InvalidSampleError,
)

__all__ = [
    "SAMPLE_CONTRACT",
    "DetBatch",
    "DetSample",
    "Detections",
    "GroundTruth",
    "ImageMeta",
    "InvalidSampleError",
    "detections_from_result",
    "detections_to_result",
]
