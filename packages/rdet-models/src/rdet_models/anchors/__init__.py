"""Anchor (prior) generators and helpers."""

from rdet_models.anchors.anchor_generator import (
    AnchorGenerator,
    PseudoAnchorGenerator,
    RotatedAnchorGenerator,
)
from rdet_models.anchors.point_generator import MlvlPointGenerator
from rdet_models.anchors.utils import (
    anchor_inside_flags,
    images_to_levels,
    rotated_anchor_inside_flags,
    unmap,
)

__all__ = [
    "AnchorGenerator",
    "MlvlPointGenerator",
    "PseudoAnchorGenerator",
    "RotatedAnchorGenerator",
    "anchor_inside_flags",
    "images_to_levels",
    "rotated_anchor_inside_flags",
    "unmap",
]
