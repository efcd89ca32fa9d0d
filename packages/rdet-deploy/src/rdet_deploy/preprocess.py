"""The test pipeline of an exported model in numpy: MMCV's keep-ratio resize, normalisation and
padding, as ``rdet_data``'s ``RResize``, ``Normalize`` and ``Pad`` compute them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["Prepared", "load_image", "prepare"]

_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
           "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}  # fmt: skip


@dataclass(frozen=True)
class Prepared:
    """One image after the pipeline.

    Attributes:
        img: (3, H, W) float32, normalised, padded at the bottom and right.
        img_shape: (h, w) after resizing, before padding (pixels).
        ori_shape: (h, w) of the image as read.
        scale_factor: (4,) float32 ``(w_scale, h_scale, w_scale, h_scale)``, resized / original.
    """

    img: np.ndarray
    img_shape: tuple[int, int]
    ori_shape: tuple[int, int]
    scale_factor: np.ndarray


def load_image(image: str | os.PathLike | np.ndarray, name: str = "image") -> np.ndarray:
    """A BGR HxWx3 uint8 image from a path (OpenCV, colour) or as given (an array, returned
    C-contiguous). ``name``: the image in messages (``imgs[2]``).

    Raises:
        FileNotFoundError: A path that does not exist.
        TypeError: Neither a path nor an array.
        ValueError: A file OpenCV cannot decode, or a truncated one (``cv2.imread`` would decode a
            cut JPEG's missing part as grey and the model would run on it: the file is decoded
            with ``cv2.imdecode`` and a JPEG must end its scan with the end-of-image marker, as
            ``rdet_data``'s ``imread`` refuses it); a file of more than 8 bits per channel (a
            16-bit PNG / TIFF, which OpenCV would silently divide by 256), naming the file and
            its bit depth; an array that is not a non-empty BGR ``HxWx3``
            uint8 image (uint16, float, bool ..., ``1xHxWx3``, grey ``HxW``), naming ``name``
            with its shape and dtype.
    """
    if isinstance(image, np.ndarray):
        what = f"{name} (shape {tuple(image.shape)}, dtype {image.dtype})"
        if image.dtype != np.uint8:
            raise ValueError(f"{what}: must be a BGR HxWx3 uint8 array; convert it to uint8 (0-255) first")
        if image.ndim != 3 or image.shape[2] != 3:
            hint = ""
            if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
                hint = (
                    "; grey images are not supported: convert it with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)"
                )
            raise ValueError(f"{what}: must be a BGR HxWx3 uint8 array{hint}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"{what}: the image is empty")
        return np.ascontiguousarray(image)
    if not isinstance(image, (str, os.PathLike)):
        raise TypeError(f"{name}: an image is a file path or a numpy array, got {type(image).__name__}")
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(image)!r} does not exist")
    buf = np.fromfile(path, dtype=np.uint8)  # also works for non-ASCII paths
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if buf.size else None
    if img is None:
        raise ValueError(
            f"image {str(image)!r}: OpenCV cannot decode it ({buf.size} bytes; truncated or not an image)"
        )
    if _truncated_jpeg(buf):
        raise ValueError(
            f"image {str(image)!r}: a truncated JPEG (no end-of-image marker after its last scan, "
            f"{buf.size} bytes); OpenCV would fill the missing part with grey"
        )
    if img.dtype != np.uint8:
        bits = f"{img.dtype.itemsize * 8}-bit" + (" float" if img.dtype.kind == "f" else "")
        raise ValueError(
            f"image {str(image)!r}: a {bits} image ({img.dtype}, largest value {img.max()}): OpenCV would "
            "silently scale it to 8 bits (16-bit values divided by 256). rdet-deploy takes 8-bit "
            "images: convert it to uint8 as the model was trained (e.g. scale by its real range) and "
            "pass the array"
        )
    return img


def _truncated_jpeg(buf: np.ndarray) -> bool:
    """A JPEG (``FF D8`` first) whose last start-of-scan (``FF DA``) has no end-of-image marker
    (``FF D9``) after it: the file was cut. Inside a scan ``FF`` is always followed by ``00`` or a
    restart marker, so an ``FF D9`` after the last ``FF DA`` ends that scan (an EXIF thumbnail's
    end marker comes before the main image's scans; bytes appended after the image are allowed)."""
    data = buf.tobytes()
    if not data.startswith(b"\xff\xd8"):
        return False
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos + 2) < 0


def _resized_size(w: int, h: int, spec: Mapping[str, Any]) -> tuple[int, int]:
    scale = spec["img_scale"]
    if not spec["keep_ratio"]:
        return int(scale[0]), int(scale[1])
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return int(w * factor + 0.5), int(h * factor + 0.5)


def prepare(image: np.ndarray, spec: Mapping[str, Any], pad_to: Sequence[int] | None = None) -> Prepared:
    """Resize, normalise and pad one BGR image as the exported model's test pipeline (``spec``:
    the ``pipeline`` entry of its metadata); ``pad_to`` (H, W) pads further to the model's
    fixed input size.

    Raises:
        ValueError: The image would resize to less than a pixel (2x5000 at scale 1024), or
            the resized image is larger than ``pad_to``.
    """
    h, w = image.shape[:2]
    new_w, new_h = _resized_size(w, h, spec)
    if new_w < 1 or new_h < 1:
        raise ValueError(
            f"the image ({h}x{w}) would be resized to {new_h}x{new_w} pixels (img_scale "
            f"{tuple(spec['img_scale'])}): its aspect ratio is too extreme for the model's input size"
        )
    img = (
        image
        if (new_w, new_h) == (w, h)
        else cv2.resize(image, (new_w, new_h), interpolation=_INTERP[spec["interpolation"]])
    )
    scale_factor = np.array([new_w / w, new_h / h, new_w / w, new_h / h], np.float32)
    img = img.astype(np.float32)
    if spec.get("to_rgb", True):
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
    mean = np.asarray(spec["mean"], np.float64).reshape(1, -1)
    inv_std = 1 / np.asarray(spec["std"], np.float64).reshape(1, -1)
    cv2.subtract(img, mean, img)
    cv2.multiply(img, inv_std, img)
    if spec.get("pad_size") is not None:
        th, tw = (int(v) for v in spec["pad_size"])
    elif spec.get("size_divisor"):
        d = int(spec["size_divisor"])
        th, tw = -(-new_h // d) * d, -(-new_w // d) * d
    else:
        th, tw = new_h, new_w
    if pad_to is not None:
        if th > pad_to[0] or tw > pad_to[1]:
            raise ValueError(
                f"the image resizes to {new_h}x{new_w} (padded {th}x{tw}), larger than the model's fixed input "
                f"{pad_to[0]}x{pad_to[1]}: export it with a larger input shape"
            )
        th, tw = int(pad_to[0]), int(pad_to[1])
    out = np.full((th, tw, 3), spec.get("pad_val", 0.0), np.float32)
    out[:new_h, :new_w] = img
    return Prepared(np.ascontiguousarray(out.transpose(2, 0, 1)), (new_h, new_w), (h, w), scale_factor)
