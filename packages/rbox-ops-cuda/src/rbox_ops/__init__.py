"""Rotated-box ops with mmcv's signatures: compiled C++ (CPU) and CUDA kernels, pure-torch fallbacks.

Importing compiles nothing: the first op call (or ``build()``) loads the cached kernels or
compiles them. ``backend()`` says what runs; ``$RBOX_OPS_BACKEND`` forces it.
"""

from ._backend import backend, build
from .box_iou_rotated import box_iou_rotated
from .nms import batched_nms, nms
from .nms_rotated import nms_rotated
from .roi_align import RoIAlign, roi_align
from .roi_align_rotated import RoIAlignRotated, roi_align_rotated

__version__ = "0.1.0"

__all__ = [
    "RoIAlign",
    "RoIAlignRotated",
    "backend",
    "batched_nms",
    "box_iou_rotated",
    "build",
    "nms",
    "nms_rotated",
    "roi_align",
    "roi_align_rotated",
]
