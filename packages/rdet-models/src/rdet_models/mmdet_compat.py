"""MMDetection 2.x's untyped protocol at the edge: ``img_metas`` dicts and ``gt_*`` lists to and
from ``rdet_core.structures``' ``ImageMeta`` and ``GroundTruth``.

Inside rdet-models heads and detectors speak the typed structures; the MMDetection-style
entry points that configs and ported code call (``forward_train``, ``simple_test``,
``get_bboxes``, ``loss``) convert with these functions and call the typed methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta

__all__ = ["as_metas", "detections_as_pairs", "gts_from_lists", "meta_from_dict"]

_META_FIELDS = ("filename", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip", "flip_direction")


def meta_from_dict(meta: Mapping[str, Any]) -> ImageMeta:
    """An ``ImageMeta`` from MMRotate's ``img_metas`` dict (``ImageMeta.as_mmrotate``'s inverse).

    ``img_shape`` is required; ``ori_shape`` defaults to it; keys that are not ``ImageMeta``
    fields (``batch_input_shape``, ``img_norm_cfg``, ...) go to ``extra``.
    """
    if "img_shape" not in meta:
        raise KeyError(f"an img_metas dict needs 'img_shape'; got keys {sorted(meta)}")
    scale_factor = meta.get("scale_factor", 1.0)
    if isinstance(scale_factor, torch.Tensor):
        scale_factor = scale_factor.detach().cpu().numpy()
    return ImageMeta(
        filename=meta.get("filename"),
        ori_shape=tuple(meta.get("ori_shape", meta["img_shape"])),
        img_shape=tuple(meta["img_shape"]),
        pad_shape=None if meta.get("pad_shape") is None else tuple(meta["pad_shape"]),
        scale_factor=scale_factor,
        flip=bool(meta.get("flip", False)),
        flip_direction=meta.get("flip_direction") if meta.get("flip") else None,
        extra={k: v for k, v in meta.items() if k not in _META_FIELDS},
    )


def as_metas(img_metas: Sequence[Mapping[str, Any] | ImageMeta]) -> list[ImageMeta]:
    """Each meta as an ``ImageMeta`` (dicts converted, ``ImageMeta`` kept)."""
    return [m if isinstance(m, ImageMeta) else meta_from_dict(m) for m in img_metas]


def gts_from_lists(
    gt_bboxes: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor] | None,
    gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
) -> list[GroundTruth]:
    """MMDetection's per-image ``gt_bboxes`` (k, 5), ``gt_labels`` (k,) and optional
    ``gt_bboxes_ignore`` (j, 5) as ``GroundTruth`` (ignored boxes get label -1: unknown).

    ``gt_labels=None`` (class-agnostic heads: the RPN) gives labels 0.
    """
    if gt_labels is not None and len(gt_labels) != len(gt_bboxes):
        raise ValueError(f"{len(gt_bboxes)} images of gt_bboxes but {len(gt_labels)} of gt_labels")
    if gt_bboxes_ignore is not None and len(gt_bboxes_ignore) != len(gt_bboxes):
        raise ValueError(
            f"{len(gt_bboxes)} images of gt_bboxes but {len(gt_bboxes_ignore)} of gt_bboxes_ignore"
        )
    out = []
    for i, boxes in enumerate(gt_bboxes):
        labels = boxes.new_zeros((boxes.shape[0],), dtype=torch.long) if gt_labels is None else gt_labels[i]
        ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore[i]
        if ignore is None:
            out.append(GroundTruth(boxes, labels))
        else:
            out.append(GroundTruth(boxes, labels, ignore, labels.new_full((ignore.shape[0],), -1)))
    return out


def detections_as_pairs(dets: Sequence[Detections]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """MMDetection's per-image ``(det_bboxes (k, 6) with the score last, det_labels (k,))``."""
    return [(torch.cat([d.boxes, d.scores[:, None]], dim=1), d.labels) for d in dets]
