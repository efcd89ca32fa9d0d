"""Per-image samples and batches: what datasets give and models take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rdet_core.structures._arrays import (
    check_integer_labels,
    check_length,
    check_shape,
    is_torch,
    to_numpy,
)

__all__ = ["SAMPLE_CONTRACT", "DetBatch", "DetSample", "GroundTruth", "ImageMeta", "InvalidSampleError"]


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
        boxes: (K, 5) rotated boxes ``(cx, cy, w, h, theta)``: pixels of the image as it
            leaves the pipeline (resized, flipped ...), theta in radians, clockwise on screen,
            in the dataset's angle version (``'oc'``, ``'le135'``, ``'le90'``).
        labels: (K,) 0-based integer class indices (an integer dtype, or floats with whole
            values; ``1.7`` is a ``ValueError`` naming the field).
        boxes_ignore: (J, 5) boxes to ignore in training and evaluation (e.g. DOTA difficult).
        labels_ignore: (J,) their classes (-1: unknown).
    """

    boxes: Any
    labels: Any
    boxes_ignore: Any = None
    labels_ignore: Any = None

    def __post_init__(self) -> None:
        check_shape("boxes", self.boxes, (5,), "GroundTruth")
        check_length("labels", self.labels, self.boxes.shape[0], "GroundTruth")
        check_integer_labels("labels", self.labels, "GroundTruth")
        if self.boxes_ignore is None:
            self.boxes_ignore = self.boxes[:0]
            self.labels_ignore = self.labels[:0]
        check_shape("boxes_ignore", self.boxes_ignore, (5,), "GroundTruth")
        check_length("labels_ignore", self.labels_ignore, self.boxes_ignore.shape[0], "GroundTruth")
        check_integer_labels("labels_ignore", self.labels_ignore, "GroundTruth")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to(self, device: Any) -> GroundTruth:
        """Move torch tensors to ``device``; numpy arrays stay as they are."""
        if not is_torch(self.boxes):
            return self
        return GroundTruth(
            *(t.to(device) for t in (self.boxes, self.labels, self.boxes_ignore, self.labels_ignore))
        )


#: What a dataset's ``__getitem__`` must return; quoted by every contract error.
SAMPLE_CONTRACT = (
    "a dataset's __getitem__ must return a DetSample or a Collect dict with "
    "img, img_metas[, gt_bboxes, gt_labels]; see rdet_core.structures.DetSample"
)


class InvalidSampleError(ValueError):
    """A dataset item that breaks the contract of :class:`DetSample`.

    The message names the item (``source``, e.g. ``collate: item 3 (DOTADataset)``), its file
    when known, and the missing or wrong field.
    """


def _where(source: str, filename: str | None) -> str:
    return source if not filename else f"{source}, file {filename}"


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in getattr(x, "shape", ()))


def _check_meta(meta: Any, field_name: str, source: str) -> ImageMeta:
    if isinstance(meta, ImageMeta):
        return meta
    if isinstance(meta, Mapping):
        raise InvalidSampleError(
            f"{_where(source, meta.get('filename'))}: {field_name} is a {type(meta).__name__}, not an "
            "rdet_core.structures.ImageMeta: end the pipeline with Collect (it builds one), or build "
            "ImageMeta(filename, ori_shape, img_shape, ...) in __getitem__"
        )
    if isinstance(meta, (list, tuple)):
        raise InvalidSampleError(
            f"{source}: {field_name} is a {type(meta).__name__} (one meta per augmentation, as "
            "MultiScaleFlipAug gives): rdet_data.collate takes those; a DetSample holds one image"
        )
    raise InvalidSampleError(
        f"{source}: {field_name} must be an rdet_core.structures.ImageMeta, got {type(meta).__name__}"
    )


