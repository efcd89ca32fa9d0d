"""Backbones."""

from rdet_models.backbones.convnext import ConvNeXt
from rdet_models.backbones.re_resnet import ReResNet
from rdet_models.backbones.resnet import ResNet, ResNetV1d
from rdet_models.backbones.resnext import ResNeXt
from rdet_models.backbones.swin import SwinTransformer

__all__ = ["ConvNeXt", "ReResNet", "ResNeXt", "ResNet", "ResNetV1d", "SwinTransformer"]
