"""Scoped type names (MMCV's ``scope.Name``): ``mmcls.X`` builds only what rdet-models implements
as mmcls's (ConvNeXt), ``mmdet.X`` / ``mmrotate.X`` anything else; a mismatch is a named error,
never MMDetection's class built in mmcls's place."""

from __future__ import annotations

import re

import pytest

import rdet_models
from rdet_core import UnknownTypeError
from rdet_models.backbones.convnext import ConvNeXt
from rdet_models.backbones.resnet import ResNet


def test_mmcls_resnet_and_swin_are_named_errors() -> None:
    # mmcls's ResNet has norm_eval=False, out_indices=(3,): building MMDetection's silently was wrong
    with pytest.raises(
        UnknownTypeError, match=re.escape("type='mmcls.ResNet': rdet-models has no mmcls ResNet")
    ) as e:
        rdet_models.build_backbone(dict(type="mmcls.ResNet", depth=18))
    assert "MMDetection's" in str(e.value) and "mmcls types rdet-models provides: ConvNeXt" in str(e.value)
    with pytest.raises(
        UnknownTypeError, match=re.escape("'mmcls.SwinTransformer': rdet-models has no mmcls")
    ):
        rdet_models.build(dict(type="mmcls.SwinTransformer", arch="tiny"))
    with pytest.raises(UnknownTypeError, match=re.escape("MMDetection 2.x has no ConvNeXt")):
        rdet_models.build_backbone(dict(type="mmdet.ConvNeXt", arch="tiny"))
    with pytest.raises(UnknownTypeError, match="no scope 'mmseg'; its scopes are mmdet, mmrotate, mmcls"):
        rdet_models.build_backbone(dict(type="mmseg.ResNet", depth=18))
    with pytest.raises(UnknownTypeError, match="is not in the 'models' registry"):
        rdet_models.build_backbone(dict(type="mmcls.NoSuchNet"))
    # nested: a detector's backbone goes through the same check
    with pytest.raises(UnknownTypeError, match="no mmcls ResNet"):
        rdet_models.build_detector(
            dict(type="RotatedRetinaNet", backbone=dict(type="mmcls.ResNet", depth=18), bbox_head=dict())
        )


def test_what_mmrotate_configs_name_still_builds() -> None:
    """MMRotate 0.3.4's configs name ``mmcls.ConvNeXt`` (the ConvNeXt config); MMRotate registers its
    classes in MMDetection's registries, so ``mmdet.X`` names them, as plain names do."""
    assert isinstance(rdet_models.build_backbone(dict(type="mmcls.ConvNeXt", arch="tiny")), ConvNeXt)
    assert isinstance(rdet_models.build_backbone(dict(type="ConvNeXt", arch="tiny")), ConvNeXt)
    net = rdet_models.build_backbone(dict(type="mmdet.ResNet", depth=18))
    assert isinstance(net, ResNet) and net.norm_eval and net.out_indices == (0, 1, 2, 3)
    assert type(rdet_models.build(dict(type="mmdet.DeltaXYWHAOBBoxCoder"))).__name__ == "DeltaXYWHAOBBoxCoder"
    assert type(rdet_models.build(dict(type="mmrotate.RotatedAnchorGenerator", strides=[8], ratios=[1.0],
                                       scales=[4]))).__name__ == "RotatedAnchorGenerator"  # fmt: skip
