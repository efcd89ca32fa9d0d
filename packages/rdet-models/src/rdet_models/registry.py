"""rdet-models' registries, with MMDetection 2.x's and MMRotate 0.3.x's names.

As in MMDetection 2.x, backbones, necks, heads, losses and detectors share one registry,
``MODELS`` (entry-point group ``rdet.models``); box coders, assigners, samplers, IoU
calculators and prior (anchor) generators each have their own. ``rdet_models.build`` searches
them in turn, so they share the namespace ``rdet_models``: a type name may live in only one.

Building, as MMCV 1.x builds:

- ``MODELS.build([cfg, cfg, ...])`` (a list, e.g. ``neck=[dict(type='FPN', ...), dict(...)]``)
  is MMCV's ``build_model_from_cfg``: an ``nn.Sequential`` (``rdet_models.init.Sequential``) of
  each, so that their weights are ``neck.0.*``, ``neck.1.*``.
- A scoped type (``'mmcls.ConvNeXt'``, ``'mmdet.ResNet'``) builds only what that scope names in
  MMCV: MMRotate 0.3.x registers its classes in MMDetection 2.x's registries, so ``mmdet.X``
  (and MMRotate 1.x's ``mmrotate.X``) is any rdet-models type but mmcls's; ``mmcls.X`` is one of
  :data:`SCOPE_TYPES` ``['mmcls']`` only (rdet's ``ResNet`` and ``SwinTransformer`` are
  MMDetection's, whose arguments and defaults are not mmcls's). A mismatch is an
  ``UnknownTypeError`` naming the type and what the scope has. (``Registry.get`` itself, rdet-core's,
  still falls back to a scoped name's last part.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rdet_core import Registry, UnknownTypeError, build_from_cfg

#: the types rdet-models implements as another OpenMMLab library's (by MMCV scope); every other
#: type is MMDetection 2.x's or MMRotate 0.3.x's (scope ``mmdet``, also written ``mmrotate``)
SCOPE_TYPES: dict[str, frozenset[str]] = {"mmcls": frozenset({"ConvNeXt"})}
_MMDET_SCOPES = ("mmdet", "mmrotate")


def check_scope(registry: Registry, key: str) -> None:
    """Raise ``UnknownTypeError`` when the scoped type ``key`` (``'mmcls.ResNet'``) would build a
    class that its scope does not have (see the module's docstring); nothing for a plain name, a
    name the registry does not know (its own error follows) or one registered with its dots.
    """
    if "." not in key:
        return
    scope, name = key.split(".", 1)[0], key.rsplit(".", 1)[1]
    obj = registry.get(key)
    if obj is None or obj is not registry.get(name):
        return
    owner = next((s for s, names in SCOPE_TYPES.items() if name in names), "mmdet")
    scoped = ", ".join(sorted(n for names in SCOPE_TYPES.values() for n in names))
    if scope not in _MMDET_SCOPES and scope not in SCOPE_TYPES:
        known = ", ".join([*_MMDET_SCOPES, *SCOPE_TYPES])
        raise UnknownTypeError(
            f"type={key!r}: rdet-models has no scope {scope!r}; its scopes are {known} "
            f"({', '.join(SCOPE_TYPES)}: {scoped}; mmdet and mmrotate: every other type)"
        )
    if owner == "mmdet" and scope in SCOPE_TYPES:
        available = ", ".join(sorted(SCOPE_TYPES[scope]))
        raise UnknownTypeError(
            f"type={key!r}: rdet-models has no {scope} {name}; the registered {name} "
            f"({obj.__module__}.{getattr(obj, '__qualname__', name)}) is MMDetection's / MMRotate's, "
            f"whose arguments and defaults are not {scope}'s. "
            f"{scope} types rdet-models provides: {available}. For MMDetection's {name}, write "
            f"type={name!r} (or 'mmdet.{name}')."
        )
    if owner != "mmdet" and scope != owner:
        raise UnknownTypeError(
            f"type={key!r}: MMDetection 2.x has no {name}; rdet-models' {name} is {owner}'s: write "
            f"type='{owner}.{name}' (or {name!r})."
        )


def _build_component(cfg: Any, registry: Registry, **default_args: Any) -> Any:
    """``build_from_cfg`` after :func:`check_scope` (every rdet-models registry)."""
    if isinstance(cfg, Mapping) and isinstance(cfg.get("type"), str):
        check_scope(registry, cfg["type"])
    return build_from_cfg(cfg, registry, default_args or None)


def _build_model(cfg: Any, registry: Registry, **default_args: Any) -> Any:
    """MMCV's ``build_model_from_cfg``: a list of configs -> ``Sequential`` of each (``MODELS``)."""
    if isinstance(cfg, list):
        from rdet_models.init import Sequential

        return Sequential(*(_build_model(c, registry, **default_args) for c in cfg))
    return _build_component(cfg, registry, **default_args)


MODELS = Registry("models", namespace="rdet_models", build_func=_build_model)
BACKBONES = NECKS = HEADS = LOSSES = DETECTORS = SHARED_HEADS = ROI_EXTRACTORS = MODELS
ROTATED_BACKBONES = ROTATED_NECKS = ROTATED_HEADS = ROTATED_LOSSES = ROTATED_DETECTORS = MODELS
ROTATED_SHARED_HEADS = ROTATED_ROI_EXTRACTORS = MODELS

BBOX_CODERS = ROTATED_BBOX_CODERS = Registry(
    "bbox_coders", namespace="rdet_models", build_func=_build_component
)
BBOX_ASSIGNERS = ROTATED_BBOX_ASSIGNERS = Registry(
    "bbox_assigners", namespace="rdet_models", build_func=_build_component
)
BBOX_SAMPLERS = ROTATED_BBOX_SAMPLERS = Registry(
    "bbox_samplers", namespace="rdet_models", build_func=_build_component
)
IOU_CALCULATORS = ROTATED_IOU_CALCULATORS = Registry(
    "iou_calculators", namespace="rdet_models", build_func=_build_component
)
PRIOR_GENERATORS = ANCHOR_GENERATORS = ROTATED_PRIOR_GENERATORS = ROTATED_ANCHOR_GENERATORS = Registry(
    "prior_generators", namespace="rdet_models", build_func=_build_component
)

__all__ = [
    "ANCHOR_GENERATORS",
    "BACKBONES",
    "BBOX_ASSIGNERS",
    "BBOX_CODERS",
    "BBOX_SAMPLERS",
    "DETECTORS",
    "HEADS",
    "IOU_CALCULATORS",
    "LOSSES",
    "MODELS",
    "NECKS",
    "PRIOR_GENERATORS",
    "ROI_EXTRACTORS",
    "ROTATED_ANCHOR_GENERATORS",
    "ROTATED_BACKBONES",
    "ROTATED_BBOX_ASSIGNERS",
    "ROTATED_BBOX_CODERS",
    "ROTATED_BBOX_SAMPLERS",
    "ROTATED_DETECTORS",
    "ROTATED_HEADS",
    "ROTATED_IOU_CALCULATORS",
    "ROTATED_LOSSES",
    "ROTATED_NECKS",
    "ROTATED_PRIOR_GENERATORS",
    "ROTATED_ROI_EXTRACTORS",
    "ROTATED_SHARED_HEADS",
    "SCOPE_TYPES",
    "SHARED_HEADS",
    "check_scope",
]
