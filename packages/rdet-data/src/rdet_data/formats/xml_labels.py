"""HRSC2016 and DIOR-R XML annotation files (see ../shared/data/real/FORMATS.md, sections 3 and 4)."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["AnnotationError", "DiorLabels", "HrscLabels", "read_dior_xml", "read_hrsc_xml"]


class AnnotationError(ValueError):
    """A malformed annotation file; the message starts with the file name."""


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
        raise AnnotationError(f"{path}: not well-formed XML: {err}") from None


def _number(node: ET.Element, tag: str, path: Path, what: str, kind: type = float) -> float:
    """``<tag>``'s text as a finite ``kind``; else ``AnnotationError('file: what <tag> ...')``.

    ``kind=int`` takes integral values only (``1172`` or ``1172.0``; ``1172.9`` is an error).
    """
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise AnnotationError(f"{path}: {what} has no <{tag}>")
    try:
        value = float(child.text)
    except ValueError:
        raise AnnotationError(f"{path}: {what} <{tag}> is not a number: {child.text.strip()!r}") from None
    if not math.isfinite(value):
        raise AnnotationError(f"{path}: {what} <{tag}> must be finite: {child.text.strip()!r}")
    if kind is int:
        if not value.is_integer():  # 1172.9 would become 1172 without a word
            raise AnnotationError(f"{path}: {what} <{tag}> must be an integer, got {child.text.strip()!r}")
        return int(value)
    return kind(value)


def _flag(node: ET.Element, tag: str, path: Path, what: str, allowed: tuple[int, ...] = (0, 1)) -> int:
    """``<tag>``'s integer in ``allowed`` (0 when the element is absent); else ``AnnotationError``."""
    if node.find(tag) is None:
        return 0
    value = _number(node, tag, path, what, int)
    if value not in allowed:
        raise AnnotationError(f"{path}: {what} <{tag}> must be {' or '.join(map(str, allowed))}, got {value}")
    return value


@dataclass
class HrscLabels:
    """One HRSC2016 image's objects.

    Attributes:
        width, height: Image size in pixels (``Img_SizeWidth``, ``Img_SizeHeight``).
        boxes: (K, 5) float32 ``mbox_cx, mbox_cy, mbox_w, mbox_h, mbox_ang`` (pixels, radians,
            MMRotate's 'le90' reading: corners = c ± R(ang)(±w/2, ±h/2), y down), as written:
            finite, w and h >= 0, |ang| <= 2 pi (HRSC writes [-pi/2, pi/2]).
        class_ids: K ``Class_ID`` strings, e.g. ``'100000013'``.
        difficult: (K,) int64; truncated: (K,) int64.
        heads: (K, 2) int64 ``header_x, header_y`` (the bow), -1 where absent.
    """

    path: Path
    width: int
    height: int
    boxes: np.ndarray
    class_ids: list[str]
    difficult: np.ndarray
    truncated: np.ndarray
    heads: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    def __len__(self) -> int:
        return len(self.class_ids)


