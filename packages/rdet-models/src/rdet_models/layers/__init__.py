"""Layers and layer builders with mmcv 1.x's and MMRotate's names (``ConvModule``, ``Scale``,
``ORConv2d``, ``RotationInvariantPooling``, ``build_norm_layer``...) and S2A-Net's
``AlignConvModule``."""

from rdet_models.layers.align_conv import AlignConv, AlignConvModule, align_conv_offset
from rdet_models.layers.conv_module import (
    ConvModule,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    conv_tower,
    norm_abbreviation,
)
from rdet_models.layers.feature_refine_module import FeatureRefineModule
from rdet_models.layers.layer_norm import LayerNorm2d
from rdet_models.layers.orconv import ORConv2d
from rdet_models.layers.ripool import RotationInvariantPooling
from rdet_models.layers.scale import Scale
from rdet_models.layers.transformer import FFN, DropPath, PatchEmbed, PatchMerging

__all__ = [
    "FFN",
    "AlignConv",
    "AlignConvModule",
    "ConvModule",
    "DropPath",
    "FeatureRefineModule",
    "LayerNorm2d",
    "ORConv2d",
    "PatchEmbed",
    "PatchMerging",
    "RotationInvariantPooling",
    "Scale",
    "align_conv_offset",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "conv_tower",
    "norm_abbreviation",
]
