"""Geometric transforms of image and rotated boxes together: RResize, RRandomFlip, PolyRandomRotate, RRandomCrop.

Boxes are ``(cx, cy, w, h, theta)`` in the continuous image frame: pixel (i, j) covers
``[j, j+1) x [i, i+1)``, so its centre is ``(j + 0.5, i + 0.5)``. Every transform moves
pixels and boxes by the same map in that frame (tests rasterise both and compare).
Randomness comes from ``numpy.random`` (seeded per worker by ``build_dataloader``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

import rbox_geometry as rg
from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import (
    check_bool,
    check_image,
    check_number,
    check_pair,
    check_scales,
    is_number,
)
from rdet_data.transforms.loading import mark_geometric

__all__ = ["PolyRandomRotate", "RRandomCrop", "RRandomFlip", "RResize", "rescale_size"]

BBOX2LABEL = {"gt_bboxes": "gt_labels", "gt_bboxes_ignore": "gt_labels_ignore"}


def _bbox_fields(results: dict[str, Any]) -> list[str]:
    """The box fields present in ``results``, each once (a field listed twice must not move twice)."""
    return [k for k in dict.fromkeys(results.get("bbox_fields", [])) if k in results]


def rescale_size(old_wh: tuple[int, int], scale: float | Sequence[int]) -> tuple[tuple[int, int], float]:
    """MMCV's ``rescale_size``: the (w, h) that fits ``scale`` (a factor, or (long, short) edges) keeping the ratio."""
    w, h = old_wh
    if isinstance(scale, (float, int)):
        factor = float(scale)
        if factor <= 0:
            raise ValueError(f"invalid scale {scale}, must be positive")
    else:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return (int(w * factor + 0.5), int(h * factor + 0.5)), factor


