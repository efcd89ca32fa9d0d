"""EXIF ``Orientation`` (tag 0x0112) from JPEG and PNG headers.

OpenCV's ``imread`` / ``imdecode`` with ``IMREAD_COLOR`` (the pipeline's default) turn the
pixels by the tag; ``IMREAD_UNCHANGED`` does not. A reader of sizes from headers must swap width
and height for orientations 5 to 8, or the boxes land in the wrong place.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

__all__ = ["jpeg_app1_orientation", "png_orientation", "tiff_orientation"]

ORIENTATION_TAG = 0x0112
TRANSPOSED = (5, 6, 7, 8)  # width and height swap
_PNG_TAIL = 65536  # bytes searched for an eXIf chunk after the image data


def tiff_orientation(tiff: bytes) -> int:
    """The Orientation of an EXIF (TIFF-structured) block: 1..8, 1 when absent or unreadable."""
    if tiff[:6] == b"Exif\x00\x00":
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    end = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(end + "HH", entry[:4])
        if tag == ORIENTATION_TAG:
            value = struct.unpack(end + "H", entry[8:10])[0] if kind == 3 else entry[8]
            return int(value) if 1 <= value <= 8 else 1
    return 1


def jpeg_app1_orientation(segment: bytes) -> int | None:
    """The Orientation of an APP1 segment's payload, or None when it is not EXIF (e.g. XMP)."""
    if not segment.startswith(b"Exif\x00\x00"):
        return None
    return tiff_orientation(segment[6:])


def png_orientation(f: BinaryIO) -> int:
    """The Orientation of a PNG's ``eXIf`` chunk (1 when none); ``f`` is positioned after the signature.

    Reads the chunks before the image data and, as OpenCV also honours an ``eXIf`` after it,
    the last 64 KiB of the file (a chunk found there must pass its CRC).
    """
    while True:
        head = f.read(8)
        if len(head) < 8:
            return 1
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            return tiff_orientation(f.read(length))
        if kind in (b"IDAT", b"IEND"):
            break
        f.seek(length + 4, 1)  # data and CRC
    size = f.seek(0, 2)
    f.seek(max(size - _PNG_TAIL, 0))
    tail = f.read()
    at = tail.rfind(b"eXIf")
    while at >= 4:
        (length,) = struct.unpack(">I", tail[at - 4 : at])
        data = tail[at + 4 : at + 4 + length]
        crc = tail[at + 4 + length : at + 8 + length]
        if (
            len(data) == length
            and len(crc) == 4
            and struct.unpack(">I", crc)[0] == zlib.crc32(tail[at : at + 4 + length])
        ):
            return tiff_orientation(data)
        at = tail.rfind(b"eXIf", 0, at)
    return 1
