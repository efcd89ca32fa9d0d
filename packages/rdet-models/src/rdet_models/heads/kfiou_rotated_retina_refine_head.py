"""``KFIoURRetinaRefineHead``: R3Det's refinement stage with the KFIoU box loss (MMRotate 0.3.x)."""

from __future__ import annotations

from rdet_models.heads.kfiou_rotated_retina_head import KFIoURRetinaHead
from rdet_models.heads.rotated_retina_refine_head import RotatedRetinaRefineHead
from rdet_models.registry import MODELS

__all__ = ["KFIoURRetinaRefineHead"]


@MODELS.register_module()
class KFIoURRetinaRefineHead(RotatedRetinaRefineHead, KFIoURRetinaHead):
    """:class:`RotatedRetinaRefineHead` (anchors: the previous stage's ``rois``) whose box loss
    is :class:`KFIoURRetinaHead`'s: ``loss_bbox(pred, target, weight, pred_decode=...,
    targets_decode=...)``, both decoded against the ``rois``. An instance of both, as MMRotate's
    is a ``KFIoURRetinaHead``."""
