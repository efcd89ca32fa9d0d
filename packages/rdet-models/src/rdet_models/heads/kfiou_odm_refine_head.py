"""``KFIoUODMRefineHead``: S2A-Net's ODM with the KFIoU box loss (MMRotate 0.3.x)."""

from __future__ import annotations

from rdet_models.heads.kfiou_rotated_retina_head import KFIoURRetinaHead
from rdet_models.heads.odm_refine_head import ODMRefineHead
from rdet_models.registry import MODELS

__all__ = ["KFIoUODMRefineHead"]


@MODELS.register_module()
class KFIoUODMRefineHead(ODMRefineHead, KFIoURRetinaHead):
    """:class:`ODMRefineHead`'s layers, anchors (the FAM head's ``rois``) and options;
    :class:`KFIoURRetinaHead`'s box loss: ``loss_bbox(pred, target, weight, pred_decode=...,
    targets_decode=...)``, both decoded against the rois. Names and checkpoint keys are MMRotate's."""
