"""Dense heads."""

from rdet_models.heads.csl_rotated_retina_head import CSLRRetinaHead
from rdet_models.heads.kfiou_rotated_retina_head import KFIoURRetinaHead
from rdet_models.heads.rotated_anchor_head import RotatedAnchorHead
from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.heads.rotated_rpn_head import OrientedRPNHead, RotatedRPNHead

__all__ = [
    "CSLRRetinaHead",
    "KFIoURRetinaHead",
    "OrientedRPNHead",
    "RotatedAnchorHead",
    "RotatedRPNHead",
    "RotatedRetinaHead",
]
