"""rdet-models' registries, with MMDetection 2.x's and MMRotate 0.3.x's names.

As in MMDetection 2.x, backbones, necks, heads, losses and detectors share one registry,
``MODELS`` (entry-point group ``rdet.models``); box coders, assigners, samplers, IoU
calculators and prior (anchor) generators each have their own. ``rdet_models.build`` searches
them in turn, so they share the namespace ``rdet_models``: a type name may live in only one.
"""

from rdet_core import Registry

MODELS = Registry("models", namespace="rdet_models")
BACKBONES = NECKS = HEADS = LOSSES = DETECTORS = SHARED_HEADS = ROI_EXTRACTORS = MODELS
ROTATED_BACKBONES = ROTATED_NECKS = ROTATED_HEADS = ROTATED_LOSSES = ROTATED_DETECTORS = MODELS
ROTATED_SHARED_HEADS = ROTATED_ROI_EXTRACTORS = MODELS

BBOX_CODERS = ROTATED_BBOX_CODERS = Registry("bbox_coders", namespace="rdet_models")
BBOX_ASSIGNERS = ROTATED_BBOX_ASSIGNERS = Registry("bbox_assigners", namespace="rdet_models")
BBOX_SAMPLERS = ROTATED_BBOX_SAMPLERS = Registry("bbox_samplers", namespace="rdet_models")
IOU_CALCULATORS = ROTATED_IOU_CALCULATORS = Registry("iou_calculators", namespace="rdet_models")
PRIOR_GENERATORS = ANCHOR_GENERATORS = ROTATED_PRIOR_GENERATORS = ROTATED_ANCHOR_GENERATORS = Registry(
    "prior_generators", namespace="rdet_models"
)

__all__ = [
    "ANCHOR_GENERATORS",
    "BACKBONES",
    "BBOX_ASSIGNERS",
    "BBOX_CODERS",
    "BBOX_SAMPLERS",
    "DETECTORS",
    "HEADS",
    "IOU_CALCULATORS",
    "LOSSES",
    "MODELS",
    "NECKS",
    "PRIOR_GENERATORS",
    "ROI_EXTRACTORS",
    "ROTATED_ANCHOR_GENERATORS",
    "ROTATED_BACKBONES",
    "ROTATED_BBOX_ASSIGNERS",
    "ROTATED_BBOX_CODERS",
    "ROTATED_BBOX_SAMPLERS",
    "ROTATED_DETECTORS",
    "ROTATED_HEADS",
    "ROTATED_IOU_CALCULATORS",
    "ROTATED_LOSSES",
    "ROTATED_NECKS",
    "ROTATED_PRIOR_GENERATORS",
    "ROTATED_ROI_EXTRACTORS",
    "ROTATED_SHARED_HEADS",
    "SHARED_HEADS",
]
