"""Layer builders with mmcv 1.x's names (``ConvModule``, ``build_norm_layer``...)."""

from rdet_models.layers.conv_module import (
    ConvModule,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    norm_abbreviation,
)

__all__ = [
    "ConvModule",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "norm_abbreviation",
]
