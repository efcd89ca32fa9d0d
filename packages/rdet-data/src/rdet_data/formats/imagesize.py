"""Image width and height from the file header (PNG, JPEG, BMP, TIFF-less), without decoding pixels."""

from __future__ import annotations

import os
import struct

import cv2

__all__ = ["image_size"]


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels; decodes with OpenCV only for formats it cannot read the header of.

    Raises:
        FileNotFoundError: The file does not exist or cannot be read as an image.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return int(w), int(h)
            if head[:2] == b"BM" and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return int(w), abs(int(h))
            if head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
                if size is not None:
                    return size
    except OSError as err:
        raise FileNotFoundError(f"cannot read image {path}: {err}") from None
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return int(img.shape[1]), int(img.shape[0])


def _jpeg_size(f) -> tuple[int, int] | None:
    f.seek(2)
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
            return int(w), int(h)
        f.seek(length - 2, 1)
