"""Backbones."""

from rdet_models.backbones.resnet import ResNet

__all__ = ["ResNet"]
