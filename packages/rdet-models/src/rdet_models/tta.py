"""Test-time augmentation: detections of augmented copies of an image, mapped back to the
original image and merged (MMRotate 1.x's ``RotatedTTAModel``).

The test pipeline's ``MultiScaleFlipAug`` makes the copies (scales x flips); ``collate``
gives one ``DetBatch`` per copy, and the detector predicts each one in original-image pixels
(its own rescale divides by the copy's ``scale_factor``). Here each copy's boxes are unflipped
in the original image (horizontal: ``cx -> W - cx``, vertical: ``cy -> H - cy``, the angle
mirrored; diagonal: both, the angle kept; ``rbox_geometry.flip_rboxes``, the geometry
``RRandomFlip`` flips with), regularised to the model's angle version, and all copies' boxes
go through one class-wise rotated NMS.

Settings (:class:`TTAConfig`; MMRotate 1.x's defaults): ``nms=dict(type='nms_rotated',
iou_thr=0.1)``, ``max_per_img=2000``; ``version`` (the angle version of the merged boxes)
defaults to the model's (:func:`model_angle_version`). A config gives them as
``model.test_cfg.tta``, as a top-level ``tta = dict(...)``, or as MMRotate 1.x's
``tta_model = dict(type='RotatedTTAModel', tta_cfg=dict(...))``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import rbox_geometry as rg
from rdet_core.structures import Detections, ImageMeta

__all__ = [
    "TTAConfig",
    "TTAConfigError",
    "merge_aug_batches",
    "merge_aug_detections",
    "model_angle_version",
    "resolve_tta_cfg",
    "unmap_detections",
]

VERSIONS = ("oc", "le135", "le90")
_NMS_TYPES = ("nms_rotated", "rotated_nms")
_KEYS = ("nms", "max_per_img", "version")
_NMS_KEYS = ("type", "iou_thr", "iou_threshold")


class TTAConfigError(ValueError):
    """A test-time augmentation setting that cannot work; the message names it."""


def _unknown(keys: Sequence[str], allowed: Sequence[str], where: str) -> None:
    bad = [k for k in keys if k not in allowed]
    if bad:
        hints = [
            f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, allowed, 1)) else repr(k)
            for k in bad
        ]
        raise TTAConfigError(f"{where}: unknown key {', '.join(hints)}; keys: {', '.join(allowed)}")


@dataclass(frozen=True)
class TTAConfig:
    """How augmented detections are merged.

    Attributes:
        iou_thr: Class-wise rotated NMS threshold of the merge, in (0, 1] (MMRotate 1.x: 0.1).
        max_per_img: Detections kept per image after the merge, by score (MMRotate 1.x: 2000).
        version: Angle version of the merged boxes; None: the model's.
    """

    iou_thr: float = 0.1
    max_per_img: int = 2000
    version: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.iou_thr, bool) or not isinstance(self.iou_thr, (int, float)):
            raise TTAConfigError(f"tta nms iou_thr must be a number in (0, 1], got {self.iou_thr!r}")
        if not 0 < self.iou_thr <= 1:
            raise TTAConfigError(f"tta nms iou_thr must be in (0, 1], got {self.iou_thr}")
        if (
            isinstance(self.max_per_img, bool)
            or not isinstance(self.max_per_img, int)
            or self.max_per_img < 1
        ):
            raise TTAConfigError(f"tta max_per_img must be a positive integer, got {self.max_per_img!r}")
        if self.version is not None and self.version not in VERSIONS:
            raise TTAConfigError(f"tta version must be one of {', '.join(VERSIONS)}, got {self.version!r}")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | TTAConfig | None) -> TTAConfig:
        """From ``dict(nms=dict(type='nms_rotated', iou_thr=0.1), max_per_img=2000, version=None)``
        (``iou_threshold`` as MMCV 2 spells it; missing keys take the defaults), MMRotate 1.x's
        whole ``tta_model = dict(type='RotatedTTAModel', tta_cfg=dict(...))``, or None.

        Raises:
            TTAConfigError: An unknown key, NMS type or version, an IoU threshold outside
                (0, 1], a non-positive ``max_per_img``.
        """
        if cfg is None:
            return cls()
        if isinstance(cfg, TTAConfig):
            return cfg
        if not isinstance(cfg, Mapping):
            raise TTAConfigError(f"tta config must be a dict, got {type(cfg).__name__}")
        cfg = dict(cfg)
        if "tta_cfg" in cfg or "type" in cfg:  # MMRotate 1.x's tta_model
            kind = cfg.pop("type", "RotatedTTAModel")
            if kind not in ("RotatedTTAModel", "DetTTAModel"):
                raise TTAConfigError(f"tta_model type must be RotatedTTAModel, got {kind!r}")
            cfg.pop("module", None)
            _unknown(list(cfg), ("tta_cfg",), "tta_model")
            cfg = dict(cfg.get("tta_cfg") or {})
        _unknown(list(cfg), _KEYS, "tta")
        kwargs: dict[str, Any] = {}
        nms = cfg.get("nms")
        if nms is not None:
            if not isinstance(nms, Mapping):
                raise TTAConfigError(f"tta nms must be a dict like dict(iou_thr=0.1), got {nms!r}")
            _unknown(list(nms), _NMS_KEYS, "tta nms")
            kind = nms.get("type", "nms_rotated")
            if kind not in _NMS_TYPES:
                raise TTAConfigError(f"tta nms type must be nms_rotated (boxes are rotated), got {kind!r}")
            if "iou_thr" in nms and "iou_threshold" in nms:
                raise TTAConfigError("tta nms: give iou_thr or iou_threshold, not both")
            thr = nms.get("iou_thr", nms.get("iou_threshold"))
            if thr is not None:
                kwargs["iou_thr"] = thr
        if cfg.get("max_per_img") is not None:
            kwargs["max_per_img"] = cfg["max_per_img"]
        if cfg.get("version") is not None:
            kwargs["version"] = cfg["version"]
        return cls(**kwargs)


def resolve_tta_cfg(**sources: Mapping[str, Any] | TTAConfig | None) -> TTAConfig:
    """The one given source (by name, e.g. ``tta=..., tta_model=..., test_cfg_tta=...``) as a
    ``TTAConfig``; the defaults when none is given.

    Raises:
        TTAConfigError: More than one source is given (which one wins would be a guess).
    """
    given = {k: v for k, v in sources.items() if v is not None}
    if len(given) > 1:
        raise TTAConfigError(f"test-time augmentation is configured twice ({', '.join(given)}): keep one")
    return TTAConfig.from_cfg(next(iter(given.values()), None))


def model_angle_version(model: torch.nn.Module) -> str | None:
    """The angle version of a model's output boxes: its ``angle_version`` attribute if set,
    else that of the last (deepest stage's) box coder that declares one (``angle_range`` /
    ``angle_version`` / ``version`` of ``bbox_coder``, ``fix_coder`` ...), else a module's
    own ``angle_version`` / ``version``; None if nothing says."""

    def declared(obj: Any, attrs: Sequence[str]) -> str | None:
        for attr in attrs:
            value = getattr(obj, attr, None)
            if isinstance(value, str) and value in VERSIONS:
                return value
        return None

    own = declared(model, ("angle_version",))
    if own is not None:
        return own
    modules = list(model.modules())
    for module in reversed(modules):  # later modules: later stages
        for name in sorted(vars(module)):
            if name.endswith("coder"):
                found = declared(getattr(module, name), ("angle_range", "angle_version", "version"))
                if found is not None:
                    return found
    for module in reversed(modules):
        found = declared(module, ("angle_version", "version"))
        if found is not None:
            return found
    return None


def _check_direction(meta: ImageMeta) -> str | None:
    if not meta.flip:
        return None
    if meta.flip_direction not in ("horizontal", "vertical", "diagonal"):
        raise TTAConfigError(
            f"flip direction {meta.flip_direction!r} of {meta.filename or 'an image'}: "
            "must be horizontal, vertical or diagonal"
        )
    return meta.flip_direction


def unmap_detections(dets: Detections, meta: ImageMeta, version: str) -> Detections:
    """Detections of an augmented copy, in original-image pixels but still flipped (what
    ``detect(..., rescale=True)`` gives), moved into the original image: the flip undone in
    ``meta.ori_shape`` (``rbox_geometry.flip_rboxes``, exact mirror) and the boxes regularised
    to ``version``. numpy or torch, as given."""
    boxes = dets.boxes
    direction = _check_direction(meta)
    if direction is not None:
        boxes = rg.flip_rboxes(boxes, meta.ori_shape, direction, version, pixel_offset=0.0)
    boxes = rg.regularize(boxes, version)
    return Detections(boxes, dets.scores, dets.labels)


def _same_image(metas: Sequence[ImageMeta], image: int) -> None:
    first = metas[0]
    for a, meta in enumerate(metas[1:], start=1):
        if tuple(meta.ori_shape[:2]) != tuple(first.ori_shape[:2]) or meta.filename != first.filename:
            raise ValueError(
                f"image {image}: augmentation {a} is of {meta.filename or 'an array'} "
                f"{tuple(meta.ori_shape[:2])}, augmentation 0 of {first.filename or 'an array'} "
                f"{tuple(first.ori_shape[:2])}: every augmentation must hold the same images in the same order"
            )


def merge_aug_detections(
    aug_dets: Sequence[Detections],
    metas: Sequence[ImageMeta],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None = None,
    rescale: bool = True,
) -> Detections:
    """One image's detections from its augmented copies: each copy unmapped
    (:func:`unmap_detections`), all concatenated, then class-wise rotated NMS at
    ``cfg.iou_thr`` (a box only suppresses boxes of its class) and the ``cfg.max_per_img``
    best kept, in descending score order.

    Args:
        aug_dets: Per copy, its detections in original-image pixels (``rescale=True``).
        metas: Per copy, its ``ImageMeta`` (flip, flip direction, original shape).
        version: Angle version of the boxes (``cfg.version`` wins when set).
        rescale: False: boxes in the first copy's pixels (times its ``scale_factor``), as
            MMDetection's ``aug_test(..., rescale=False)``.

    Returns:
        ``Detections`` of the type (numpy or torch) of the inputs.
    """
    from rbox_ops import nms_rotated

    if len(aug_dets) != len(metas):
        raise ValueError(f"{len(aug_dets)} augmentations of detections but {len(metas)} of metas")
    if not aug_dets:
        raise ValueError("merge_aug_detections: no augmentation")
    cfg = TTAConfig.from_cfg(cfg)
    version = cfg.version or version
    if version not in VERSIONS:
        raise TTAConfigError(f"angle version must be one of {', '.join(VERSIONS)}, got {version!r}")
    as_numpy = not isinstance(aug_dets[0].boxes, torch.Tensor)
    parts = []
    for dets, meta in zip(aug_dets, metas):
        d = Detections(
            torch.as_tensor(dets.boxes, dtype=torch.float32).reshape(-1, 5),
            torch.as_tensor(dets.scores, dtype=torch.float32).reshape(-1),
            torch.as_tensor(dets.labels, dtype=torch.long).reshape(-1),
        )
        parts.append(unmap_detections(d, meta, version))
    device = parts[0].boxes.device
    boxes = torch.cat([p.boxes.to(device) for p in parts])
    scores = torch.cat([p.scores.to(device) for p in parts])
    labels = torch.cat([p.labels.to(device) for p in parts])
    if len(boxes):
        _, keep = nms_rotated(boxes, scores, cfg.iou_thr, labels)
        keep = keep[: cfg.max_per_img]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if not rescale:
        factor = boxes.new_tensor(np.asarray(metas[0].scale_factor, np.float32))
        boxes = torch.cat([boxes[:, :4] * factor, boxes[:, 4:]], dim=1)
    merged = Detections(boxes, scores, labels)
    return merged.numpy() if as_numpy else merged


def merge_aug_batches(
    per_aug: Sequence[Sequence[Detections]],
    metas: Sequence[Sequence[ImageMeta]],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None = None,
    rescale: bool = True,
) -> list[Detections]:
    """Per augmentation a list over the images (one batch each) -> one merged ``Detections``
    per image (:func:`merge_aug_detections`). Every augmentation holds the same images in the
    same order (checked by file name and original shape)."""
    if len(per_aug) != len(metas):
        raise ValueError(f"{len(per_aug)} augmentations of detections but {len(metas)} of metas")
    sizes = {len(m) for m in metas} | {len(d) for d in per_aug}
    if len(sizes) != 1:
        raise ValueError(f"augmentations of different batch sizes: {sorted(sizes)}")
    out = []
    for i in range(len(metas[0])):
        image_metas = [m[i] for m in metas]
        _same_image(image_metas, i)
        out.append(merge_aug_detections([d[i] for d in per_aug], image_metas, version, cfg, rescale))
    return out