def read_hrsc_xml(path: str | os.PathLike) -> HrscLabels:
    """Read ``FullDataSet/Annotations/<Img_ID>.xml``.

    Raises:
        AnnotationError: naming the file (and the object): not XML, a required field missing,
            not a number or not finite, an image size <= 0 or not an integer, ``difficult`` or
            ``truncated`` other than 0 or 1, a negative ``mbox_w`` / ``mbox_h``, or
            ``|mbox_ang| > 2 pi`` (HRSC's angle is in radians; that is degrees, or garbage).
            ``Class_ID`` is read as written (``''`` when absent): a dataset that maps it checks it.
    """
    path = Path(path)
    root = _parse(path)
    width = _number(root, "Img_SizeWidth", path, "the image", int)
    height = _number(root, "Img_SizeHeight", path, "the image", int)
    if width <= 0 or height <= 0:
        raise AnnotationError(
            f"{path}: the image size {width} x {height} (Img_SizeWidth x Img_SizeHeight) must be > 0"
        )
    boxes, ids, diff, trunc, heads = [], [], [], [], []
    for k, obj in enumerate(root.findall("HRSC_Objects/HRSC_Object"), start=1):
        what = f"object {k}"
        box = [_number(obj, t, path, what) for t in ("mbox_cx", "mbox_cy", "mbox_w", "mbox_h", "mbox_ang")]
        for tag, value in (("mbox_w", box[2]), ("mbox_h", box[3])):
            if value < 0:
                raise AnnotationError(f"{path}: {what} <{tag}> must be >= 0, got {value:g}")
        if abs(box[4]) > 2 * math.pi:
            raise AnnotationError(
                f"{path}: {what} <mbox_ang> {box[4]:g} is not an angle in radians (HRSC's range is "
                f"[-pi/2, pi/2]; |ang| > 2 pi, degrees?)"
            )
        boxes.append(box)
        cid = obj.find("Class_ID")
        ids.append("" if cid is None or cid.text is None else cid.text.strip())
        diff.append(_flag(obj, "difficult", path, what))
        trunc.append(_flag(obj, "truncated", path, what))
        has_head = obj.find("header_x") is not None and obj.find("header_y") is not None
        heads.append(
            [int(_number(obj, "header_x", path, what)), int(_number(obj, "header_y", path, what))]
            if has_head
            else [-1, -1]
        )
    return HrscLabels(
        path=path,
        width=width,
        height=height,
        boxes=np.asarray(boxes, np.float32).reshape(-1, 5),
        class_ids=ids,
        difficult=np.asarray(diff, np.int64),
        truncated=np.asarray(trunc, np.int64),
        heads=np.asarray(heads, np.int64).reshape(-1, 2),
    )


_DIOR_CORNERS = ("left_top", "right_top", "right_bottom", "left_bottom")


@dataclass
class DiorLabels:
    """One DIOR-R image's objects.

    Attributes:
        width, height: ``<size>`` in pixels (0 when absent).
        polygons: (K, 8) float32 corners left-top, right-top, right-bottom, left-bottom (pixels).
        names: K class names (``golffield``).
        difficult: (K,) int64.
    """

    path: Path
    width: int
    height: int
    polygons: np.ndarray
    names: list[str]
    difficult: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def read_dior_xml(path: str | os.PathLike) -> DiorLabels:
    """Read ``Annotations/Oriented Bounding Boxes/<id>.xml`` (VOC-like, ``<robndbox>`` of 4 corners).

    Raises:
        AnnotationError: naming the file (and the object): not XML, an object without
            ``<name>`` or ``<robndbox>``, a corner missing or not a finite number, a ``<size>``
            that is not an integer, or ``difficult`` other than 0 or 1.
    """
    path = Path(path)
    root = _parse(path)
    size = root.find("size")
    width = _number(size, "width", path, "<size>", int) if size is not None else 0
    height = _number(size, "height", path, "<size>", int) if size is not None else 0
    polys, names, diff = [], [], []
    for k, obj in enumerate(root.findall("object"), start=1):
        name = obj.find("name")
        if name is None or not (name.text or "").strip():
            raise AnnotationError(f"{path}: object {k} has no <name>")
        box = obj.find("robndbox")
        if box is None:
            raise AnnotationError(f"{path}: object {k} ({name.text.strip()}) has no <robndbox>")
        coords = []
        for corner in _DIOR_CORNERS:
            coords += [
                _number(box, f"x_{corner}", path, f"object {k}"),
                _number(box, f"y_{corner}", path, f"object {k}"),
            ]
        polys.append(coords)
        names.append(name.text.strip())
        diff.append(_flag(obj, "difficult", path, f"object {k}"))
    return DiorLabels(
        path=path,
        width=width,
        height=height,
        polygons=np.asarray(polys, np.float32).reshape(-1, 8),
        names=names,
        difficult=np.asarray(diff, np.int64),
    )
