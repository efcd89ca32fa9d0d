"""Box coders (MMRotate's names)."""

from rdet_models.coders.base import BaseBBoxCoder, norm_angle
from rdet_models.coders.csl_coder import CSLCoder
from rdet_models.coders.delta_xywh_bbox_coder import DeltaXYWHBBoxCoder
from rdet_models.coders.delta_xywha_hbbox_coder import DeltaXYWHAHBBoxCoder
from rdet_models.coders.delta_xywha_obbox_coder import DeltaXYWHAOBBoxCoder
from rdet_models.coders.distance_angle_point_coder import DistanceAnglePointCoder, DistancePointBBoxCoder
from rdet_models.coders.gliding_vertex_coder import GVFixCoder, GVRatioCoder
from rdet_models.coders.midpoint_offset_coder import MidpointOffsetCoder

__all__ = [
    "BaseBBoxCoder",
    "CSLCoder",
    "DeltaXYWHAHBBoxCoder",
    "DeltaXYWHAOBBoxCoder",
    "DeltaXYWHBBoxCoder",
    "DistanceAnglePointCoder",
    "DistancePointBBoxCoder",
    "GVFixCoder",
    "GVRatioCoder",
    "MidpointOffsetCoder",
    "norm_angle",
]
