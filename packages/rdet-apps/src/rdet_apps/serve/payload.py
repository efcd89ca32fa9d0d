"""Reading and checking a ``POST /predict`` request: the image bytes, its size, its pixels.

Every refusal is a :class:`RequestError` with the HTTP status and a message that names the
problem: 413 (body over ``max_upload_bytes``, image over ``max_pixels``), 415 (a content
type that is not an image, raw bytes or a multipart form), 400 (empty, undecodable, a form
without its ``image`` file, a bad ``score_thr``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ImageLimits",
    "RequestError",
    "decode_image",
    "image_size_from_header",
    "parse_score_thr",
    "read_image_bytes",
]

#: content types of a raw image body
RAW_TYPES = ("image/", "application/octet-stream")
FORM_TYPE = "multipart/form-data"
#: the multipart form's file field
FORM_FIELD = "image"


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    """What one request may send.

    Attributes:
        max_upload_bytes: the most bytes of a request body (the form's overhead included).
        max_pixels: the most pixels (height * width) of the decoded image.
    """

    max_upload_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def parse_score_thr(value: str | None, default: float) -> float:
    """The ``score_thr`` query parameter: a number in [0, 1], ``default`` when absent.

    Raises:
        RequestError: 400, not a number or outside [0, 1].
    """
    if value is None:
        return default
    try:
        thr = float(value)
    except ValueError:
        raise RequestError(400, f"score_thr must be a number in [0, 1], got {value!r}") from None
    if not math.isfinite(thr) or not 0.0 <= thr <= 1.0:
        raise RequestError(400, f"score_thr must be a number in [0, 1], got {value!r}")
    return thr


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


HOW_TO_SEND = (
    f"send the image as the body (image/* or application/octet-stream) or as the file field "
    f"{FORM_FIELD!r} of a {FORM_TYPE} form"
)


async def _limited(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(
                413, f"the request body is over the limit of {max_bytes} bytes (--max-upload-bytes)"
            )
    return bytes(body)


async def read_image_bytes(request: Any, limits: ImageLimits, torchserve: bool = False) -> bytes:
    """The image file's bytes of a ``starlette.requests.Request``: the raw body (``image/*``,
    ``application/octet-stream``) or the ``image`` file of a ``multipart/form-data`` form.
    ``torchserve``: also what TorchServe's clients send: a body without a Content-Type
    (``curl -T image.png``) or typed ``application/x-www-form-urlencoded`` (``curl
    --data-binary @image.png``), and a form whose file is ``data`` (``curl -F data=@image.png``).

    The body is read at most to ``limits.max_upload_bytes`` (a larger ``Content-Length`` is
    refused before reading).

    Raises:
        RequestError: 413, 415 or 400 as this module's docstring says.
    """
    content_type = request.headers.get("content-type")
    media = _media_type(content_type)
    is_form = media == FORM_TYPE
    raw_for_torchserve = torchserve and (not content_type or media == "application/x-www-form-urlencoded")
    if not is_form and not media.startswith(RAW_TYPES) and not raw_for_torchserve:
        what = f"Content-Type {content_type!r} is not accepted" if content_type else "Content-Type is missing"
        raise RequestError(415, f"{what}: {HOW_TO_SEND}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_upload_bytes:
        raise RequestError(
            413,
            f"the request body ({declared} bytes) is over the limit of {limits.max_upload_bytes} bytes "
            "(--max-upload-bytes)",
        )
    body = await _limited(request.stream(), limits.max_upload_bytes)
    fields = (FORM_FIELD, "data") if torchserve else (FORM_FIELD,)
    data = await _form_image(request.headers, body, fields) if is_form else body
    if not data:
        raise RequestError(400, "the image is empty (0 bytes)")
    return data


async def _form_image(
    headers: Mapping[str, str], body: bytes, names: tuple[str, ...] = (FORM_FIELD,)
) -> bytes:
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def once() -> AsyncIterator[bytes]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(headers, once(), max_files=1, max_fields=16).parse()
    except MultiPartException as e:
        raise RequestError(400, f"cannot read the multipart form: {e.message}") from None
    try:
        name = next((n for n in names if form.get(n) is not None), names[0])
        part = form.get(name)
        if part is None:
            fields = ", ".join(repr(k) for k in form) or "none"
            wanted = " or ".join(repr(n) for n in names)
            raise RequestError(400, f"the multipart form has no file field {wanted} (its fields: {fields})")
        if not isinstance(part, UploadFile):
            raise RequestError(400, f"the form field {name!r} must be a file, got a text field")
        part_type = part.content_type
        if part_type and not _media_type(part_type).startswith(RAW_TYPES):
            raise RequestError(415, f"the form's {name!r} file has Content-Type {part_type!r}: send an image")
        return await part.read()
    finally:
        await form.close()


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return h, w
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(h), abs(w)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return h, w
        i += 2 + length
    return None


#: signature -> (format name, header reader or None)
_FORMATS: tuple[tuple[bytes, str, Any], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG", _png_size),
    (b"\xff\xd8\xff", "JPEG", _jpeg_size),
    (b"BM", "BMP", _bmp_size),
    (b"II*\x00", "TIFF", None),
    (b"MM\x00*", "TIFF", None),
    (b"RIFF", "WebP", None),
    (b"GIF8", "GIF", None),
)


def _format(data: bytes) -> tuple[str, Any] | None:
    for magic, name, reader in _FORMATS:
        if data.startswith(magic):
            return name, reader
    return None


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` read from a PNG, JPEG or BMP header without decoding the pixels;
    None for other formats or a header too short to tell."""
    found = _format(data)
    if found is None or found[1] is None:
        return None
    return found[1](data)


def _check_pixels(height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise RequestError(
            413,
            f"the image has {height}x{width} = {height * width} pixels, over the limit of {max_pixels} "
            "(--max-pixels)",
        )


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode an image file's bytes to an ``HxWx3`` uint8 BGR array (OpenCV's formats; grey
    and 16-bit images are converted). A PNG, JPEG or BMP over ``max_pixels`` is refused from
    its header, before its pixels are decoded.

    Raises:
        RequestError: 413, too many pixels; 400, not an image or a corrupt one (the message
            names the format it looked like).
    """
    import cv2

    found = _format(data)
    header = image_size_from_header(data)
    if header is not None:
        _check_pixels(*header, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:
        image, reason = None, str(e).strip().splitlines()[-1]
    else:
        reason = None
    if image is None:
        if found is None:
            head = data[:8]
            raise RequestError(
                400,
                f"cannot decode the body as an image: not a format OpenCV reads (it starts with {head!r}; "
                "PNG, JPEG, BMP, TIFF, WebP ... are)",
            )
        raise RequestError(
            400,
            f"cannot decode the body as an image: a truncated or corrupt {found[0]} file"
            + (f" ({reason})" if reason else ""),
        )
    _check_pixels(image.shape[0], image.shape[1], max_pixels)
    return image
