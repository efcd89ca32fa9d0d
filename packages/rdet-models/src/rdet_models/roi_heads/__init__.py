"""RoI heads of the two-stage detectors: extractors, box heads, RoI heads (MMRotate's names)."""

from rdet_models.roi_heads.bbox_heads import (
    GVBBoxHead,
    RotatedBBoxHead,
    RotatedConvFCBBoxHead,
    RotatedKFIoUShared2FCBBoxHead,
    RotatedShared2FCBBoxHead,
)
from rdet_models.roi_heads.roi_extractors import (
    BaseRoIExtractor,
    RotatedSingleRoIExtractor,
    SingleRoIExtractor,
)
from rdet_models.roi_heads.roi_trans_roi_head import RoITransRoIHead
from rdet_models.roi_heads.standard_roi_head import (
    GVRatioRoIHead,
    OrientedStandardRoIHead,
    RotatedStandardRoIHead,
)
from rdet_models.roi_heads.transforms import bbox2roi, rbbox2roi

__all__ = [
    "BaseRoIExtractor",
    "GVBBoxHead",
    "GVRatioRoIHead",
    "OrientedStandardRoIHead",
    "RoITransRoIHead",
    "RotatedBBoxHead",
    "RotatedConvFCBBoxHead",
    "RotatedKFIoUShared2FCBBoxHead",
    "RotatedShared2FCBBoxHead",
    "RotatedSingleRoIExtractor",
    "RotatedStandardRoIHead",
    "SingleRoIExtractor",
    "bbox2roi",
    "rbbox2roi",
]
