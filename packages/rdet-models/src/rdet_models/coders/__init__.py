"""Box coders (MMRotate's names)."""

from rdet_models.coders.base import BaseBBoxCoder, norm_angle
from rdet_models.coders.csl_coder import CSLCoder
from rdet_models.coders.delta_xywha_hbbox_coder import DeltaXYWHAHBBoxCoder
from rdet_models.coders.delta_xywha_obbox_coder import DeltaXYWHAOBBoxCoder

__all__ = ["BaseBBoxCoder", "CSLCoder", "DeltaXYWHAHBBoxCoder", "DeltaXYWHAOBBoxCoder", "norm_angle"]
