"""Per-image samples and batches: what datasets give and models take."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rdet_core.structures._arrays import check_length, check_shape, is_torch

__all__ = ["DetBatch", "DetSample", "GroundTruth", "ImageMeta"]


@dataclass
class ImageMeta:
    """Where an image came from and what the pipeline did to it (MMRotate's ``img_metas``).

    Attributes:
        filename: The image file, or None for an in-memory image.
        ori_shape: (H, W, C) of the image as read.
        img_shape: (H, W, C) after resizing, before padding.
        pad_shape: (H, W, C) after padding.
        scale_factor: (4,) float32 ``(w_scale, h_scale, w_scale, h_scale)`` from the original
            image to ``img_shape``.
        flip: Whether the image was flipped.
        flip_direction: 'horizontal', 'vertical' or 'diagonal' when flipped.
        extra: Anything else a transform records (e.g. a patch's offset in a huge image).
    """

    filename: str | None
    ori_shape: tuple[int, ...]
    img_shape: tuple[int, ...]
    pad_shape: tuple[int, ...] | None = None
    scale_factor: Any = field(default_factory=lambda: np.ones(4, np.float32))
    flip: bool = False
    flip_direction: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pad_shape is None:
            self.pad_shape = self.img_shape
        self.scale_factor = np.asarray(self.scale_factor, dtype=np.float32).reshape(-1)
        if self.scale_factor.shape == (1,) or self.scale_factor.shape == (2,):
            self.scale_factor = np.resize(self.scale_factor, 4)
        if self.scale_factor.shape != (4,):
            raise ValueError(
                f"ImageMeta.scale_factor must have 1, 2 or 4 values, got {self.scale_factor.shape}"
            )
        if self.flip and self.flip_direction not in ("horizontal", "vertical", "diagonal"):
            raise ValueError(
                f"ImageMeta.flip_direction must be horizontal, vertical or diagonal, got {self.flip_direction!r}"
            )

    def as_mmrotate(self) -> dict[str, Any]:
        """The ``img_metas`` dict MMRotate's code expects."""
        return {
            "filename": self.filename,
            "ori_shape": self.ori_shape,
            "img_shape": self.img_shape,
            "pad_shape": self.pad_shape,
            "scale_factor": self.scale_factor,
            "flip": self.flip,
            "flip_direction": self.flip_direction,
            **self.extra,
        }


@dataclass
class GroundTruth:
    """One image's annotations, numpy or torch.

    Attributes:
        boxes: (K, 5) rotated boxes ``(cx, cy, w, h, theta)``, pixels, radians, clockwise.
        labels: (K,) 0-based class indices.
        boxes_ignore: (J, 5) boxes to ignore in training and evaluation (e.g. DOTA difficult).
        labels_ignore: (J,) their classes.
    """

    boxes: Any
    labels: Any
    boxes_ignore: Any = None
    labels_ignore: Any = None

    def __post_init__(self) -> None:
        check_shape("boxes", self.boxes, (5,), "GroundTruth")
        check_length("labels", self.labels, self.boxes.shape[0], "GroundTruth")
        if self.boxes_ignore is None:
            self.boxes_ignore = self.boxes[:0]
            self.labels_ignore = self.labels[:0]
        check_shape("boxes_ignore", self.boxes_ignore, (5,), "GroundTruth")
        check_length("labels_ignore", self.labels_ignore, self.boxes_ignore.shape[0], "GroundTruth")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to(self, device: Any) -> GroundTruth:
        """Move torch tensors to ``device``; numpy arrays stay as they are."""
        if not is_torch(self.boxes):
            return self
        return GroundTruth(
            *(t.to(device) for t in (self.boxes, self.labels, self.boxes_ignore, self.labels_ignore))
        )


@dataclass
class DetSample:
    """One image after the pipeline: (3, H, W) pixels, its annotations (None at test time), meta."""

    image: Any
    meta: ImageMeta
    gt: GroundTruth | None = None

    def __post_init__(self) -> None:
        shape = tuple(getattr(self.image, "shape", ()))
        if len(shape) != 3:
            raise ValueError(
                f"DetSample.image must be (C, H, W), got shape {shape} (file {self.meta.filename})"
            )


@dataclass
class DetBatch:
    """A batch for a detector.

    Attributes:
        images: (N, 3, H, W) float tensor, padded to a common size.
        metas: N ``ImageMeta``.
        gts: N ``GroundTruth`` (training), or None (inference).
    """

    images: Any
    metas: list[ImageMeta]
    gts: list[GroundTruth] | None = None

    def __post_init__(self) -> None:
        shape = tuple(getattr(self.images, "shape", ()))
        if len(shape) != 4:
            raise ValueError(f"DetBatch.images must be (N, C, H, W), got shape {shape}")
        if len(self.metas) != shape[0]:
            raise ValueError(f"DetBatch has {shape[0]} images but {len(self.metas)} metas")
        if self.gts is not None and len(self.gts) != shape[0]:
            raise ValueError(f"DetBatch has {shape[0]} images but {len(self.gts)} ground truths")

    def __len__(self) -> int:
        return len(self.metas)

    def to(self, device: Any) -> DetBatch:
        """Move images and ground truth to ``device`` (torch)."""
        images = self.images.to(device) if is_torch(self.images) else self.images
        gts = None if self.gts is None else [g.to(device) for g in self.gts]
        return replace(self, images=images, gts=gts)
