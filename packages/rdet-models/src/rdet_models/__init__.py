"""Rotated object detectors: backbones, necks, heads, coders, assigners, losses, with MMRotate's names.

``rdet_models.build(cfg)`` builds any registered component from its config dict; importing
the package registers everything.
"""

from rdet_models import (
    anchors,
    assigners,
    backbones,
    coders,
    detectors,
    heads,
    losses,
    necks,
    roi_heads,
    samplers,
)
from rdet_models.builder import (
    build,
    build_assigner,
    build_backbone,
    build_bbox_coder,
    build_detector,
    build_head,
    build_iou_calculator,
    build_loss,
    build_neck,
    build_prior_generator,
    build_sampler,
)
from rdet_models.checkpoint import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    load_checkpoint,
)
from rdet_models.fuse import fuse_conv_bn
from rdet_models.postprocess import multiclass_nms_rotated, rbbox2result
from rdet_models.registry import (
    BBOX_ASSIGNERS,
    BBOX_CODERS,
    BBOX_SAMPLERS,
    IOU_CALCULATORS,
    MODELS,
    PRIOR_GENERATORS,
)
from rdet_models.utils import NonFiniteLossError, check_finite_losses, parse_losses

__version__ = "0.1.0"

__all__ = [
    "BBOX_ASSIGNERS",
    "BBOX_CODERS",
    "BBOX_SAMPLERS",
    "IOU_CALCULATORS",
    "MODELS",
    "PRIOR_GENERATORS",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "NonFiniteLossError",
    "UnsafeCheckpointError",
    "__version__",
    "anchors",
    "assigners",
    "backbones",
    "build",
    "build_assigner",
    "build_backbone",
    "build_bbox_coder",
    "build_detector",
    "build_head",
    "build_iou_calculator",
    "build_loss",
    "build_neck",
    "build_prior_generator",
    "build_sampler",
    "check_finite_losses",
    "coders",
    "detectors",
    "fuse_conv_bn",
    "heads",
    "load_checkpoint",
    "losses",
    "multiclass_nms_rotated",
    "necks",
    "parse_losses",
    "rbbox2result",
    "roi_heads",
    "samplers",
]
