"""Rotated boxes, angle versions, conversions and exact rotated IoU, without torch.

numpy in, numpy out; torch in, torch out (same dtype and device). torch is never imported
by this package unless a tensor is passed in. See README.md.
"""

from .angles import (
    ANGLE_RANGES,
    VERSIONS,
    convert_version,
    from_old_oc,
    in_range,
    norm_angle,
    regularize,
    to_old_oc,
)
from .convert import (
    get_best_begin_point,
    hbb2obb,
    min_area_rect,
    obb2hbb,
    obb2poly,
    obb2poly_np,
    obb2xyxy,
    poly2obb,
    poly2obb_np,
)
from .gaussian import gaussian2bbox, gaussian2xywhr, gt2gaussian, xy_wh_r_2_xy_sigma, xywhr2gaussian
from .iou import box_iou_rotated, rbbox_overlaps
from .polygon import polygon_area, polygon_overlaps
from .transforms import (
    ISOTROPIC_RTOL,
    bbox_flip,
    clip_rboxes,
    flip_rboxes,
    is_isotropic,
    points_in_rboxes,
    rbox_area,
    rescale_rboxes,
    rotate_rboxes,
    translate_rboxes,
)

__version__ = "0.1.0"

# MMRotate kept separate numpy names; ours take either array type. Aliases so ported code runs.
hbb2obb_np = hbb2obb
obb2hbb_np = obb2hbb
obb2xyxy_np = obb2xyxy
norm_angle_np = norm_angle

__all__ = [
    "ANGLE_RANGES",
    "ISOTROPIC_RTOL",
    "VERSIONS",
    "bbox_flip",
    "box_iou_rotated",
    "clip_rboxes",
    "convert_version",
    "flip_rboxes",
    "from_old_oc",
    "gaussian2bbox",
    "gaussian2xywhr",
    "get_best_begin_point",
    "gt2gaussian",
    "hbb2obb",
    "hbb2obb_np",
    "in_range",
    "is_isotropic",
    "min_area_rect",
    "norm_angle",
    "norm_angle_np",
    "obb2hbb",
    "obb2hbb_np",
    "obb2poly",
    "obb2poly_np",
    "obb2xyxy",
    "obb2xyxy_np",
    "points_in_rboxes",
    "poly2obb",
    "poly2obb_np",
    "polygon_area",
    "polygon_overlaps",
    "rbbox_overlaps",
    "rbox_area",
    "regularize",
    "rescale_rboxes",
    "rotate_rboxes",
    "to_old_oc",
    "translate_rboxes",
    "xy_wh_r_2_xy_sigma",
    "xywhr2gaussian",
]
