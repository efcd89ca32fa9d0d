"""Rotated-box ops with mmcv's signatures: compiled C++ (CPU) and CUDA kernels, pure-torch fallbacks.

Importing compiles nothing: the first op call (or ``build()``) loads the cached kernels or
compiles them. ``backend()`` says what runs; ``$RBOX_OPS_BACKEND`` forces it.
"""

from ._backend import backend, build
from .active_rotated_filter import active_rotated_filter
from .box_iou_rotated import box_iou_rotated
from .chamfer_distance import chamfer_distance
from .convex_iou import convex_giou, convex_iou
from .deform_conv2d import DeformConv2d, DeformConv2dPack, deform_conv2d
from .min_area_polygons import min_area_polygons
from .modulated_deform_conv2d import ModulatedDeformConv2d, ModulatedDeformConv2dPack, modulated_deform_conv2d
from .nms import batched_nms, nms
from .nms_rotated import nms_rotated
from .points_in_polygons import points_in_polygons
from .riroi_align_rotated import RiRoIAlignRotated, riroi_align_rotated
from .roi_align import RoIAlign, roi_align
from .roi_align_rotated import RoIAlignRotated, roi_align_rotated
from .rotated_feature_align import rotated_feature_align

__version__ = "0.1.0"

__all__ = [
    "DeformConv2d",
    "DeformConv2dPack",
    "ModulatedDeformConv2d",
    "ModulatedDeformConv2dPack",
    "RiRoIAlignRotated",
    "RoIAlign",
    "RoIAlignRotated",
    "active_rotated_filter",
    "backend",
    "batched_nms",
    "box_iou_rotated",
    "build",
    "chamfer_distance",
    "convex_giou",
    "convex_iou",
    "deform_conv2d",
    "min_area_polygons",
    "modulated_deform_conv2d",
    "nms",
    "nms_rotated",
    "points_in_polygons",
    "riroi_align_rotated",
    "roi_align",
    "roi_align_rotated",
    "rotated_feature_align",
]
