"""Image width and height from the file header (PNG, JPEG, BMP), without decoding pixels.

The size is that of the pixels the pipeline gets: ``LoadImageFromFile`` decodes with OpenCV's
``IMREAD_COLOR``, which turns JPEG and PNG images by their EXIF Orientation, so a JPEG stored
4000 x 3000 with Orientation 6 is 3000 x 4000 here too.
"""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from rdet_data.formats.exif import TRANSPOSED, jpeg_app1_orientation, png_orientation

__all__ = ["image_size"]


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels, after EXIF orientation, as OpenCV's ``IMREAD_COLOR`` decodes it.

    Reads PNG, JPEG and BMP headers; other formats (TIFF, WebP, ...) are decoded with
    ``IMREAD_COLOR``, as the pipeline reads them.

    Raises:
        FileNotFoundError: The file does not exist or cannot be read as an image.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                f.seek(8)
                return _oriented(int(w), int(h), png_orientation(f))
            if head[:2] == b"BM" and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return int(w), abs(int(h))
            if head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
                if size is not None:
                    return size
    except OSError as err:
        raise FileNotFoundError(f"cannot read image {path}: {err}") from None
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return int(img.shape[1]), int(img.shape[0])


def _oriented(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in TRANSPOSED else (width, height)


def _jpeg_size(f) -> tuple[int, int] | None:
    """The oriented size from the frame header; the Orientation of the first EXIF APP1 before it."""
    f.seek(2)
    orientation = None
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        while marker[1] == 0xFF:  # fill bytes
            marker = marker[:1] + f.read(1)
        code = marker[1]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            h, w = struct.unpack(">HH", data[1:5])
            return _oriented(int(w), int(h), orientation or 1)
        if code == 0xE1 and orientation is None:
            orientation = jpeg_app1_orientation(f.read(length - 2))
            continue
        f.seek(length - 2, 1)
