"""``RotatedBoxes``: an ``(N, 5)`` array (numpy or torch) that knows its angle version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._backend import Array, as_float_array
from .angles import check_version, convert_version, regularize
from .convert import obb2poly, obb2xyxy
from .iou import rbbox_overlaps
from .transforms import clip_rboxes, flip_rboxes, rbox_area, rescale_rboxes, rotate_rboxes, translate_rboxes


class RotatedBoxes:
    """Rotated boxes ``(N, 5)`` ``(cx, cy, w, h, theta)`` with their angle version.

    A thin wrapper: every method calls the module function of the same job and returns a new
    ``RotatedBoxes`` (or an array). ``.tensor`` is the underlying numpy array or tensor.

    >>> b = RotatedBoxes([[10, 10, 8, 4, 0.3]], version="le90")
    >>> b.convert("oc").version
    'oc'
    """

    def __init__(self, data: Any, version: str = "le90", regularize_input: bool = False) -> None:
        self.version = check_version(version)
        t = as_float_array(data)
        if t.ndim == 1 and t.shape[0] == 5:
            t = t.reshape(1, 5)
        if t.ndim != 2 or t.shape[-1] < 5:
            raise ValueError(f"expected (N, 5) boxes, got shape {tuple(t.shape)}")
        self.tensor = regularize(t, version) if regularize_input else t

    def _new(self, t: Array, version: str | None = None) -> RotatedBoxes:
        return RotatedBoxes(t, version or self.version)

    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def __getitem__(self, idx: Any) -> RotatedBoxes:
        t = self.tensor[idx]
        return self._new(t.reshape(-1, self.tensor.shape[-1]))

    def __repr__(self) -> str:
        return f"RotatedBoxes(n={len(self)}, version={self.version!r})"

    def area(self) -> Array:
        return rbox_area(self.tensor)

    def to_polygons(self) -> Array:
        return obb2poly(self.tensor, self.version)

    def to_xyxy(self) -> Array:
        return obb2xyxy(self.tensor, self.version)

    def convert(self, version: str) -> RotatedBoxes:
        return self._new(convert_version(self.tensor, self.version, version), version)

    def overlaps(self, other: RotatedBoxes | Array, mode: str = "iou", is_aligned: bool = False) -> Array:
        o = other.tensor if isinstance(other, RotatedBoxes) else other
        return rbbox_overlaps(self.tensor, o, mode=mode, is_aligned=is_aligned)

    def flip(self, img_shape: Sequence[int], direction: str = "horizontal") -> RotatedBoxes:
        return self._new(flip_rboxes(self.tensor, img_shape, direction, self.version))

    def rotate(self, angle: float, center: Sequence[float]) -> RotatedBoxes:
        return self._new(rotate_rboxes(self.tensor, angle, center, self.version))

    def rescale(self, scale: float | Sequence[float]) -> RotatedBoxes:
        return self._new(rescale_rboxes(self.tensor, scale))

    def translate(self, offset: Sequence[float]) -> RotatedBoxes:
        return self._new(translate_rboxes(self.tensor, offset))

    def clip(self, img_shape: Sequence[int]) -> RotatedBoxes:
        return self._new(clip_rboxes(self.tensor, img_shape))
