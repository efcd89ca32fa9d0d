"""Dense heads."""

from rdet_models.heads.csl_rotated_fcos_head import CSLRFCOSHead
from rdet_models.heads.csl_rotated_retina_head import CSLRRetinaHead
from rdet_models.heads.kfiou_odm_refine_head import KFIoUODMRefineHead
from rdet_models.heads.kfiou_rotated_retina_head import KFIoURRetinaHead
from rdet_models.heads.kfiou_rotated_retina_refine_head import KFIoURRetinaRefineHead
from rdet_models.heads.kld_reppoints_head import KLDRepPointsHead
from rdet_models.heads.odm_refine_head import ODMRefineHead
from rdet_models.heads.oriented_reppoints_head import OrientedRepPointsHead
from rdet_models.heads.rotated_anchor_free_head import RotatedAnchorFreeHead
from rdet_models.heads.rotated_anchor_head import RotatedAnchorHead
from rdet_models.heads.rotated_atss_head import RotatedATSSHead
from rdet_models.heads.rotated_fcos_head import RotatedFCOSHead
from rdet_models.heads.rotated_reppoints_head import RotatedRepPointsHead
from rdet_models.heads.rotated_retina_head import RotatedRetinaHead
from rdet_models.heads.rotated_retina_refine_head import RotatedRetinaRefineHead
from rdet_models.heads.rotated_rpn_head import OrientedRPNHead, RotatedRPNHead
from rdet_models.heads.sam_reppoints_head import SAMRepPointsHead

__all__ = [
    "CSLRFCOSHead",
    "CSLRRetinaHead",
    "KFIoUODMRefineHead",
    "KFIoURRetinaHead",
    "KFIoURRetinaRefineHead",
    "KLDRepPointsHead",
    "ODMRefineHead",
    "OrientedRPNHead",
    "OrientedRepPointsHead",
    "RotatedATSSHead",
    "RotatedAnchorFreeHead",
    "RotatedAnchorHead",
    "RotatedFCOSHead",
    "RotatedRPNHead",
    "RotatedRepPointsHead",
    "RotatedRetinaHead",
    "RotatedRetinaRefineHead",
    "SAMRepPointsHead",
]