def _check_image(image: Any, field_name: str, where: str) -> None:
    """``image`` is a numpy or torch (C, H, W) array with H, W > 0."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise InvalidSampleError(
            f"{where}: {field_name} must be a numpy array or torch tensor (C, H, W), got {type(image).__name__}"
        )
    shape = _shape(image)
    if len(shape) != 3:
        raise InvalidSampleError(f"{where}: {field_name} must be 3-D (C, H, W), got shape {shape}")
    c, h, w = shape
    if h == 0 or w == 0 or c == 0:
        raise InvalidSampleError(f"{where}: {field_name} is empty, shape {shape} (C, H, W)")
    if c > 4 and w <= 4:
        raise InvalidSampleError(
            f"{where}: {field_name} has shape {shape}, which looks like (H, W, C); it must be (C, H, W)"
        )
    if not is_torch(image) and np.dtype(image.dtype).kind not in "uif":
        raise InvalidSampleError(
            f"{where}: {field_name} must hold numbers (uint8 or float pixels), got dtype {image.dtype}"
        )


def _check_boxes(boxes: Any, field_name: str, where: str) -> Any:
    """(K, 5) numpy / torch boxes; an empty array of any shape becomes (0, 5); lists become numpy."""
    if not hasattr(boxes, "shape"):
        try:
            boxes = np.asarray(boxes, np.float32)
        except (TypeError, ValueError) as err:
            raise InvalidSampleError(
                f"{where}: {field_name} must be a (K, 5) array of (cx, cy, w, h, theta), got {type(boxes).__name__}"
            ) from err
    shape = _shape(boxes)
    if len(shape) == 2 and shape[1] == 5:
        return boxes
    if 0 in shape:
        return boxes.reshape(0, 5)
    hint = ""
    if len(shape) == 2 and shape[1] == 4:
        hint = (
            ": horizontal (x1, y1, x2, y2) boxes? rotated boxes are (cx, cy, w, h, theta); "
            "rbox_geometry.hbb2obb converts"
        )
    elif len(shape) == 2 and shape[1] == 8:
        hint = ": polygons (x1, y1, ..., x4, y4)? rbox_geometry.poly2obb(polys, version) converts"
    raise InvalidSampleError(
        f"{where}: {field_name} must have shape (K, 5) = (cx, cy, w, h, theta) in pixels, "
        f"radians, clockwise; got {shape}{hint}"
    )


def _check_labels(labels: Any, field_name: str, n: int, where: str, lowest: int = 0) -> Any:
    """(n,) integer class indices >= ``lowest`` (floats with whole values pass); lists become numpy."""
    if not hasattr(labels, "shape"):
        try:
            labels = np.asarray(labels, np.int64)
        except (TypeError, ValueError) as err:
            raise InvalidSampleError(
                f"{where}: {field_name} must be a ({n},) array of class indices, got {type(labels).__name__}"
            ) from err
    shape = _shape(labels)
    if n == 0 and 0 in shape:
        return labels.reshape(0)
    if shape != (n,):
        raise InvalidSampleError(
            f"{where}: {field_name} must have shape ({n},), one class index per box, got {shape}"
        )
    values = to_numpy(labels)
    if values.dtype.kind == "f":
        bad = values[~(np.isfinite(values) & (values == np.round(values)))]
        if bad.size:
            raise InvalidSampleError(
                f"{where}: {field_name} must be whole class indices, got {bad[:5].tolist()}"
            )
    elif values.dtype.kind not in "iu":
        raise InvalidSampleError(
            f"{where}: {field_name} must be integer class indices, got dtype {values.dtype}"
        )
    if n and values.min() < lowest:
        raise InvalidSampleError(
            f"{where}: {field_name} must be >= {lowest} (0-based class indices), got {values.min()}"
        )
    return labels


def _check_gt(gt: Any, where: str) -> None:
    if not isinstance(gt, GroundTruth):
        raise InvalidSampleError(
            f"{where}: gt must be an rdet_core.structures.GroundTruth or None, got {type(gt).__name__}"
        )
    _check_boxes(gt.boxes, "gt.boxes", where)
    _check_labels(gt.labels, "gt.labels", len(gt), where)
    n_ignore = _shape(gt.boxes_ignore)[:1]
    _check_boxes(gt.boxes_ignore, "gt.boxes_ignore", where)
    _check_labels(gt.labels_ignore, "gt.labels_ignore", n_ignore[0] if n_ignore else 0, where, lowest=-1)


@dataclass
class DetSample:
    """One image after the pipeline: what a dataset's ``__getitem__`` returns.

    The contract between datasets and ``rdet_data.collate`` (which checks it for every item
    and stacks the items into a :class:`DetBatch`). A dataset's ``__getitem__`` returns
    either

    1. a ``DetSample``:

       - ``image``: (C, H, W) numpy array or torch tensor, float32 (uint8 is accepted),
         normalised or not as the model expects; C is 3 for every rdet model. H, W are the
         image after resizing and padding (``meta.pad_shape``).
       - ``meta``: an :class:`ImageMeta` (``filename`` None for an in-memory image;
         ``ori_shape`` / ``img_shape`` / ``pad_shape`` (H, W, C); ``scale_factor`` from the
         original image to ``img_shape``).
       - ``gt``: a :class:`GroundTruth` when training (boxes (K, 5)
         ``(cx, cy, w, h, theta)``: pixels of the image as it is in ``image``, theta in
         radians, clockwise on screen, in the dataset's angle version; labels (K,) 0-based
         integer class indices; an image without objects has K = 0), or None at test time.
         A batch is all one or all the other.

    2. or MMRotate's ``Collect`` dict (every MMRotate pipeline ends with ``Collect``), which
       :meth:`from_mapping` turns into a ``DetSample``:

       - ``img``: (C, H, W) torch tensor (as ``DefaultFormatBundle`` / ``ImageToTensor`` give),
         or a numpy (H, W, C) array (as loaded, before formatting);
       - ``img_metas``: an :class:`ImageMeta` (``Collect`` builds it; a plain dict is refused);
       - ``gt_bboxes`` (K, 5) and ``gt_labels`` (K,), both or neither (test pipelines);
       - optional ``gt_bboxes_ignore`` (J, 5) and ``gt_labels_ignore`` (J,) (-1 where absent:
         MMRotate does not load classes of ignored boxes).

    Anything else (a missing field, (K, 4) or (K, 8) boxes, a 2-D image, a dict as meta, ...)
    is an :class:`InvalidSampleError` naming the field, the item and its file.

    Attributes:
        image: (C, H, W) pixels, numpy or torch.
        meta: Where the image came from and what the pipeline did to it.
        gt: The annotations (training), or None (inference).
    """

    image: Any
    meta: ImageMeta
    gt: GroundTruth | None = None

    def __post_init__(self) -> None:
        self.validate("DetSample")

    def validate(self, source: str = "DetSample") -> None:
        """Check the contract (the fields can be reassigned after construction).

        Args:
            source: How messages name this sample, e.g. ``"collate: item 3 (DOTADataset)"``.

        Raises:
            InvalidSampleError: The message names the wrong field, ``source`` and the file.
        """
        meta = _check_meta(self.meta, "meta", source)
        where = _where(source, meta.filename)
        _check_image(self.image, "image", where)
        if self.gt is not None:
            _check_gt(self.gt, where)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], source: str = "sample") -> DetSample:
        """A ``DetSample`` from MMRotate's ``Collect`` dict (see the class docstring).

        Arrays stay numpy or torch as they are (numpy ``img`` (H, W, C) becomes a (C, H, W)
        view); nothing is copied. ``gt_labels_ignore`` defaults to -1 per ignored box.

        Args:
            d: The pipeline's output for one image.
            source: How messages name the item, e.g. ``"collate: item 3 (DOTADataset)"``.

        Raises:
            InvalidSampleError: A field is missing or wrong; the message names it, ``source``,
                the file (when ``img_metas`` has one) and quotes the contract.
        """
        if not isinstance(d, Mapping):
            raise InvalidSampleError(f"{source} is a {type(d).__name__}: {SAMPLE_CONTRACT}")
        if "img_metas" not in d:
            raise InvalidSampleError(f"{source} has no 'img_metas': {SAMPLE_CONTRACT}")
        meta = _check_meta(d["img_metas"], "'img_metas'", source)
        where = _where(source, meta.filename)
        if "img" not in d:
            raise InvalidSampleError(f"{where} has no 'img': {SAMPLE_CONTRACT}")
        img = d["img"]
        if isinstance(img, np.ndarray):
            if img.ndim != 3:
                raise InvalidSampleError(
                    f"{where}: 'img' must be 3-D: a numpy img is (H, W, C) (a torch one (C, H, W)), "
                    f"got shape {img.shape}"
                )
            if img.shape[0] in (1, 3) and img.shape[2] not in (1, 3, 4):
                raise InvalidSampleError(
                    f"{where}: numpy 'img' of shape {img.shape} looks like (C, H, W), but a numpy img "
                    "in a Collect dict is (H, W, C) as loaded (DefaultFormatBundle makes (C, H, W) tensors)"
                )
            img = img.transpose(2, 0, 1)
        _check_image(img, "'img'", where)
        has_boxes, has_labels = "gt_bboxes" in d, "gt_labels" in d
        if has_boxes != has_labels:
            have, missing = ("gt_bboxes", "gt_labels") if has_boxes else ("gt_labels", "gt_bboxes")
            raise InvalidSampleError(
                f"{where} has {have!r} but no {missing!r}: give both (training) or neither (test); "
                f"{SAMPLE_CONTRACT}"
            )
        gt = None
        if has_boxes:
            boxes = _check_boxes(d["gt_bboxes"], "'gt_bboxes'", where)
            labels = _check_labels(d["gt_labels"], "'gt_labels'", _shape(boxes)[0], where)
            ignore = d.get("gt_bboxes_ignore")
            labels_ignore = None
            if ignore is not None:
                ignore = _check_boxes(ignore, "'gt_bboxes_ignore'", where)
                n_ignore = _shape(ignore)[0]
                labels_ignore = d.get("gt_labels_ignore")
                if labels_ignore is None:
                    labels_ignore = (
                        ignore.new_full((n_ignore,), -1).long()
                        if is_torch(ignore)
                        else np.full((n_ignore,), -1, np.int64)
                    )
                else:
                    labels_ignore = _check_labels(
                        labels_ignore, "'gt_labels_ignore'", n_ignore, where, lowest=-1
                    )
            gt = GroundTruth(boxes, labels, ignore, labels_ignore)
        elif d.get("gt_bboxes_ignore") is not None:
            raise InvalidSampleError(f"{where} has 'gt_bboxes_ignore' but no 'gt_bboxes': {SAMPLE_CONTRACT}")
        return cls(img, meta, gt)


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
