"""Loading: images from files, arrays or huge-image windows; annotations into ``results``."""

from __future__ import annotations

import os.path as osp
from typing import Any

import cv2
import numpy as np

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool

__all__ = ["LoadAnnotations", "LoadImageFromFile", "LoadImageFromWebcam", "LoadPatchFromImage", "imread"]

_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
}


HIGH_BIT_DEPTH = ("error", "scale", "keep")


def imread(
    path: str, color_type: str = "color", channel_order: str = "bgr", high_bit_depth: str = "error"
) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 BGR (or RGB / grayscale / unchanged).

    An image of more than 8 bits per channel (a 16-bit PNG or TIFF, a float TIFF), read with
    ``color_type`` other than ``'unchanged'``, depends on ``high_bit_depth``:

    - ``'error'`` (default): a ``ValueError`` naming the file, its dtype and largest value and
      the ways out below (OpenCV's and MMCV's ``IMREAD_COLOR`` would silently divide 16-bit
      values by 256: a 12-bit SAR image, 0..4095, comes out 0..15);
    - ``'scale'``: that 8-bit conversion, on purpose (MMCV's result);
    - ``'keep'``: the image's own dtype (uint16, float32), with ``color_type``'s channels.

    ``color_type='unchanged'`` keeps the file's dtype and channels, as in MMCV.

    Raises:
        ValueError: ``color_type`` is not one of mmcv's (``'color'``, ``'grayscale'``,
            ``'unchanged'``, ``'color_ignore_orientation'``, ``'grayscale_ignore_orientation'``),
            ``channel_order`` is not ``'bgr'`` or ``'rgb'``, ``high_bit_depth`` is not one of
            ``'error'``, ``'scale'``, ``'keep'``, or (``'error'``) the image has more than 8 bits.
        FileNotFoundError: The file is missing or not a readable image; the message names it.
    """
    _check_read_args("imread", color_type, channel_order, high_bit_depth)
    if not osp.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    buf = np.fromfile(path, dtype=np.uint8)  # also works for non-ASCII paths
    flags = _FLAGS[color_type]
    if color_type != "unchanged" and high_bit_depth != "scale":
        flags |= cv2.IMREAD_ANYDEPTH  # decoded at the file's depth, so that it is seen
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise FileNotFoundError(f"cannot decode image file: {path} ({buf.size} bytes)")
    if img.dtype != np.uint8 and color_type != "unchanged" and high_bit_depth == "error":
        bits = f"{img.dtype.itemsize * 8}-bit" + (" float" if img.dtype.kind == "f" else "")
        raise ValueError(
            f"{path}: a {bits} image ({img.dtype}, largest value {img.max()}), read with "
            f"color_type={color_type!r}: OpenCV / MMCV would silently scale it to 8 bits "
            "(16-bit values divided by 256). Say which you want: "
            "LoadImageFromFile(high_bit_depth='keep') or color_type='unchanged' keeps the values "
            f"({img.dtype}; set Normalize's mean / std for them), "
            "high_bit_depth='scale' converts to 8 bits as MMCV does"
        )
    if img.ndim == 3 and img.shape[2] == 3 and channel_order == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


_CHANNEL_ORDERS = ("bgr", "rgb")


def _check_read_args(owner: str, color_type: Any, channel_order: Any, high_bit_depth: Any = "error") -> None:
    """ValueError naming the argument and its allowed values, for a ``color_type``, ``channel_order``
    or ``high_bit_depth`` typo."""
    if not isinstance(color_type, str) or color_type not in _FLAGS:
        raise ValueError(
            f"{owner}: color_type must be one of {', '.join(map(repr, _FLAGS))}, got {color_type!r}"
        )
    if not isinstance(channel_order, str) or channel_order not in _CHANNEL_ORDERS:
        raise ValueError(
            f"{owner}: channel_order must be one of {', '.join(map(repr, _CHANNEL_ORDERS))}, got {channel_order!r}"
        )
    if not isinstance(high_bit_depth, str) or high_bit_depth not in HIGH_BIT_DEPTH:
        raise ValueError(
            f"{owner}: high_bit_depth must be one of {', '.join(map(repr, HIGH_BIT_DEPTH))}, got {high_bit_depth!r}"
        )


def _set_image(
    results: dict[str, Any], img: np.ndarray, filename: str | None, ori_filename: str | None
) -> None:
    results["filename"] = filename
    results["ori_filename"] = ori_filename
    results["img"] = img
    results["img_shape"] = img.shape
    results["ori_shape"] = img.shape
    results["img_fields"] = ["img"]


# the key under which geometric transforms record their names (a tuple, see ``mark_geometric``)
GEOMETRIC_KEY = "geometric_transforms"
# keys that only a geometric transform writes (for results built without the marker)
_GEOMETRIC_KEYS = {
    "keep_ratio": "RResize",
    "rotate_matrix": "PolyRandomRotate",
    "rotate_angle": "PolyRandomRotate",
    "crop_offset": "RRandomCrop",
}


def add_field(results: dict[str, Any], fields_key: str, key: str) -> None:
    """Add ``key`` to the list ``results[fields_key]`` once (a new list: copies of ``results`` share it)."""
    fields = list(results.get(fields_key) or [])
    if key not in fields:
        fields.append(key)
    results[fields_key] = fields


def mark_geometric(results: dict[str, Any], name: str) -> None:
    """Record that the geometric transform ``name`` ran on ``results`` (it moved the image)."""
    done = tuple(results.get(GEOMETRIC_KEY, ()))
    if name not in done:
        results[GEOMETRIC_KEY] = (*done, name)


def geometric_done(results: dict[str, Any]) -> list[str]:
    """The geometric transforms that already ran on ``results``, in order."""
    done = list(results.get(GEOMETRIC_KEY, ()))
    for key, name in _GEOMETRIC_KEYS.items():
        if key in results and name not in done:
            done.append(name)
    return done


@TRANSFORMS.register_module()
class LoadImageFromFile:
    """Read ``img_prefix / img_info['filename']`` (MMDetection's transform).

    Adds ``filename``, ``ori_filename``, ``img`` (H, W, 3) uint8 BGR (float32 with
    ``to_float32``), ``img_shape``, ``ori_shape`` = (H, W, 3), ``img_fields``.
    A missing or unreadable image raises ``FileNotFoundError`` naming it; a ``color_type`` or
    ``channel_order`` that mmcv does not know is a ``ValueError`` at construction.

    ``high_bit_depth`` (rdet's addition; see :func:`imread`): an image of more than 8 bits per
    channel is a ``ValueError`` naming it (``'error'``, the default), converted to 8 bits as
    MMCV does (``'scale'``) or kept in its dtype (``'keep'``; as ``color_type='unchanged'``).
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = "color",
        channel_order: str = "bgr",
        file_client_args: dict | None = None,
        high_bit_depth: str = "error",
    ):
        backend = (file_client_args or {}).get("backend", "disk")
        if backend != "disk":
            raise ValueError(f"only the 'disk' file client is supported, got {backend!r}")
        _check_read_args(type(self).__name__, color_type, channel_order, high_bit_depth)
        self.high_bit_depth = high_bit_depth
        check_bool(type(self).__name__, "to_float32", to_float32)
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        prefix = results.get("img_prefix")
        name = results["img_info"]["filename"]
        filename = osp.join(prefix, name) if prefix else name
        img = imread(filename, self.color_type, self.channel_order, self.high_bit_depth)
        if self.to_float32:
            img = img.astype(np.float32)
        _set_image(results, img, filename, name)
        return results

    def __repr__(self) -> str:
        return f"LoadImageFromFile(to_float32={self.to_float32}, color_type={self.color_type!r})"


@TRANSFORMS.register_module()
class LoadImageFromWebcam(LoadImageFromFile):
    """Take ``results['img']`` (an array already in memory) as the image; ``filename`` is None."""

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        if self.to_float32:
            img = img.astype(np.float32)
        _set_image(results, img, None, None)
        return results


@TRANSFORMS.register_module()
class LoadPatchFromImage:
    """Cut the window ``results['win'] = (x_start, y_start, x_stop, y_stop)`` out of ``results['img']``.

    MMRotate's huge-image inference: a window running past the image is zero-padded to its size.
    """

    def __init__(self, to_float32: bool = False):
        check_bool("LoadPatchFromImage", "to_float32", to_float32)
        self.to_float32 = to_float32

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        x0, y0, x1, y1 = (int(v) for v in results["win"])
        patch = img[y0:y1, x0:x1]
        h, w = y1 - y0, x1 - x0
        if patch.shape[0] < h or patch.shape[1] < w:
            padded = np.zeros((h, w) + img.shape[2:], img.dtype)
            padded[: patch.shape[0], : patch.shape[1]] = patch
            patch = padded
        if self.to_float32:
            patch = patch.astype(np.float32)
        _set_image(results, patch, None, None)
        return results


@TRANSFORMS.register_module()
class LoadAnnotations:
    """Copy ``results['ann_info']`` into ``gt_bboxes`` (n, 5), ``gt_labels`` (n,) and friends.

    Args:
        with_bbox: ``gt_bboxes`` and ``gt_bboxes_ignore`` (float32, added to ``bbox_fields``).
        with_label: ``gt_labels`` (int64).
        with_poly: Also ``gt_polygons`` (n, 8) (rdet's addition; not transformed by the
            geometric transforms, which work on boxes).
        with_mask, with_seg: Not supported for rotated boxes (raise if True).

    Raises:
        ValueError: (at call time) the results already hold ``gt_bboxes`` (the pipeline
            lists LoadAnnotations twice, or after ``RMosaic``), or a geometric transform
            (``RResize``, ``RRandomFlip``, ``PolyRandomRotate``, ``RRandomCrop``, ``RMosaic``)
            already ran: it moved the image but not the boxes loaded after it.
        KeyError: (at call time) no ``ann_info`` (a ``test_mode`` dataset).
    """

    def __init__(
        self,
        with_bbox: bool = True,
        with_label: bool = True,
        with_mask: bool = False,
        with_seg: bool = False,
        poly2mask: bool = True,
        denorm_bbox: bool = False,
        with_poly: bool = False,
        file_client_args: dict | None = None,
    ):
        flags = dict(with_bbox=with_bbox, with_label=with_label, with_mask=with_mask, with_seg=with_seg,
                     poly2mask=poly2mask, denorm_bbox=denorm_bbox, with_poly=with_poly)  # fmt: skip
        for name, value in flags.items():
            check_bool("LoadAnnotations", name, value)
        if with_mask or with_seg:
            raise ValueError("LoadAnnotations: masks and segmentation are not supported by rdet-data")
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_poly = with_poly

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        self._check_order(results)
        if "ann_info" not in results:
            raise KeyError(
                "LoadAnnotations: the results have no 'ann_info': a dataset built with test_mode=True "
                "loads no annotations; drop LoadAnnotations from its pipeline"
            )
        ann = results["ann_info"]
        if self.with_bbox:
            results["gt_bboxes"] = np.array(ann["bboxes"], np.float32).reshape(-1, 5)
            add_field(results, "bbox_fields", "gt_bboxes")
            ignore = ann.get("bboxes_ignore")
            if ignore is not None:
                results["gt_bboxes_ignore"] = np.array(ignore, np.float32).reshape(-1, 5)
                add_field(results, "bbox_fields", "gt_bboxes_ignore")
        if self.with_label:
            results["gt_labels"] = np.array(ann["labels"], np.int64).reshape(-1)
            if ann.get("labels_ignore") is not None:
                results["gt_labels_ignore"] = np.array(ann["labels_ignore"], np.int64).reshape(-1)
        if self.with_poly:
            results["gt_polygons"] = np.array(ann["polygons"], np.float32).reshape(-1, 8)
        return results

    @staticmethod
    def _check_order(results: dict[str, Any]) -> None:
        if "gt_bboxes" in results:
            raise ValueError(
                "LoadAnnotations: the results already hold gt_bboxes: loaded twice: the pipeline lists "
                "LoadAnnotations twice (or after RMosaic); keep one, right after LoadImageFromFile"
            )
        done = geometric_done(results)
        if done:
            raise ValueError(
                f"LoadAnnotations must come before {'/'.join(done)}: it ran after them, so they moved the "
                "image but not the boxes; put LoadAnnotations right after LoadImageFromFile"
            )

    def __repr__(self) -> str:
        return f"LoadAnnotations(with_bbox={self.with_bbox}, with_label={self.with_label})"
