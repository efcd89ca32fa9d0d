"""Angle versions: ranges, normalisation, and moving a box from one version to another.

A rotated box is ``(cx, cy, w, h, theta)``: pixels, radians, image coordinates (x right,
y down), positive theta turns the box clockwise on screen. ``w`` is the side along the
direction ``(cos theta, sin theta)``.

Versions (MMRotate's names):

* ``'oc'``: theta in (0, pi/2], any w/h (OpenCV >= 4.5.1 ``minAreaRect``).
* ``'le135'``: theta in [-pi/4, 3pi/4), w >= h.
* ``'le90'``: theta in [-pi/2, pi/2), w >= h.
* ``'oc_old'`` (only for :func:`regularize` / :func:`convert_version`): the old OpenCV
  definition, theta in [-pi/2, 0).
"""

from __future__ import annotations

import math

from ._backend import Array, as_float_array, float_array, namespace

VERSIONS: tuple[str, ...] = ("oc", "le135", "le90")
"""The angle versions MMRotate supports."""

ALL_VERSIONS: tuple[str, ...] = (*VERSIONS, "oc_old")

ANGLE_RANGES: dict[str, tuple[float, float]] = {
    "oc": (0.0, math.pi / 2),  # (lo, hi]
    "le135": (-math.pi / 4, 3 * math.pi / 4),  # [lo, hi)
    "le90": (-math.pi / 2, math.pi / 2),  # [lo, hi)
    "oc_old": (-math.pi / 2, 0.0),  # [lo, hi)
}


def check_version(version: str, allow_old: bool = False) -> str:
    """Return ``version`` or raise ``ValueError`` naming the accepted ones."""
    ok = ALL_VERSIONS if allow_old else VERSIONS
    if version not in ok:
        raise ValueError(f"unknown angle version {version!r}; expected one of {ok}")
    return version


def norm_angle(angle: Array, angle_range: str) -> Array:
    """Limit angles (radians, any shape) to the range of ``angle_range`` (MMRotate's function).

    ``'oc'`` returns the input unchanged, exactly as MMRotate does (its range is reached by
    swapping w and h, which needs the whole box: use :func:`regularize`). ``'le135'`` maps to
    [-pi/4, 3pi/4), ``'le90'`` to [-pi/2, pi/2). Works on floats, numpy arrays and tensors.
    Unlike MMRotate (which prints and returns None), an unknown version raises ``ValueError``.
    """
    check_version(angle_range)
    if angle_range == "oc":
        return angle
    if isinstance(angle, (int, float)):
        off = math.pi / 4 if angle_range == "le135" else math.pi / 2
        return (angle + off) % math.pi - off
    angle = as_float_array(angle)
    off = math.pi / 4 if angle_range == "le135" else math.pi / 2
    return (angle + off) % math.pi - off


def _wht(boxes: Array):
    return boxes[..., 2], boxes[..., 3], boxes[..., 4]


def _rebuild(xp, boxes: Array, w: Array, h: Array, t: Array) -> Array:
    cols = [boxes[..., 0], boxes[..., 1], w, h, t]
    cols += [boxes[..., i] for i in range(5, boxes.shape[-1])]
    return xp.stack(cols, axis=-1)


def regularize(boxes: Array, version: str) -> Array:
    """Describe the same rectangles in ``version``'s canonical form.

    Args:
        boxes: ``(..., 5+)`` rotated boxes (extra columns such as a score are kept).
        version: ``'oc'``, ``'le135'``, ``'le90'`` or ``'oc_old'``.

    Returns:
        Same type, dtype, device and shape. w, h >= 0: a negative w or h describes the same
        rectangle (:func:`~rbox_geometry.obb2poly` draws the same corners, in another order),
        so its absolute value is taken before anything else (it used to stay negative, and
        ``le*``'s w >= h held trivially for h < 0). ``le*``: w >= h (w, h swapped and theta
        moved by pi/2 where needed) and theta in the version's range; ``oc``: theta in
        (0, pi/2]; ``oc_old``: theta in [-pi/2, 0). NaN in gives NaN in the affected columns.
        Differentiable in torch (the swaps are selections; ``abs`` almost everywhere).
    """
    check_version(version, allow_old=True)
    boxes = float_array(boxes, "boxes", 5)
    xp = namespace(boxes)
    w, h, t = _wht(boxes)
    w, h = xp.abs(w), xp.abs(h)
    half = math.pi / 2
    if version in ("le90", "le135"):
        swap = w < h
        t = norm_angle(xp.where(swap, t + half, t), version)
    else:
        q = t / half
        k = xp.ceil(q) - 1 if version == "oc" else xp.floor(q) + 1
        t = t - k * half
        swap = (k % 2) != 0
    w2 = xp.where(swap, h, w)
    h2 = xp.where(swap, w, h)
    return _rebuild(xp, boxes, w2, h2, t)


def convert_version(boxes: Array, src: str, dst: str) -> Array:
    """Convert boxes given in angle version ``src`` to version ``dst`` (same rectangles).

    MMRotate has no such function ("conversions between versions are not involved"); the
    rectangle described by ``(w, h, theta)`` does not depend on the version, so this is
    :func:`regularize` to ``dst`` after checking ``src``. ``'oc_old'`` (theta in
    [-pi/2, 0), OpenCV < 4.5.1) is accepted on either side.
    """
    check_version(src, allow_old=True)
    return regularize(boxes, dst)


def from_old_oc(boxes: Array, version: str = "oc") -> Array:
    """Read boxes of the old OpenCV definition (theta in [-pi/2, 0)) into ``version``."""
    return convert_version(boxes, "oc_old", version)


def to_old_oc(boxes: Array) -> Array:
    """Write boxes in the old OpenCV definition (theta in [-pi/2, 0))."""
    return regularize(boxes, "oc_old")


def in_range(boxes: Array, version: str, atol: float = 1e-6) -> Array:
    """Boolean ``(...,)``: which boxes already satisfy ``version``'s constraints."""
    check_version(version, allow_old=True)
    boxes = float_array(boxes, "boxes", 5)
    w, h, t = _wht(boxes)
    lo, hi = ANGLE_RANGES[version]
    if version == "oc":
        return (t > lo - atol) & (t <= hi + atol)
    ok = (t >= lo - atol) & (t < hi + atol)
    if version in ("le90", "le135"):
        ok = ok & (w >= h)
    return ok
