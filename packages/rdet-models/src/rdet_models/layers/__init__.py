"""Layers and layer builders with mmcv 1.x's and MMRotate's names (``ConvModule``, ``Scale``,
``ORConv2d``, ``RotationInvariantPooling``, ``build_norm_layer``...)."""

from rdet_models.layers.conv_module import (
    ConvModule,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    norm_abbreviation,
)
from rdet_models.layers.orconv import ORConv2d
from rdet_models.layers.ripool import RotationInvariantPooling
from rdet_models.layers.scale import Scale

__all__ = [
    "ConvModule",
    "ORConv2d",
    "RotationInvariantPooling",
    "Scale",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "norm_abbreviation",
]