@TRANSFORMS.register_module()
class RResize:
    """Resize image and rotated boxes (MMRotate's ``RResize``, MMDetection's ``Resize`` rules).

    Args:
        img_scale: A ``(long, short)`` edge pair or a list of them; None inside
            ``MultiScaleFlipAug`` (which sets ``results['scale']``).
        multiscale_mode: With several scales: ``'range'`` draws long and short edges between
            them, ``'value'`` picks one.
        ratio_range: ``(min, max)``: the single ``img_scale`` times a random ratio.
        keep_ratio: True (MMRotate forces it): fit inside the scale keeping the aspect ratio;
            boxes scale ``cx, cy`` by ``w_scale, h_scale`` and ``w, h`` by their geometric mean.
            False: resize to exactly ``scale = (w, h)``; boxes go through their corners and
            ``poly2obb`` (a rotated box under unequal scaling is no longer a rectangle).
        interpolation: OpenCV interpolation name ('bilinear' as MMCV).

    Sets ``img_shape``, ``pad_shape``, ``scale``, ``scale_idx``, ``scale_factor`` (4,) float32
    ``(w_scale, h_scale, w_scale, h_scale)`` and ``keep_ratio``.

    Raises:
        ValueError: (at build) ``img_scale`` not (long, short) pairs of positive
            ints, ``ratio_range`` not a pair ``0 < lo <= hi``, an unknown ``interpolation``,
            ``multiscale_mode`` or ``version``; (at call) the image would be resized to 0
            pixels.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    INTERP: ClassVar[dict[str, int]] = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
              "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}  # fmt: skip

    def __init__(
        self,
        img_scale: Any = None,
        multiscale_mode: str = "range",
        ratio_range: Sequence[float] | None = None,
        keep_ratio: bool = True,
        interpolation: str = "bilinear",
        version: str = "oc",
        override: bool = False,
    ):
        check_bool("RResize", "keep_ratio", keep_ratio)
        check_bool("RResize", "override", override)
        self.img_scale = None if img_scale is None else check_scales("RResize", img_scale)
        if ratio_range is not None:
            if self.img_scale is None or len(self.img_scale) != 1:
                raise ValueError("RResize: ratio_range needs exactly one img_scale")
            lo, hi = check_pair("RResize", "ratio_range", ratio_range)
            check_number("RResize", "ratio_range[0]", lo, low=0, low_open=True)
            check_number("RResize", "ratio_range[1]", hi, low=lo)
        if multiscale_mode not in ("value", "range"):
            raise ValueError(f"RResize: multiscale_mode must be 'value' or 'range', got {multiscale_mode!r}")
        if interpolation not in self.INTERP:
            raise ValueError(
                f"RResize: interpolation must be one of {sorted(self.INTERP)}, got {interpolation!r}"
            )
        rg.angles.check_version(version)
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation
        self.version = version
        self.override = override

    def _random_scale(self, results: dict[str, Any]) -> None:
        scales = self.img_scale
        if scales is None:
            raise ValueError("RResize without img_scale needs results['scale'] or ['scale_factor']")
        if self.ratio_range is not None:
            lo, hi = self.ratio_range
            ratio = np.random.random_sample() * (hi - lo) + lo
            scale, idx = (int(scales[0][0] * ratio), int(scales[0][1] * ratio)), None
        elif len(scales) == 1:
            scale, idx = scales[0], 0
        elif self.multiscale_mode == "range":
            if len(scales) != 2:
                raise ValueError("multiscale_mode='range' needs exactly two img_scale")
            longs, shorts = [max(s) for s in scales], [min(s) for s in scales]
            scale = (
                np.random.randint(min(longs), max(longs) + 1),
                np.random.randint(min(shorts), max(shorts) + 1),
            )
            idx = None
        else:
            idx = int(np.random.randint(len(scales)))
            scale = scales[idx]
        results["scale"], results["scale_idx"] = scale, idx

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        check_image(results, "RResize")
        if "scale" not in results:
            if "scale_factor" in results:
                h, w = results["img"].shape[:2]
                factor = results["scale_factor"]
                if not is_number(factor):
                    raise ValueError(
                        f"RResize: results['scale_factor'] must be a number to derive the scale, got {factor!r}"
                    )
                factor = float(factor)
                results["scale"] = (int(w * factor), int(h * factor))
            else:
                self._random_scale(results)
        elif self.override:
            results.pop("scale")
            results.pop("scale_factor", None)
            self._random_scale(results)
        interp = self.INTERP[self.interpolation]
        for key in results.get("img_fields", ["img"]):
            img = results[key]
            h, w = img.shape[:2]
            if self.keep_ratio:
                (new_w, new_h), _ = rescale_size((w, h), results["scale"])
            else:
                new_w, new_h = int(results["scale"][0]), int(results["scale"][1])
            if new_w < 1 or new_h < 1:
                raise ValueError(
                    f"RResize: the image ({h}, {w}) would be resized to ({new_h}, {new_w}) pixels "
                    f"(scale {results['scale']}); use a larger img_scale / ratio_range / scale_factor"
                )
            if (new_w, new_h) != (w, h):
                img = cv2.resize(img, (new_w, new_h), interpolation=interp)
            results[key] = img
            w_scale, h_scale = new_w / w, new_h / h
            results["img_shape"] = img.shape
            results["pad_shape"] = img.shape
        results["scale_factor"] = np.array([w_scale, h_scale, w_scale, h_scale], np.float32)
        results["keep_ratio"] = self.keep_ratio
        for key in _bbox_fields(results):
            results[key] = self._resize_boxes(results[key], w_scale, h_scale)
        mark_geometric(results, "RResize")
        return results

    def _resize_boxes(self, boxes: np.ndarray, sx: float, sy: float) -> np.ndarray:
        shape = boxes.shape
        b = boxes.reshape(-1, 5).astype(np.float32)
        if self.keep_ratio or not len(b):
            out = b.copy()
            out[:, 0] *= sx
            out[:, 1] *= sy
            out[:, 2:4] *= np.sqrt(sx * sy)
        else:
            poly = np.asarray(rg.obb2poly(b.astype(np.float64), self.version)) * np.array([sx, sy] * 4)
            out = np.asarray(rg.poly2obb_np(poly, self.version, min_side=0.0), np.float32)
        return out.reshape(shape)

    def __repr__(self) -> str:
        return (
            f"RResize(img_scale={self.img_scale}, multiscale_mode={self.multiscale_mode!r}, "
            f"ratio_range={self.ratio_range}, keep_ratio={self.keep_ratio})"
        )


@TRANSFORMS.register_module()
class RRandomFlip:
    """Flip image and boxes (MMRotate's ``RRandomFlip``).

    Args:
        flip_ratio: Probability (shared among the directions), or a list, one per direction.
        direction: 'horizontal', 'vertical', 'diagonal' or a list of them.
        version: Angle version of the boxes.
        pixel_offset: MMRotate 0.x flips box centres with ``W - cx - 1``, one pixel off the
            image's mirror; rdet uses the exact mirror ``W - cx`` (0, MMRotate 1.x's rule).
            Pass 1 for MMRotate 0.x's numbers.

    A ``results['flip']`` already set (``MultiScaleFlipAug``) is obeyed.

    Raises:
        ValueError: (at build) an unknown ``direction`` or ``version``, ``flip_ratio`` not
            probabilities.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    DIRECTIONS = ("horizontal", "vertical", "diagonal")

    def __init__(
        self,
        flip_ratio: float | Sequence[float] | None = None,
        direction: str | Sequence[str] = "horizontal",
        version: str = "oc",
        pixel_offset: float = 0.0,
    ):
        dirs = [direction] if isinstance(direction, str) else list(direction)
        if not dirs or any(d not in self.DIRECTIONS for d in dirs):
            raise ValueError(f"direction must be among {self.DIRECTIONS}, got {direction!r}")
        if isinstance(flip_ratio, (list, tuple)):
            if (
                len(flip_ratio) != len(dirs)
                or not all(0 <= r <= 1 for r in flip_ratio)
                or sum(flip_ratio) > 1 + 1e-9
            ):
                raise ValueError(f"flip_ratio {flip_ratio} must give one probability per direction, sum <= 1")
        elif flip_ratio is not None and not 0 <= flip_ratio <= 1:
            raise ValueError(f"flip_ratio must be in [0, 1], got {flip_ratio}")
        rg.angles.check_version(version)
        self.flip_ratio = flip_ratio
        self.direction = direction
        self.version = version
        self.pixel_offset = pixel_offset

    def _draw(self) -> str | None:
        dirs = [self.direction] if isinstance(self.direction, str) else list(self.direction)
        if isinstance(self.flip_ratio, (list, tuple)):
            probs = list(self.flip_ratio)
        else:
            ratio = float(self.flip_ratio or 0.0)
            probs = [ratio / len(dirs)] * len(dirs)
        probs.append(max(0.0, 1.0 - sum(probs)))
        i = np.random.choice(len(probs), p=np.asarray(probs) / sum(probs))
        return dirs[i] if i < len(dirs) else None

    def bbox_flip(self, bboxes: np.ndarray, img_shape: Sequence[int], direction: str) -> np.ndarray:
        """Flip ``(..., 5k)`` boxes in an image of ``img_shape = (H, W, ...)``."""
        flipped = rg.flip_rboxes(
            bboxes.reshape(-1, 5).astype(np.float32), img_shape, direction, self.version, self.pixel_offset
        )
        return np.asarray(flipped, np.float32).reshape(bboxes.shape)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        check_image(results, "RRandomFlip")
        if "flip" not in results:
            cur = self._draw()
            results["flip"] = cur is not None
            results["flip_direction"] = cur
        elif "flip_direction" not in results:
            results["flip_direction"] = (
                self.direction if isinstance(self.direction, str) else self.direction[0]
            )
        if results["flip"]:
            direction = results["flip_direction"]
            for key in results.get("img_fields", ["img"]):
                img = results[key]
                axis = {"horizontal": 1, "vertical": 0}.get(direction)
                img = np.flip(img, axis=axis) if axis is not None else img[::-1, ::-1]
                results[key] = np.ascontiguousarray(img)
            for key in _bbox_fields(results):
                results[key] = self.bbox_flip(results[key], results["img_shape"], direction)
        mark_geometric(results, "RRandomFlip")
        return results

    def __repr__(self) -> str:
        return f"RRandomFlip(flip_ratio={self.flip_ratio}, direction={self.direction!r}, version={self.version!r})"


