"""ReDet (MMRotate's ``ReDet``): ReResNet + ReFPN (e2cnn) + RotatedRPNHead + RoITransRoIHead whose
second stage pools with ``RiRoIAlignRotated`` (rbox_ops). Needs ``pip install rdet-models[redet]``."""

from __future__ import annotations

from rdet_models.detectors.two_stage import RotatedTwoStageDetector
from rdet_models.layers.e2cnn_compat import e2cnn_nn
from rdet_models.registry import MODELS

__all__ = ["ReDet"]


@MODELS.register_module()
class ReDet(RotatedTwoStageDetector):
    """`ReDet: A Rotation-equivariant Detector for Aerial Object Detection` (CVPR 2021): a
    two-stage detector with MMRotate's arguments; the typed passes are RotatedTwoStageDetector's."""

    def __init__(
        self,
        backbone: dict,
        rpn_head: dict,
        roi_head: dict,
        train_cfg: dict | None,
        test_cfg: dict | None,
        neck: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        e2cnn_nn()  # fails first, naming the extra, when e2cnn is missing
        super().__init__(
            backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
            test_cfg=test_cfg, pretrained=pretrained, init_cfg=init_cfg,
        )  # fmt: skip
