"""``RotatedBaseDetector``: MMDetection's detector interface plus rdet's ``loss(batch)`` / ``predict(batch)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rdet_core.structures import DetBatch, Detections, GroundTruth, ImageMeta, detections_to_result
from rdet_models.builder import build_backbone, build_neck
from rdet_models.init import BaseModule
from rdet_models.mmdet_compat import as_metas, gts_from_lists
from rdet_models.utils import parse_losses

__all__ = ["RotatedBaseDetector", "sanitize_gt"]


def sanitize_gt(gt: GroundTruth, min_size: float = 1.0) -> GroundTruth:
    """``gt`` without the boxes that would make the losses NaN: non-finite values, or w or h
    < ``min_size`` px (tensors; the ignored boxes are kept as they are)."""
    boxes, labels = gt.boxes, gt.labels
    if boxes.numel() == 0:
        return GroundTruth(boxes.reshape(0, 5), labels.reshape(0), gt.boxes_ignore, gt.labels_ignore)
    keep = torch.isfinite(boxes).all(dim=1) & (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return GroundTruth(boxes[keep], labels[keep], gt.boxes_ignore, gt.labels_ignore)


class RotatedBaseDetector(BaseModule):
    """Base of rotated detectors.

    Two faces over the same network:

    - rdet's: ``loss(batch: DetBatch) -> dict[str, Tensor | list[Tensor]]`` (MMDetection's names:
      ``loss_cls``, ``loss_bbox`` ...; lists hold one tensor per FPN level) and
      ``predict(batch) -> list[Detections]`` in original-image pixels.
    - MMDetection's: ``forward(img, img_metas, return_loss=True, **kw)``, ``forward_train``,
      ``simple_test(img, img_metas, rescale)`` -> per image a list per class of (k, 6) arrays,
      ``train_step(data, optimizer)``: thin adapters that turn ``img_metas`` dicts and ``gt_*``
      lists into ``ImageMeta`` / ``GroundTruth`` (``rdet_models.mmdet_compat``).

    Both go through two typed passes a detector implements: ``losses(img, gts, metas)`` and
    ``detect(img, metas, rescale) -> list[Detections]``.
    """

    #: ground-truth boxes with w or h below this (pixels), or non-finite, are dropped in training
    min_gt_size: float = 1.0

    def __init__(self, init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg)
        self.fp16_enabled = False
        self.CLASSES: Sequence[str] | None = None

    def _init_backbone_neck(self, backbone: dict, neck: dict | None, pretrained: str | None) -> None:
        backbone = dict(backbone)
        if pretrained:
            backbone["pretrained"] = pretrained
        self.backbone = build_backbone(backbone)
        if neck is not None:
            self.neck = build_neck(neck)

    @property
    def with_neck(self) -> bool:
        return hasattr(self, "neck") and self.neck is not None

    def extract_feat(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, 3, H, W) -> multi-level features (backbone, then the neck if any)."""
        x = self.backbone(img)
        return self.neck(x) if self.with_neck else x

    def _sanitized(self, gts: Sequence[GroundTruth]) -> list[GroundTruth]:
        """Each image's ground truth without the invalid boxes (``sanitize_gt`` with ``min_gt_size``)."""
        return [sanitize_gt(gt, self.min_gt_size) for gt in gts]

    # -- the typed network passes: provided by subclasses ----------------------------------------

    def losses(
        self, img: torch.Tensor, gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, Any]:
        """Training losses of images (N, 3, H, W) with their ground truth (tensors on the
        model's device) and metas: MMDetection's names (``loss_cls``, ``loss_bbox`` ...; lists
        hold one tensor per FPN level). Invalid ground-truth boxes are dropped first."""
        raise NotImplementedError

    def detect(self, img: torch.Tensor, metas: Sequence[ImageMeta], rescale: bool = True) -> list[Detections]:
        """Per image, its detections (torch tensors), in original-image pixels with ``rescale``."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    # -- rdet's entry points --------------------------------------------------------------------

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def _images(self, batch: DetBatch) -> torch.Tensor:
        images = (
            batch.images
            if isinstance(batch.images, torch.Tensor)
            else torch.as_tensor(np.asarray(batch.images))
        )
        return images.to(device=self._device(), dtype=torch.float32)

    def _gt_on_device(self, gt: GroundTruth) -> GroundTruth:
        device = self._device()

        def t(x: Any, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(
                device=device, dtype=dtype
            )

        return GroundTruth(
            t(gt.boxes, torch.float32).reshape(-1, 5),
            t(gt.labels, torch.long).reshape(-1),
            t(gt.boxes_ignore, torch.float32).reshape(-1, 5),
            t(gt.labels_ignore, torch.long).reshape(-1),
        )

    def loss(self, batch: DetBatch) -> dict[str, Any]:
        """Training losses of a batch with ground truth (MMDetection's names and structure)."""
        if batch.gts is None:
            raise ValueError("loss() needs a DetBatch with ground truth (gts)")
        return self.losses(self._images(batch), [self._gt_on_device(g) for g in batch.gts], batch.metas)

    @torch.no_grad()
    def predict(self, batch: DetBatch | Sequence[DetBatch], rescale: bool = True) -> list[Detections]:
        """Per image, detections in original-image pixels (``rescale``) as torch tensors.

        A list of batches (what ``collate`` gives for a test pipeline whose
        ``MultiScaleFlipAug`` has several scales or flips: one ``DetBatch`` per augmentation,
        the same images in the same order) is test-time augmentation: each augmentation is
        detected, mapped back to the original image and merged (:meth:`detect_aug`).
        """
        if isinstance(batch, DetBatch):
            return self.detect(self._images(batch), batch.metas, rescale=rescale)
        batches = list(batch)
        if not batches or not all(isinstance(b, DetBatch) for b in batches):
            raise TypeError("predict takes a DetBatch or a non-empty list of them (one per augmentation)")
        if len(batches) == 1:
            return self.detect(self._images(batches[0]), batches[0].metas, rescale=rescale)
        return self.detect_aug([self._images(b) for b in batches], [b.metas for b in batches], rescale)

    # -- test-time augmentation -----------------------------------------------------------------

    #: how augmented detections merge (``rdet_models.tta.TTAConfig`` or its dict); None: the
    #: ``tta`` entry of ``test_cfg`` if any, else the model's ``test_cfg`` alone (``init_detector``
    #: sets it from a config's top-level ``tta`` / ``tta_model``)
    tta_cfg: Any = None

    def _tta_test_cfg(self) -> Any:
        """The ``test_cfg`` of the stage whose detections are final (two-stage: ``rcnn``)."""
        from collections.abc import Mapping

        test_cfg = getattr(self, "test_cfg", None)
        if not isinstance(test_cfg, Mapping):
            return None
        rcnn = test_cfg.get("rcnn")
        return rcnn if isinstance(rcnn, Mapping) else test_cfg

    def _tta_default_merge(self) -> str:
        """``'candidates'`` where MMRotate 0.3.4 has a test-time augmentation (a single-stage
        detector whose head can give its candidates before NMS), else ``'detections'``."""
        return "detections"

    def tta_config(self) -> Any:
        """The ``rdet_models.tta.TTAConfig`` this detector merges augmentations with: ``tta_cfg``
        or ``test_cfg.tta`` (at most one), what they leave unset from the final stage's
        ``test_cfg`` (``score_thr``, ``nms.iou_thr``, ``max_per_img``, as MMRotate 0.3.4), and the
        merge (MMRotate 1.x's ``tta_model``: ``'detections'``; else the detector's default).

        Raises:
            rdet_models.tta.TTAConfigError: A bad setting, or settings both in ``tta_cfg`` and
                in ``test_cfg.tta``.
        """
        from collections.abc import Mapping

        from rdet_models.tta import resolve_tta_cfg

        test_cfg = getattr(self, "test_cfg", None)
        in_test_cfg = test_cfg.get("tta") if isinstance(test_cfg, Mapping) else None
        given = resolve_tta_cfg(tta=self.tta_cfg, test_cfg_tta=in_test_cfg)
        return given.resolved(self._tta_test_cfg(), self._tta_default_merge())

    def detect_candidates(
        self, img: torch.Tensor, metas: Sequence[ImageMeta]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image, the candidates before NMS ``(boxes (n, 5), scores (n, C + 1))`` in
        original-image pixels: what MMRotate 0.3.4's ``aug_test`` merges. Single-stage detectors
        with an anchor head only."""
        raise TypeError(
            f"{type(self).__name__} cannot give its candidates before NMS: merge test-time "
            "augmentations by their detections (tta_model=dict(type='RotatedTTAModel'))"
        )

    def detect_aug(
        self, imgs: Sequence[torch.Tensor], metas: Sequence[Sequence[ImageMeta]], rescale: bool = True
    ) -> list[Detections]:
        """Test-time augmentation, typed: per augmentation its images (N, 3, H, W) and metas
        (the same N images each time) -> per image the merged detections (torch), in
        original-image pixels (``rescale=False``: in the first augmentation's pixels).
        Each augmentation's candidates before NMS (``'candidates'``, MMRotate 0.3.4's
        ``aug_test``) or detections (``'detections'``, MMRotate 1.x's ``RotatedTTAModel``) are
        unflipped, regularised to the model's angle version and merged by class-wise rotated NMS
        with :meth:`tta_config`'s settings (``rdet_models.tta``)."""
        from rdet_models.tta import (
            TTAConfigError,
            merge_aug_batches,
            merge_aug_candidate_batches,
            model_angle_version,
        )

        if len(imgs) != len(metas):
            raise ValueError(f"{len(imgs)} augmentations of images but {len(metas)} of metas")
        if not imgs:
            raise ValueError("detect_aug: no augmentation")
        cfg = self.tta_config()
        version = cfg.version or model_angle_version(self)
        if version is None:
            raise TTAConfigError(
                f"{type(self).__name__}: cannot tell the angle version of its boxes (no box coder "
                "declares one): set tta=dict(version='le90' | 'le135' | 'oc')"
            )
        if cfg.merge == "candidates":
            candidates = [self.detect_candidates(img, m) for img, m in zip(imgs, metas)]
            return merge_aug_candidate_batches(candidates, metas, version, cfg, rescale)
        per_aug = [self.detect(img, m, rescale=True) for img, m in zip(imgs, metas)]
        return merge_aug_batches(per_aug, metas, version, cfg, rescale)

    # -- MMDetection's entry points, over the typed passes ----------------------------------------

    def forward_train(
        self,
        img: torch.Tensor,
        img_metas: list[dict],
        gt_bboxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        gt_bboxes_ignore: list[torch.Tensor] | None = None,
        gt_masks: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """MMDetection's signature over ``losses``: ``gt_bboxes`` per image (k, 5)
        ``(cx, cy, w, h, theta)``, ``gt_labels`` (k,); ``gt_masks`` is accepted and unused, as in
        MMRotate (no mask heads); other keywords (``proposals``) go to ``losses``."""
        for meta in img_metas:
            meta["batch_input_shape"] = tuple(img.size()[-2:])
        gts = gts_from_lists(gt_bboxes, gt_labels, gt_bboxes_ignore)
        return self.losses(img, gts, as_metas(img_metas), **kwargs)

    def simple_test(
        self, img: torch.Tensor, img_metas: list[dict], rescale: bool = False, **kwargs: Any
    ) -> list[list[np.ndarray]]:
        """Per image, MMRotate's result: a list per class of (k, 6) float32 arrays."""
        dets = self.detect(img, as_metas(img_metas), rescale=rescale, **kwargs)
        return [detections_to_result(d, self.num_classes) for d in dets]

    def aug_test(
        self, imgs: list[torch.Tensor], img_metas: list[list[dict]], rescale: bool = False, **kwargs: Any
    ) -> list[list[np.ndarray]]:
        """MMDetection's signature over :meth:`detect_aug`: ``imgs`` one (N, 3, H, W) tensor per
        augmentation, ``img_metas`` per augmentation a list of N dicts; per image MMRotate's
        result (a list per class of (k, 6) float32 arrays) of the merged detections."""
        if kwargs:
            raise TypeError(f"aug_test got unexpected arguments {sorted(kwargs)}")
        dets = self.detect_aug(imgs, [as_metas(m) for m in img_metas], rescale=rescale)
        return [detections_to_result(d, self.num_classes) for d in dets]

    def forward_test(
        self, imgs: list[torch.Tensor] | torch.Tensor, img_metas: list[list[dict]] | list[dict], **kwargs: Any
    ) -> list[Any]:
        if isinstance(imgs, torch.Tensor):
            imgs, img_metas = [imgs], [img_metas]  # type: ignore[list-item]
        if len(imgs) != len(img_metas):
            raise ValueError(f"{len(imgs)} augmentations of images but {len(img_metas)} of metas")
        for img, metas in zip(imgs, img_metas):
            for meta in metas:
                meta["batch_input_shape"] = tuple(img.size()[-2:])
        if len(imgs) == 1:
            return self.simple_test(imgs[0], img_metas[0], **kwargs)
        return self.aug_test(imgs, img_metas, **kwargs)

    def forward(self, img: Any, img_metas: Any, return_loss: bool = True, **kwargs: Any) -> Any:
        """``return_loss=True``: ``forward_train`` (loss dict); else ``forward_test`` (results)."""
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def train_step(self, data: dict[str, Any], optimizer: Any = None) -> dict[str, Any]:
        """MMDetection's ``train_step``: ``dict(loss, log_vars, num_samples)``."""
        losses = self(**data)
        loss, log_vars = parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data["img_metas"]))