@TRANSFORMS.register_module()
class PolyRandomRotate:
    """Rotate image and boxes by a random angle (MMRotate's ``PolyRandomRotate``).

    Args:
        rotate_ratio: Probability of rotating.
        mode: ``'range'``: angle uniform in (-angles_range, angles_range) degrees;
            ``'value'``: one of the list ``angles_range``.
        angles_range: int degrees (mode 'range') or a list of int (mode 'value').
        auto_bound: Grow the canvas to hold the whole rotated image.
        rect_classes: Class indices only turned by multiples of 90 degrees: if the image holds
            one, the angle is drawn from (90, 180, -90, -180).
        allow_negative: Keep an image whose boxes were all filtered out (else return None and
            the dataset draws another image).
        version: Angle version of the boxes.

    Raises:
        ValueError: (at build) ``rotate_ratio`` not in [0, 1], ``angles_range`` not
            a finite number >= 0 (mode 'range') or a non-empty list of finite numbers (mode
            'value'), ``rect_classes`` not a list of ints, an unknown ``mode`` or ``version``.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).

    The angle (degrees) turns counter-clockwise on screen, as ``cv2.getRotationMatrix2D``.
    As in MMRotate, boxes whose centre leaves the canvas or with a side <= 5 px are dropped,
    also when the image is not rotated. Sets ``rotate``, ``rotate_angle`` (degrees),
    ``rotate_matrix`` (2, 3) (continuous coordinates).
    """

    def __init__(
        self,
        rotate_ratio: float = 0.5,
        mode: str = "range",
        angles_range: int | Sequence[int] = 180,
        auto_bound: bool = False,
        rect_classes: Sequence[int] | None = None,
        allow_negative: bool = False,
        version: str = "le90",
    ):
        owner = "PolyRandomRotate"
        check_bool(owner, "auto_bound", auto_bound)
        check_bool(owner, "allow_negative", allow_negative)
        check_number(owner, "rotate_ratio", rotate_ratio, 0, 1)
        if mode not in ("range", "value"):
            raise ValueError(f"{owner}: mode is supposed to be 'range' or 'value', but got {mode!r}")
        if mode == "range":
            if not is_number(angles_range):
                raise ValueError(
                    f"{owner}: mode 'range' expects angles_range to be a number, got {angles_range!r}"
                )
            check_number(owner, "angles_range", angles_range, low=0)
        else:
            if not isinstance(angles_range, (list, tuple)) or not angles_range:
                raise ValueError(
                    f"{owner}: mode 'value' expects angles_range as a non-empty list of numbers, got {angles_range!r}"
                )
            for a in angles_range:
                check_number(owner, "each angles_range entry", a)
        if rect_classes is not None and (
            not isinstance(rect_classes, (list, tuple))
            or not all(isinstance(c, numbers.Integral) for c in rect_classes)
        ):
            raise ValueError(
                f"{owner}: rect_classes must be None or a list of class indices, got {rect_classes!r}"
            )
        rg.angles.check_version(version)
        self.rotate_ratio = rotate_ratio
        self.mode = mode
        self.angles_range = angles_range
        self.auto_bound = auto_bound
        self.rect_classes = rect_classes
        self.allow_negative = allow_negative
        self.version = version
        self.discrete_range = [90, 180, -90, -180]

    @property
    def is_rotate(self) -> bool:
        return bool(np.random.rand() < self.rotate_ratio)

    def _angle(self, results: dict[str, Any]) -> float:
        if not self.is_rotate:
            results["rotate"] = False
            return 0.0
        results["rotate"] = True
        if self.mode == "range":
            angle = self.angles_range * (2 * np.random.rand() - 1)
        else:
            angle = self.angles_range[np.random.randint(len(self.angles_range))]
        if self.rect_classes and any(int(c) in set(self.rect_classes) for c in results.get("gt_labels", [])):
            angle = self.discrete_range[np.random.randint(len(self.discrete_range))]
        return float(angle)

    @staticmethod
    def rotation_matrix(
        angle: float, width: int, height: int, auto_bound: bool
    ) -> tuple[np.ndarray, int, int]:
        """(2, 3) matrix turning continuous coordinates by ``angle`` degrees (CCW on screen)
        about the image centre, and the canvas ``(bound_w, bound_h)``."""
        rad = math.radians(angle)
        cos, sin = abs(math.cos(rad)), abs(math.sin(rad))
        if auto_bound:
            bound_w, bound_h = (
                int(v) for v in np.rint([height * sin + width * cos, height * cos + width * sin])
            )
        else:
            bound_w, bound_h = width, height
        m = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        m[:, 2] += (bound_w / 2 - width / 2, bound_h / 2 - height / 2)
        return m, bound_w, bound_h

    @staticmethod
    def filter_border(bboxes: np.ndarray, h: int, w: int) -> np.ndarray:
        """Keep boxes with the centre strictly inside and both sides > 5 px."""
        x, y, bw, bh = bboxes[:, 0], bboxes[:, 1], bboxes[:, 2], bboxes[:, 3]
        return (x > 0) & (x < w) & (y > 0) & (y < h) & (bw > 5) & (bh > 5)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        check_image(results, "PolyRandomRotate")
        angle = self._angle(results)
        h, w = results["img_shape"][:2]
        m, bound_w, bound_h = self.rotation_matrix(angle, w, h, self.auto_bound)
        if angle != 0 or (bound_w, bound_h) != (w, h):
            # pixel indices are continuous coordinates - 0.5: conjugate the map by that shift
            m_img = m.copy()
            m_img[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5
            for key in results.get("img_fields", ["img"]):
                results[key] = cv2.warpAffine(results[key], m_img, (bound_w, bound_h), flags=cv2.INTER_LINEAR)
        results["img_shape"] = (bound_h, bound_w) + tuple(results["img_shape"][2:])
        results["rotate_angle"] = angle
        results["rotate_matrix"] = m
        for key in _bbox_fields(results):
            boxes = results[key].reshape(-1, 5).astype(np.float64)
            if len(boxes):
                centres = boxes[:, :2] @ m[:, :2].T + m[:, 2]
                boxes = np.concatenate([centres, boxes[:, 2:4], boxes[:, 4:5] - math.radians(angle)], axis=1)
                boxes = np.asarray(rg.regularize(boxes, self.version), np.float32)
            boxes = boxes.astype(np.float32)
            keep = self.filter_border(boxes, bound_h, bound_w)
            results[key] = boxes[keep]
            label_key = BBOX2LABEL.get(key)
            if label_key in results:
                results[label_key] = results[label_key][keep]
        mark_geometric(results, "PolyRandomRotate")
        if "gt_bboxes" in results and not len(results["gt_bboxes"]) and not self.allow_negative:
            return None
        return results

    def __repr__(self) -> str:
        return (
            f"PolyRandomRotate(rotate_ratio={self.rotate_ratio}, mode={self.mode!r}, angles_range={self.angles_range}, "
            f"auto_bound={self.auto_bound}, rect_classes={self.rect_classes}, version={self.version!r})"
        )


@TRANSFORMS.register_module()
class RRandomCrop:
    """Crop a random window; keep boxes whose IoF with the window is > ``iof_thr`` (MMRotate's ``RRandomCrop``).

    Args:
        crop_size: (h, w): pixels ('absolute', 'absolute_range': (min, max)) or ratios
            ('relative', 'relative_range').
        crop_type: 'absolute', 'absolute_range', 'relative' or 'relative_range'.
        allow_negative_crop: Keep a crop without any box (else return None).
        iof_thr: Minimal intersection over the box's area for a box to be kept (not clipped).
        version: Angle version (unused by the arithmetic: a shift keeps the angle).

    Raises:
        ValueError: (at build) ``crop_size`` not a pair of ints >= 1 ('absolute',
            'absolute_range') or of ratios in (0, 1] ('relative', 'relative_range'),
            ``iof_thr`` not in [0, 1], an unknown ``crop_type``; (at call) a crop of 0 pixels.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    def __init__(
        self,
        crop_size: Sequence[float],
        crop_type: str = "absolute",
        allow_negative_crop: bool = False,
        iof_thr: float = 0.7,
        version: str = "oc",
    ):
        owner = "RRandomCrop"
        check_bool(owner, "allow_negative_crop", allow_negative_crop)
        if crop_type not in ("relative_range", "relative", "absolute", "absolute_range"):
            raise ValueError(f"{owner}: invalid crop_type {crop_type!r}")
        check_pair(owner, "crop_size", crop_size)
        if crop_type in ("absolute", "absolute_range"):
            for v in crop_size:
                check_number(
                    owner, f"crop_size {tuple(crop_size)} ({crop_type}) entry", v, low=1, integer=True
                )
            if crop_type == "absolute_range" and crop_size[0] > crop_size[1]:
                raise ValueError(f"{owner}: absolute_range needs crop_size = (min, max), got {crop_size!r}")
        else:
            for v in crop_size:
                check_number(
                    owner, f"crop_size {tuple(crop_size)} ({crop_type}) entry", v, 0, 1, low_open=True
                )
        check_number(owner, "iof_thr", iof_thr, 0, 1)
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.iof_thr = iof_thr
        self.version = version

    def _get_crop_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        h, w = image_size
        if self.crop_type == "absolute":
            return min(int(self.crop_size[0]), h), min(int(self.crop_size[1]), w)
        if self.crop_type == "absolute_range":
            lo, hi = int(self.crop_size[0]), int(self.crop_size[1])
            crop_h = np.random.randint(min(h, lo), min(h, hi) + 1)
            crop_w = np.random.randint(min(w, lo), min(w, hi) + 1)
            return int(crop_h), int(crop_w)
        if self.crop_type == "relative":
            ch, cw = self.crop_size
        else:
            ch, cw = np.asarray(self.crop_size, float) + np.random.rand(2) * (
                1 - np.asarray(self.crop_size, float)
            )
        return int(h * ch + 0.5), int(w * cw + 0.5)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        img = check_image(results, "RRandomCrop")
        crop_h, crop_w = self._get_crop_size(img.shape[:2])
        if crop_h < 1 or crop_w < 1:
            raise ValueError(
                f"RRandomCrop: crop_size {self.crop_size} ({self.crop_type}) gives a crop of "
                f"({crop_h}, {crop_w}) pixels on the image {tuple(img.shape[:2])}; use a larger crop_size"
            )
        off_h = np.random.randint(0, max(img.shape[0] - crop_h, 0) + 1)
        off_w = np.random.randint(0, max(img.shape[1] - crop_w, 0) + 1)
        for key in results.get("img_fields", ["img"]):
            results[key] = results[key][off_h : off_h + crop_h, off_w : off_w + crop_w, ...]
        results["img_shape"] = results["img"].shape
        height, width = results["img"].shape[:2]
        window = np.array([[width / 2, height / 2, width, height, 0.0]])
        for key in _bbox_fields(results):
            boxes = results[key].reshape(-1, 5) - np.array([off_w, off_h, 0, 0, 0], np.float32)
            if len(boxes):
                iof = np.asarray(rg.rbbox_overlaps(boxes.astype(np.float64), window, mode="iof"))[:, 0]
                valid = iof > self.iof_thr
            else:
                valid = np.zeros(0, bool)
            if key == "gt_bboxes" and not valid.any() and not self.allow_negative_crop:
                return None
            results[key] = boxes[valid]
            label_key = BBOX2LABEL.get(key)
            if label_key in results:
                results[label_key] = results[label_key][valid]
        results["crop_offset"] = (int(off_w), int(off_h))
        mark_geometric(results, "RRandomCrop")
        return results

    def __repr__(self) -> str:
        return (
            f"RRandomCrop(crop_size={self.crop_size}, crop_type={self.crop_type!r}, iof_thr={self.iof_thr})"
        )
