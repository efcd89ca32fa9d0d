"""Test-time augmentation: augmented copies of an image, detected, mapped back to the original
image and merged.

The test pipeline's ``MultiScaleFlipAug`` makes the copies (scales x flips); ``collate`` gives
one ``DetBatch`` per copy. Each copy's boxes, in original-image pixels (mapped back by the copy's
``scale_factor``, :func:`rdet_models.rescale.rescale_rboxes`), are unflipped in the original image (horizontal: ``cx -> W - cx``, vertical:
``cy -> H - cy``, the angle mirrored; diagonal: both, the angle kept; ``rbox_geometry.flip_rboxes``,
the geometry ``RRandomFlip`` flips with) and regularised to the model's angle version. Two merges:

- ``'candidates'``: MMRotate 0.3.4's ``RotatedAnchorHead.aug_test`` (the Rotated RetinaNet family:
  a single-stage detector whose head is a ``RotatedAnchorHead``; the default there). Each copy's
  candidates *before* NMS (``get_bboxes(..., with_nms=False)``: the ``nms_pre`` best anchors per
  level, decoded, with their class scores) are pooled; each candidate keeps its best class
  (``max`` over the foreground scores); candidates with score > ``score_thr`` go through rotated
  NMS per class at ``iou_thr`` and the ``max_per_img`` best are kept
  (``aug_multiclass_nms_rotated``). (:func:`merge_aug_candidates`)
- ``'detections'``: MMRotate 1.x's ``RotatedTTAModel``: each copy's final detections (after its
  own NMS) are pooled and go through one class-wise rotated NMS at ``iou_thr``; the
  ``max_per_img`` best are kept. MMRotate 0.3.4 has no working test-time augmentation for the
  other detectors (two-stage, S2A-Net, R3Det, FCOS, RepPoints); rdet merges their detections so,
  the default there. (:func:`merge_aug_detections`)

Settings (:class:`TTAConfig`): by default the model's own ``test_cfg`` (two-stage: ``test_cfg.rcnn``)
drives the merge, as in MMRotate 0.3.4: ``score_thr``, ``nms.iou_thr``, ``max_per_img``.
``model.test_cfg.tta`` or a config's top-level ``tta = dict(nms=dict(iou_thr=...), max_per_img=...,
score_thr=..., version=...)`` overrides some of them (rdet's); MMRotate 1.x's ``tta_model =
dict(type='RotatedTTAModel', tta_cfg=dict(nms=..., max_per_img=...))`` selects the ``'detections'``
merge with its settings (missing ones: ``RotatedTTAModel``'s 0.1 and 2000, no ``score_thr``).
``version`` (the angle version of the merged boxes) defaults to the model's (:func:`model_angle_version`).
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
from rdet_models.rescale import rescale_rboxes

__all__ = [
    "MERGES",
    "TTAConfig",
    "TTAConfigError",
    "merge_aug_batches",
    "merge_aug_candidate_batches",
    "merge_aug_candidates",
    "merge_aug_detections",
    "model_angle_version",
    "resolve_tta_cfg",
    "unmap_detections",
]

VERSIONS = ("oc", "le135", "le90")
_NMS_TYPES = ("nms_rotated", "rotated_nms")
_KEYS = ("nms", "max_per_img", "score_thr", "version")
#: the two ways to merge (see the module's docstring)
MERGES = ("candidates", "detections")
#: MMRotate 1.x's ``RotatedTTAModel`` settings in its configs, for what a merge is not told
DEFAULT_IOU_THR, DEFAULT_MAX_PER_IMG = 0.1, 2000
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
    """How augmented detections are merged; None: not set here (see :meth:`resolved`).

    Attributes:
        iou_thr: Class-wise rotated NMS threshold of the merge, in (0, 1].
        max_per_img: Detections kept per image after the merge, by score; -1: all.
        score_thr: Only candidates / detections scoring above it are merged, in [0, 1].
        version: Angle version of the merged boxes; None: the model's.
        merge: ``'candidates'`` (MMRotate 0.3.4's ``aug_test``) or ``'detections'`` (MMRotate
            1.x's ``RotatedTTAModel``); None: the model's default.
    """

    iou_thr: float | None = None
    max_per_img: int | None = None
    score_thr: float | None = None
    version: str | None = None
    merge: str | None = None

    def __post_init__(self) -> None:
        if self.iou_thr is not None:
            if isinstance(self.iou_thr, bool) or not isinstance(self.iou_thr, (int, float)):
                raise TTAConfigError(f"tta nms iou_thr must be a number in (0, 1], got {self.iou_thr!r}")
            if not 0 < self.iou_thr <= 1:
                raise TTAConfigError(f"tta nms iou_thr must be in (0, 1], got {self.iou_thr}")
        if self.max_per_img is not None and (
            isinstance(self.max_per_img, bool)
            or not isinstance(self.max_per_img, int)
            or (self.max_per_img < 1 and self.max_per_img != -1)
        ):
            raise TTAConfigError(
                f"tta max_per_img must be a positive integer (or -1: all), got {self.max_per_img!r}"
            )
        if self.score_thr is not None and (
            isinstance(self.score_thr, bool)
            or not isinstance(self.score_thr, (int, float))
            or not 0 <= self.score_thr <= 1
        ):
            raise TTAConfigError(f"tta score_thr must be a number in [0, 1], got {self.score_thr!r}")
        if self.version is not None and self.version not in VERSIONS:
            raise TTAConfigError(f"tta version must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        if self.merge is not None and self.merge not in MERGES:
            raise TTAConfigError(f"tta merge must be one of {', '.join(MERGES)}, got {self.merge!r}")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | TTAConfig | None) -> TTAConfig:
        """From ``dict(nms=dict(type='nms_rotated', iou_thr=0.1), max_per_img=2000, score_thr=0.05,
        version=None)`` (``iou_threshold`` as MMCV 2 spells it; missing keys stay None: the
        model's ``test_cfg`` fills them), MMRotate 1.x's whole ``tta_model =
        dict(type='RotatedTTAModel', tta_cfg=dict(...))`` (the ``'detections'`` merge, missing
        keys ``RotatedTTAModel``'s: IoU 0.1, 2000 per image), or None (nothing set).

        Raises:
            TTAConfigError: An unknown key, NMS type or version, an IoU threshold outside
                (0, 1], a ``max_per_img`` that is not a positive integer or -1.
        """
        if cfg is None:
            return cls()
        if isinstance(cfg, TTAConfig):
            return cfg
        if not isinstance(cfg, Mapping):
            raise TTAConfigError(f"tta config must be a dict, got {type(cfg).__name__}")
        cfg = dict(cfg)
        mmrotate1 = "tta_cfg" in cfg or "type" in cfg
        if mmrotate1:  # MMRotate 1.x's tta_model
            kind = cfg.pop("type", "RotatedTTAModel")
            if kind not in ("RotatedTTAModel", "DetTTAModel"):
                raise TTAConfigError(f"tta_model type must be RotatedTTAModel, got {kind!r}")
            cfg.pop("module", None)
            _unknown(list(cfg), ("tta_cfg",), "tta_model")
            cfg = dict(cfg.get("tta_cfg") or {})
            _unknown(list(cfg), ("nms", "max_per_img", "version"), "tta_model tta_cfg")
        _unknown(list(cfg), _KEYS, "tta")
        kwargs: dict[str, Any] = {}
        nms = cfg.get("nms")
        if nms is not None:
            thr = _nms_iou_thr(nms, "tta nms")
            if thr is not None:
                kwargs["iou_thr"] = thr
        for key in ("max_per_img", "score_thr", "version"):
            if cfg.get(key) is not None:
                kwargs[key] = cfg[key]
        if mmrotate1:
            kwargs.setdefault("iou_thr", DEFAULT_IOU_THR)
            kwargs.setdefault("max_per_img", DEFAULT_MAX_PER_IMG)
            kwargs["merge"] = "detections"
        return cls(**kwargs)

    @classmethod
    def from_test_cfg(cls, test_cfg: Mapping[str, Any] | None) -> TTAConfig:
        """A detector's (final stage's) ``test_cfg`` as merge settings, as MMRotate 0.3.4's
        ``aug_test`` reads them: ``score_thr``, ``nms.iou_thr`` (or ``iou_threshold``),
        ``max_per_img`` (<= 0: all). Keys it lacks stay None."""
        if not isinstance(test_cfg, Mapping):
            return cls()
        kwargs: dict[str, Any] = {}
        if test_cfg.get("nms") is not None:
            thr = _nms_iou_thr(test_cfg["nms"], "test_cfg nms", check_keys=False)
            if thr is not None:
                kwargs["iou_thr"] = thr
        max_per_img = test_cfg.get("max_per_img")
        if max_per_img is not None:
            kwargs["max_per_img"] = max_per_img if max_per_img > 0 else -1
        if test_cfg.get("score_thr") is not None:
            kwargs["score_thr"] = test_cfg["score_thr"]
        return cls(**kwargs)

    def resolved(self, test_cfg: Mapping[str, Any] | None, merge: str) -> TTAConfig:
        """These settings, with what they leave unset taken from ``test_cfg`` (a detector's final
        stage's; :meth:`from_test_cfg`) and the merge from ``merge`` (the detector's default).
        A ``'detections'`` merge chosen by MMRotate 1.x's ``tta_model`` takes nothing from
        ``test_cfg`` (``RotatedTTAModel`` does not read it)."""
        if self.merge == "detections":
            return self
        base = TTAConfig.from_test_cfg(test_cfg)
        return TTAConfig(
            iou_thr=self.iou_thr if self.iou_thr is not None else base.iou_thr,
            max_per_img=self.max_per_img if self.max_per_img is not None else base.max_per_img,
            score_thr=self.score_thr if self.score_thr is not None else base.score_thr,
            version=self.version,
            merge=self.merge or merge,
        )


def _nms_iou_thr(nms: Any, where: str, check_keys: bool = True) -> Any:
    if not isinstance(nms, Mapping):
        raise TTAConfigError(f"{where} must be a dict like dict(iou_thr=0.1), got {nms!r}")
    if check_keys:
        _unknown(list(nms), _NMS_KEYS, where)
    kind = nms.get("type", "nms_rotated")
    if check_keys and kind not in _NMS_TYPES:
        raise TTAConfigError(f"{where} type must be nms_rotated (boxes are rotated), got {kind!r}")
    if "iou_thr" in nms and "iou_threshold" in nms:
        raise TTAConfigError(f"{where}: give iou_thr or iou_threshold, not both")
    return nms.get("iou_thr", nms.get("iou_threshold"))


def resolve_tta_cfg(**sources: Mapping[str, Any] | TTAConfig | None) -> TTAConfig:
    """The one given source (by name, e.g. ``tta=..., tta_model=..., test_cfg_tta=...``) as a
    ``TTAConfig``; one with nothing set when none is given (the model's ``test_cfg`` then
    drives the merge: :meth:`TTAConfig.resolved`).

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


def _checked(aug: Sequence[Any], metas: Sequence[ImageMeta], version: str, cfg: Any) -> tuple[TTAConfig, str]:
    if len(aug) != len(metas):
        raise ValueError(f"{len(aug)} augmentations of detections but {len(metas)} of metas")
    if not aug:
        raise ValueError("merging augmentations: no augmentation")
    cfg = TTAConfig.from_cfg(cfg)
    version = cfg.version or version
    if version not in VERSIONS:
        raise TTAConfigError(f"angle version must be one of {', '.join(VERSIONS)}, got {version!r}")
    return cfg, version


def _nms_and_cap(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    metas: Sequence[ImageMeta],
    cfg: TTAConfig,
    rescale: bool,
    version: str,
) -> Detections:
    """Candidates above ``cfg.score_thr`` -> class-wise rotated NMS at ``cfg.iou_thr`` -> the
    ``cfg.max_per_img`` best, by descending score (``rescale=False``: mapped into the first copy's
    pixels by its ``scale_factor``, :func:`rdet_models.rescale.rescale_rboxes`)."""
    from rbox_ops import nms_rotated

    if cfg.score_thr is not None:
        above = scores > cfg.score_thr
        boxes, scores, labels = boxes[above], scores[above], labels[above]
    if len(boxes):
        iou_thr = cfg.iou_thr if cfg.iou_thr is not None else DEFAULT_IOU_THR
        max_per_img = cfg.max_per_img if cfg.max_per_img is not None else DEFAULT_MAX_PER_IMG
        _, keep = nms_rotated(boxes, scores, iou_thr, labels)  # by descending score
        if max_per_img > 0:
            keep = keep[:max_per_img]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if not rescale:
        boxes = rescale_rboxes(boxes, np.asarray(metas[0].scale_factor, np.float32), version, inverse=False)
    return Detections(boxes, scores, labels)


def merge_aug_detections(
    aug_dets: Sequence[Detections],
    metas: Sequence[ImageMeta],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None = None,
    rescale: bool = True,
) -> Detections:
    """One image's final detections from its augmented copies (MMRotate 1.x's
    ``RotatedTTAModel``): each copy unmapped (:func:`unmap_detections`), all concatenated, those
    above ``cfg.score_thr`` (when set) through class-wise rotated NMS at ``cfg.iou_thr`` (a box
    only suppresses boxes of its class) and the ``cfg.max_per_img`` best kept, in descending
    score order (unset: IoU 0.1, 2000).

    Args:
        aug_dets: Per copy, its detections in original-image pixels (``rescale=True``).
        metas: Per copy, its ``ImageMeta`` (flip, flip direction, original shape).
        version: Angle version of the boxes (``cfg.version`` wins when set).
        rescale: False: boxes in the first copy's pixels (mapped by its ``scale_factor``, through
            the corners when it changes the aspect ratio), as MMDetection's
            ``aug_test(..., rescale=False)``.

    Returns:
        ``Detections`` of the type (numpy or torch) of the inputs.
    """
    cfg, version = _checked(aug_dets, metas, version, cfg)
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
    merged = _nms_and_cap(
        torch.cat([p.boxes.to(device) for p in parts]),
        torch.cat([p.scores.to(device) for p in parts]),
        torch.cat([p.labels.to(device) for p in parts]),
        metas,
        cfg,
        rescale,
        version,
    )
    return merged.numpy() if as_numpy else merged


def merge_aug_candidates(
    aug_candidates: Sequence[tuple[torch.Tensor, torch.Tensor]],
    metas: Sequence[ImageMeta],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None = None,
    rescale: bool = True,
) -> Detections:
    """One image's detections from its augmented copies' candidates before NMS, as MMRotate
    0.3.4's ``RotatedAnchorHead.aug_test``: each copy's boxes unmapped (flip undone, regularised),
    all concatenated; each candidate takes its best foreground class (``max`` over the scores
    without the last, background, column); those with score > ``cfg.score_thr`` go through
    rotated NMS per class at ``cfg.iou_thr`` and the ``cfg.max_per_img`` best are kept
    (``aug_multiclass_nms_rotated``), here in descending score order (unset: no threshold,
    IoU 0.1, 2000).

    Args:
        aug_candidates: Per copy, ``(boxes (n, 5), scores (n, C + 1))`` in original-image pixels:
            a dense head's ``get_bboxes(..., rescale=True, with_nms=False)`` of one image.
        metas, version, rescale: as :func:`merge_aug_detections`.

    Returns:
        ``Detections`` (torch).

    Raises:
        FloatingPointError: a NaN or inf among the candidates (the model has diverged).
    """
    from rdet_models.postprocess import check_finite_predictions

    cfg, version = _checked(aug_candidates, metas, version, cfg)
    device = aug_candidates[0][0].device
    all_boxes, all_scores, all_labels = [], [], []
    for (boxes, scores), meta in zip(aug_candidates, metas):
        boxes = torch.as_tensor(boxes, dtype=torch.float32).to(device).reshape(-1, 5)
        scores = torch.as_tensor(scores, dtype=torch.float32).to(device)
        if scores.dim() != 2 or scores.shape[0] != boxes.shape[0] or scores.shape[1] < 2:
            raise ValueError(
                f"candidates: scores must be (n, num_classes + 1) for (n, 5) boxes, got "
                f"{tuple(scores.shape)} for {tuple(boxes.shape)}"
            )
        check_finite_predictions(boxes, scores)
        best, labels = scores[:, :-1].max(dim=1)  # the background column is last
        unmapped = unmap_detections(Detections(boxes, best, labels), meta, version)
        all_boxes.append(unmapped.boxes)
        all_scores.append(best)
        all_labels.append(labels)
    return _nms_and_cap(
        torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels), metas, cfg, rescale, version
    )


def _per_image(
    merge: Any,
    per_aug: Sequence[Sequence[Any]],
    metas: Sequence[Sequence[ImageMeta]],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None,
    rescale: bool,
) -> list[Detections]:
    if len(per_aug) != len(metas):
        raise ValueError(f"{len(per_aug)} augmentations of detections but {len(metas)} of metas")
    sizes = {len(m) for m in metas} | {len(d) for d in per_aug}
    if len(sizes) != 1:
        raise ValueError(f"augmentations of different batch sizes: {sorted(sizes)}")
    out = []
    for i in range(len(metas[0])):
        image_metas = [m[i] for m in metas]
        _same_image(image_metas, i)
        out.append(merge([d[i] for d in per_aug], image_metas, version, cfg, rescale))
    return out


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
    return _per_image(merge_aug_detections, per_aug, metas, version, cfg, rescale)


def merge_aug_candidate_batches(
    per_aug: Sequence[Sequence[tuple[torch.Tensor, torch.Tensor]]],
    metas: Sequence[Sequence[ImageMeta]],
    version: str,
    cfg: TTAConfig | Mapping[str, Any] | None = None,
    rescale: bool = True,
) -> list[Detections]:
    """:func:`merge_aug_batches` for candidates before NMS (:func:`merge_aug_candidates`)."""
    return _per_image(merge_aug_candidates, per_aug, metas, version, cfg, rescale)
