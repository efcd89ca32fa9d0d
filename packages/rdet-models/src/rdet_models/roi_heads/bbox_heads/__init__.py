"""RoI box heads."""

from rdet_models.roi_heads.bbox_heads.convfc_rbbox_head import (
    RotatedConvFCBBoxHead,
    RotatedKFIoUShared2FCBBoxHead,
    RotatedShared2FCBBoxHead,
)
from rdet_models.roi_heads.bbox_heads.gv_bbox_head import GVBBoxHead
from rdet_models.roi_heads.bbox_heads.rotated_bbox_head import RotatedBBoxHead, build_linear_layer

__all__ = [
    "GVBBoxHead",
    "RotatedBBoxHead",
    "RotatedConvFCBBoxHead",
    "RotatedKFIoUShared2FCBBoxHead",
    "RotatedShared2FCBBoxHead",
    "build_linear_layer",
]
