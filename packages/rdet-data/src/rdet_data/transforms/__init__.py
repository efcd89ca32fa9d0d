"""MMRotate's pipeline transforms, registered in ``rdet_data.registry.TRANSFORMS`` under MMRotate's names.

Each takes and returns a ``results`` dict (None: drop this sample). Keys: ``img`` (H, W, C)
numpy, ``img_shape``/``ori_shape``/``pad_shape`` (H, W, C), ``gt_bboxes`` (n, 5) float32
``(cx, cy, w, h, theta)`` pixels / radians, ``gt_labels`` (n,) int64, ``bbox_fields``,
``img_fields``, ``scale_factor`` (4,) float32, ``flip``, ``flip_direction``.
"""

from rdet_data.transforms.albu import Albu
from rdet_data.transforms.compose import Compose
from rdet_data.transforms.formatting import Collect, DefaultFormatBundle, ImageToTensor, to_tensor
from rdet_data.transforms.geometric import PolyRandomRotate, RRandomCrop, RRandomFlip, RResize
from rdet_data.transforms.image import Normalize, Pad
from rdet_data.transforms.loading import (
    LoadAnnotations,
    LoadImageFromFile,
    LoadImageFromWebcam,
    LoadPatchFromImage,
    imread,
)
from rdet_data.transforms.mosaic import RMosaic
from rdet_data.transforms.multiscale_flip import MultiScaleFlipAug
from rdet_data.transforms.photometric import PhotoMetricDistortion

__all__ = [
    "Albu",
    "Collect",
    "Compose",
    "DefaultFormatBundle",
    "ImageToTensor",
    "LoadAnnotations",
    "LoadImageFromFile",
    "LoadImageFromWebcam",
    "LoadPatchFromImage",
    "MultiScaleFlipAug",
    "Normalize",
    "Pad",
    "PhotoMetricDistortion",
    "PolyRandomRotate",
    "RMosaic",
    "RRandomCrop",
    "RRandomFlip",
    "RResize",
    "imread",
    "to_tensor",
]
