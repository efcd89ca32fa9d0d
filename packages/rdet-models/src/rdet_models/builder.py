"""``build(cfg)``: any registered rdet-models component from its config dict.

The ``type`` is looked up in the models registry (backbones, necks, heads, losses,
detectors), then in the coder, assigner, sampler, IoU-calculator and prior-generator
registries. The per-kind builders (``build_backbone`` ...) are MMDetection's names.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from rdet_core import Registry
from rdet_models.registry import (
    BBOX_ASSIGNERS,
    BBOX_CODERS,
    BBOX_SAMPLERS,
    IOU_CALCULATORS,
    MODELS,
    PRIOR_GENERATORS,
)

__all__ = [
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
]

_ALL: tuple[Registry, ...] = (
    MODELS,
    BBOX_CODERS,
    BBOX_ASSIGNERS,
    BBOX_SAMPLERS,
    IOU_CALCULATORS,
    PRIOR_GENERATORS,
)


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(cfg, Mapping):
        raise TypeError(f"a component config must be a dict, got {type(cfg).__name__}: {cfg!r}")
    return dict(cfg)


def _model_cfg(cfg: Mapping[str, Any] | list) -> dict[str, Any] | list:
    """A model config dict, or a list of them (built as MMCV's ``Sequential``)."""
    if isinstance(cfg, list):
        return [_plain(c) for c in cfg]
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"a component config must be a dict or a list of dicts, got {type(cfg).__name__}: {cfg!r}"
        )
    return dict(cfg)


def build(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    """Build the component named by ``cfg['type']`` from whichever rdet-models registry has it.

    Raises:
        KeyError: no ``type``. rdet_core.UnknownTypeError: no registry knows the name.
    """
    cfg = _plain(cfg)
    if "type" not in cfg:
        raise KeyError(f"a component config needs a 'type' key, got keys {sorted(cfg)}")
    kind = cfg["type"]
    if not isinstance(kind, str):
        return MODELS.build(cfg, **default_args)
    for registry in _ALL:
        if registry.get(kind) is not None:
            return registry.build(cfg, **default_args)
    raise MODELS.unknown_type_error(kind)


def build_backbone(cfg: Mapping[str, Any] | list) -> Any:
    """A backbone, neck, head or loss; a list of configs builds an ``nn.Sequential`` of them
    (MMCV's ``build_model_from_cfg``: ``neck=[dict(type='FPN', ...), ...]``, keys ``neck.0.*``)."""
    return MODELS.build(_model_cfg(cfg))


build_neck = build_head = build_loss = build_backbone


def build_detector(
    cfg: Mapping[str, Any], train_cfg: Mapping | None = None, test_cfg: Mapping | None = None
) -> Any:
    """Build a detector; outer ``train_cfg`` / ``test_cfg`` are deprecated (put them in the model)."""
    cfg = _plain(cfg)
    if train_cfg is not None or test_cfg is not None:
        warnings.warn(
            "train_cfg and test_cfg outside the model config are deprecated", UserWarning, stacklevel=2
        )
        if "train_cfg" in cfg and train_cfg is not None:
            raise ValueError("train_cfg given both outside and inside the model config")
        if "test_cfg" in cfg and test_cfg is not None:
            raise ValueError("test_cfg given both outside and inside the model config")
        if train_cfg is not None:
            cfg["train_cfg"] = train_cfg
        if test_cfg is not None:
            cfg["test_cfg"] = test_cfg
    return MODELS.build(cfg)


def build_bbox_coder(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    return BBOX_CODERS.build(_plain(cfg), **default_args)


def build_assigner(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    return BBOX_ASSIGNERS.build(_plain(cfg), **default_args)


def build_sampler(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    return BBOX_SAMPLERS.build(_plain(cfg), **default_args)


def build_iou_calculator(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    return IOU_CALCULATORS.build(_plain(cfg), **default_args)


def build_prior_generator(cfg: Mapping[str, Any], **default_args: Any) -> Any:
    return PRIOR_GENERATORS.build(_plain(cfg), **default_args)


build_anchor_generator = build_prior_generator
