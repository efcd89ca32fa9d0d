"""MMDetection 2.x's dense-head signatures and the typed prediction, written once over a dense
head's ``pred_names``, ``loss_by_feat`` and ``_batch_get_bboxes`` (anchor-based and anchor-free)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta
from rdet_models.mmdet_compat import as_metas, detections_as_pairs, gts_from_lists

__all__ = ["DenseHeadAdapters"]


def _with_rois(rois: Sequence[Sequence[torch.Tensor]] | None) -> dict[str, Any]:
    """``rois`` as a keyword for the heads that take it (refine heads), nothing otherwise: the
    anchor-free heads' ``loss_by_feat`` / ``_batch_get_bboxes`` have no such argument."""
    return {} if rois is None else {"rois": rois}


class DenseHeadAdapters:
    """``loss``, ``forward_train``, ``get_bboxes``, ``simple_test``, ``aug_test`` with MMDetection's
    signatures, and ``predict`` / ``predict_by_feat``; a head provides ``pred_names``,
    ``forward``, ``loss_by_feat(outs, gts, metas)`` and ``_batch_get_bboxes(outs, metas, cfg,
    rescale, with_nms)``. Refine heads (anchors from an earlier stage) also take ``rois``, per
    image and level, in both; ``loss``, ``get_bboxes`` and the typed methods pass it on when given."""

    pred_names: tuple[str, ...]

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> Any:
        raise NotImplementedError

    def _batch_get_bboxes(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None,
        rescale: bool,
        with_nms: bool,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _named(self, outs: Sequence[Sequence[torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """Per level, the head's outputs (``forward``'s lists, in ``pred_names`` order) by name."""
        if len(outs) != len(self.pred_names):
            raise ValueError(
                f"{type(self).__name__} has {len(self.pred_names)} outputs {self.pred_names}, got {len(outs)}"
            )
        return [dict(zip(self.pred_names, level)) for level in zip(*outs)]

    def _positional_tail(self, kind: str) -> tuple[str, ...]:
        """The names of the optional positional arguments after the required ones, in
        MMDetection's order; MMRotate's refine heads put ``rois`` there instead."""
        refine = getattr(self, "needs_rois", False)
        if kind == "loss":
            return ("rois", "gt_bboxes_ignore") if refine else ("gt_bboxes_ignore",)
        return ("cfg", "rescale", "rois", "with_nms") if refine else ("cfg", "rescale", "with_nms")

    def _split_args(self, kind: str, args: tuple, required: tuple[str, ...], kwargs: dict[str, Any]) -> dict:
        """The outputs (in ``pred_names`` order), then ``required``, then the optional tail, given
        positionally or by keyword (never both)."""
        n = len(self.pred_names)
        names = (*required, *self._positional_tail(kind))
        given = args[n:]
        if len(args) < n or len(given) > len(names):
            raise TypeError(f"{kind} takes the outputs {self.pred_names}, then {', '.join(names)}")
        out = dict(zip(names, given))
        for name, value in kwargs.items():
            if value is None:
                continue
            if name in out:
                raise TypeError(f"{kind} got {name} both by position and by keyword")
            out[name] = value
        missing = [name for name in required if out.get(name) is None]
        if missing:
            raise TypeError(
                f"{kind} takes the outputs {self.pred_names}, then {', '.join(names)}: {missing} missing"
            )
        out["outs"] = args[:n]
        return out

    def loss(
        self,
        *outs_and_gts: Any,
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
    ) -> dict[str, list[torch.Tensor]] | None:
        """MMDetection's ``loss(cls_scores, bbox_preds[, ...], gt_bboxes, gt_labels, img_metas,
        gt_bboxes_ignore=None)`` (the outputs in ``pred_names`` order; MMRotate's refine heads:
        ``img_metas, rois=None, gt_bboxes_ignore=None``) over ``loss_by_feat``:
        ``dict(loss_cls=[per level], loss_bbox=[per level], ...)``."""
        kw = {"rois": rois, "gt_bboxes_ignore": gt_bboxes_ignore}
        a = self._split_args("loss", outs_and_gts, ("gt_bboxes", "gt_labels", "img_metas"), kw)
        gts = gts_from_lists(a["gt_bboxes"], a["gt_labels"], a.get("gt_bboxes_ignore"))
        return self.loss_by_feat(a["outs"], gts, as_metas(a["img_metas"]), **_with_rois(a.get("rois")))

    def forward_train(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor] | None = None,
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
        proposal_cfg: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        """MMDetection's ``BaseDenseHead.forward_train``: losses [, and detections per image]."""
        outs = self(x)
        metas = as_metas(img_metas)
        losses = self.loss_by_feat(outs, gts_from_lists(gt_bboxes, gt_labels, gt_bboxes_ignore), metas)
        if proposal_cfg is None:
            return losses
        return losses, self.get_bboxes(*outs, img_metas=img_metas, cfg=proposal_cfg)

    def predict_by_feat(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None = None,
        rescale: bool = False,
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> list[Detections]:
        """Per image, the detections after NMS (``test_cfg``, or ``cfg``); ``rescale`` maps the
        boxes back to the original image (dividing by ``scale_factor``)."""
        pairs = self._batch_get_bboxes(outs, as_metas(metas), cfg, rescale, True, **_with_rois(rois))
        return [Detections(dets[:, :5], dets[:, 5], labels) for dets, labels in pairs]

    def predict(
        self,
        x: Sequence[torch.Tensor],
        metas: Sequence[ImageMeta],
        rescale: bool = True,
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> list[Detections]:
        """Forward the features and decode each image's detections (``test_cfg``)."""
        return self.predict_by_feat(self(x), metas, rescale=rescale, **_with_rois(rois))

    def get_bboxes(
        self,
        *outs_and_metas: Any,
        img_metas: Sequence[dict] | None = None,
        cfg: dict | None = None,
        rescale: bool | None = None,
        with_nms: bool | None = None,
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """MMDetection's ``get_bboxes(cls_scores, bbox_preds[, ...], img_metas, cfg=None,
        rescale=False, with_nms=True)`` (MMRotate's refine heads: ``img_metas, cfg=None,
        rescale=False, rois=None``): the head's outputs in ``pred_names`` order, then the rest
        positional or by keyword.

        Per image: (dets (k, 6) ``(cx, cy, w, h, theta, score)``, labels (k,)) after NMS, or
        (boxes (n, 5), scores (n, C + 1)) with ``with_nms=False``.
        """
        kw = {"img_metas": img_metas, "cfg": cfg, "rescale": rescale, "with_nms": with_nms, "rois": rois}
        a = self._split_args("get_bboxes", outs_and_metas, ("img_metas",), kw)
        rescale = bool(a.get("rescale") or False)
        with_nms = True if a.get("with_nms") is None else bool(a["with_nms"])
        return self._batch_get_bboxes(
            list(a["outs"]),
            as_metas(a["img_metas"]),
            a.get("cfg"),
            rescale,
            with_nms,
            **_with_rois(a.get("rois")),
        )

    def simple_test(
        self, feats: Sequence[torch.Tensor], img_metas: Sequence[dict], rescale: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """MMDetection's signature: per image (dets (k, 6), labels (k,))."""
        return detections_as_pairs(self.predict(feats, as_metas(img_metas), rescale=rescale))

    def aug_test(
        self,
        feats: Sequence[Sequence[torch.Tensor]],
        img_metas: Sequence[Sequence[dict]],
        rescale: bool = False,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """MMDetection's signature: ``feats`` per augmentation (the levels of the same N images),
        ``img_metas`` per augmentation N dicts; per image (dets (k, 6), labels (k,)) of the
        augmentations merged by ``rdet_models.tta`` with the head's ``test_cfg`` (its ``tta``
        entry overriding): an anchor head's candidates before NMS, as MMRotate 0.3.4's
        ``RotatedAnchorHead.aug_test``; other heads' detections. Refine heads need their rois:
        test-time augmentation goes through the detector (``detect_aug``)."""
        from collections.abc import Mapping

        from rdet_models.tta import (
            TTAConfigError,
            merge_aug_batches,
            merge_aug_candidate_batches,
            model_angle_version,
            resolve_tta_cfg,
        )

        if len(feats) != len(img_metas):
            raise ValueError(f"{len(feats)} augmentations of features but {len(img_metas)} of metas")
        metas = [as_metas(m) for m in img_metas]
        test_cfg = getattr(self, "test_cfg", None)
        test_cfg = test_cfg if isinstance(test_cfg, Mapping) else None
        candidates = bool(getattr(self, "supports_aug_candidates", False))
        cfg = resolve_tta_cfg(test_cfg_tta=test_cfg.get("tta") if test_cfg is not None else None).resolved(
            test_cfg, "candidates" if candidates else "detections"
        )
        version = cfg.version or model_angle_version(self)
        if version is None:
            raise TTAConfigError(
                f"{type(self).__name__}: no box coder declares an angle version: set test_cfg.tta.version"
            )
        if cfg.merge == "candidates":
            if not candidates:
                raise TTAConfigError(f"{type(self).__name__} has no candidates before NMS to merge")
            per_aug = [self.predict_candidates(f, m) for f, m in zip(feats, metas)]  # type: ignore[attr-defined]
            merged = merge_aug_candidate_batches(per_aug, metas, version, cfg, rescale)
        else:
            per_image = [self.predict(f, m, rescale=True) for f, m in zip(feats, metas)]
            merged = merge_aug_batches(per_image, metas, version, cfg, rescale)
        return detections_as_pairs(merged)
