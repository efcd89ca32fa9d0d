"""``RotatedBaseDetector``: MMDetection's detector interface plus rdet's ``loss(batch)`` / ``predict(batch)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rdet_core.structures import DetBatch, Detections, GroundTruth
from rdet_models.builder import build_backbone, build_neck
from rdet_models.init import BaseModule
from rdet_models.postprocess import rbbox2result
from rdet_models.utils import parse_losses

__all__ = ["RotatedBaseDetector", "sanitize_gt"]


def sanitize_gt(
    boxes: torch.Tensor, labels: torch.Tensor, min_size: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Drop ground-truth boxes that would make the losses NaN: non-finite values, or w or h < ``min_size`` px.

    Returns (boxes (k', 5), labels (k',), keep mask (k,)).
    """
    if boxes.numel() == 0:
        return boxes.reshape(0, 5), labels.reshape(0), torch.zeros(0, dtype=torch.bool, device=boxes.device)
    keep = torch.isfinite(boxes).all(dim=1) & (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return boxes[keep], labels[keep], keep


class RotatedBaseDetector(BaseModule):
    """Base of rotated detectors.

    Two faces over the same network:

    - rdet's: ``loss(batch: DetBatch) -> dict[str, Tensor | list[Tensor]]`` (MMDetection's names:
      ``loss_cls``, ``loss_bbox`` ...; lists hold one tensor per FPN level) and
      ``predict(batch) -> list[Detections]`` in original-image pixels.
    - MMDetection's: ``forward(img, img_metas, return_loss=True, **kw)``, ``forward_train``,
      ``simple_test(img, img_metas, rescale)`` -> per image a list per class of (k, 6) arrays,
      ``train_step(data, optimizer)``.
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

    def _sanitized_gts(
        self, gt_bboxes: Sequence[torch.Tensor], gt_labels: Sequence[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each image's ground truth without the invalid boxes (``sanitize_gt`` with ``min_gt_size``)."""
        clean_boxes, clean_labels = [], []
        for boxes, labels in zip(gt_bboxes, gt_labels):
            b, lbl, _ = sanitize_gt(boxes, labels, self.min_gt_size)
            clean_boxes.append(b)
            clean_labels.append(lbl)
        return clean_boxes, clean_labels

    # -- to be provided by subclasses -----------------------------------------------------------

    def forward_train(self, img: torch.Tensor, img_metas: list[dict], **kwargs: Any) -> dict[str, Any]:
        for meta in img_metas:
            meta["batch_input_shape"] = tuple(img.size()[-2:])
        return {}

    def simple_test(
        self, img: torch.Tensor, img_metas: list[dict], rescale: bool = False, **kwargs: Any
    ) -> list[list[np.ndarray]]:
        """Per image, MMRotate's result: a list per class of (k, 6) float32 arrays."""
        return [
            rbbox2result(d, lbl, self.num_classes)
            for d, lbl in self.simple_test_dets(img, img_metas, rescale=rescale, **kwargs)
        ]

    def simple_test_dets(
        self, img: torch.Tensor, img_metas: list[dict], rescale: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image: (dets (k, 6), labels (k,)) tensors."""
        raise NotImplementedError

    def aug_test(self, imgs: list[torch.Tensor], img_metas: list[list[dict]], **kwargs: Any) -> list[Any]:
        raise NotImplementedError("test-time augmentation (aug_test) is not supported yet")

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    # -- MMDetection's entry points -------------------------------------------------------------

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

    # -- rdet's entry points --------------------------------------------------------------------

    @staticmethod
    def _batch_inputs(batch: DetBatch, device: torch.device) -> tuple[torch.Tensor, list[dict]]:
        images = (
            batch.images
            if isinstance(batch.images, torch.Tensor)
            else torch.as_tensor(np.asarray(batch.images))
        )
        return images.to(device=device, dtype=torch.float32), [m.as_mmrotate() for m in batch.metas]

    @staticmethod
    def _gt_tensors(gt: GroundTruth, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        def t(x: Any, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(
                device=device, dtype=dtype
            )

        return (
            t(gt.boxes, torch.float32).reshape(-1, 5),
            t(gt.labels, torch.long).reshape(-1),
            t(gt.boxes_ignore, torch.float32).reshape(-1, 5),
        )

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def loss(self, batch: DetBatch) -> dict[str, Any]:
        """Training losses of a batch with ground truth (MMDetection's names and structure)."""
        if batch.gts is None:
            raise ValueError("loss() needs a DetBatch with ground truth (gts)")
        device = self._device()
        img, img_metas = self._batch_inputs(batch, device)
        gts = [self._gt_tensors(g, device) for g in batch.gts]
        return self.forward_train(
            img,
            img_metas,
            gt_bboxes=[g[0] for g in gts],
            gt_labels=[g[1] for g in gts],
            gt_bboxes_ignore=[g[2] for g in gts],
        )

    @torch.no_grad()
    def predict(self, batch: DetBatch, rescale: bool = True) -> list[Detections]:
        """Per image, detections in original-image pixels (``rescale``) as torch tensors."""
        img, img_metas = self._batch_inputs(batch, self._device())
        for meta in img_metas:
            meta["batch_input_shape"] = tuple(img.size()[-2:])
        out = []
        for dets, labels in self.simple_test_dets(img, img_metas, rescale=rescale):
            out.append(Detections(dets[:, :5], dets[:, 5], labels))
        return out
