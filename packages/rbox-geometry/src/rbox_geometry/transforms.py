"""Batch operations on rotated boxes ``(..., 5)`` that keep the angle version.

Pixels, radians, image coordinates (x right, y down), theta clockwise on screen. Each
function takes numpy arrays or tensors and returns the same type, dtype and device; extra
columns after the 5th (e.g. a score) are carried along untouched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._backend import Array, float_array, namespace
from .angles import check_version, norm_angle, regularize
from .convert import obb2poly, poly2obb_np

__all__ = [
    "bbox_flip",
    "clip_rboxes",
    "flip_rboxes",
    "is_isotropic",
    "points_in_rboxes",
    "rbox_area",
    "rescale_rboxes",
    "rotate_rboxes",
    "translate_rboxes",
]


def _with(xp, b: Array, cols: dict[int, Array]) -> Array:
    return xp.stack([cols.get(i, b[..., i]) for i in range(b.shape[-1])], -1)


def rbox_area(boxes: Array) -> Array:
    """Areas ``(...,)`` = w * h (pixels^2)."""
    b = float_array(boxes, "boxes", 5)
    return b[..., 2] * b[..., 3]


def flip_rboxes(
    boxes: Array,
    img_shape: Sequence[int],
    direction: str = "horizontal",
    version: str = "oc",
    pixel_offset: float = 1.0,
) -> Array:
    """Flip boxes in an image of ``img_shape = (H, W, ...)`` (MMRotate's ``RRandomFlip.bbox_flip``).

    horizontal: ``cx' = W - cx - 1``; vertical: ``cy' = H - cy - 1``; diagonal: both, angle
    unchanged (a 180-degree turn). For horizontal and vertical the angle becomes ``pi - theta``
    normalised to the version; for ``'oc'`` w and h are swapped and theta becomes
    ``pi/2 - theta`` unless theta == pi/2. ``pixel_offset`` is MMRotate's ``- 1`` (pixel
    indices); pass 0 for the exact mirror of continuous coordinates.
    """
    check_version(version)
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(f'Invalid flipping direction "{direction}"')
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    H, W = img_shape[0], img_shape[1]
    cols: dict[int, Array] = {}
    if direction in ("horizontal", "diagonal"):
        cols[0] = W - b[..., 0] - pixel_offset
    if direction in ("vertical", "diagonal"):
        cols[1] = H - b[..., 1] - pixel_offset
    if direction != "diagonal":
        t = b[..., 4]
        if version == "oc":
            rot = t != math.pi / 2
            cols[4] = xp.where(rot, math.pi / 2 - t, t)
            cols[2] = xp.where(rot, b[..., 3], b[..., 2])
            cols[3] = xp.where(rot, b[..., 2], b[..., 3])
        else:
            cols[4] = norm_angle(math.pi - t, version)
    return _with(xp, b, cols)


def bbox_flip(
    bboxes: Array, img_shape: Sequence[int], direction: str = "horizontal", version: str = "oc"
) -> Array:
    """MMRotate's ``bbox_flip`` for ``(..., 5k)`` boxes (k boxes per row); see :func:`flip_rboxes`."""
    b = float_array(bboxes, "bboxes", 5, "(..., 5k)")
    if b.shape[-1] % 5:
        raise ValueError(f"bboxes must have shape (..., 5k), got {tuple(b.shape)}")
    flat = b.reshape(*b.shape[:-1], b.shape[-1] // 5, 5)
    return flip_rboxes(flat, img_shape, direction, version).reshape(b.shape)


def rotate_rboxes(boxes: Array, angle: float, center: Sequence[float], version: str = "le90") -> Array:
    """Rotate boxes by ``angle`` radians about ``center = (x, y)``, clockwise on screen.

    Centres move on the circle, theta grows by ``angle``, and the result is put in
    ``version``'s canonical form. (``cv2.getRotationMatrix2D(center, deg, 1)`` turns
    counter-clockwise on screen: ``angle = -radians(deg)`` is the same rotation.)
    """
    check_version(version)
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = b[..., 0] - center[0], b[..., 1] - center[1]
    out = _with(xp, b, {0: center[0] + c * dx - s * dy, 1: center[1] + s * dx + c * dy, 4: b[..., 4] + angle})
    return regularize(out, version)


#: ``|sx - sy| <= ISOTROPIC_RTOL * max(sx, sy)`` counts as isotropic. A ``keep_ratio`` resize
#: rounds each side to whole pixels, so its factors differ by up to 1 / (2 * short side): under
#: 2e-3 for any short side of 250 px or more; there a box scaled as a rectangle and its corners
#: scaled differ by under 0.1% of the box's size.
ISOTROPIC_RTOL = 2e-3


def is_isotropic(sx: float, sy: float) -> bool:
    """Whether a resize by ``(sx, sy)`` keeps rotated boxes rectangles (:data:`ISOTROPIC_RTOL`)."""
    return abs(sx - sy) <= ISOTROPIC_RTOL * max(abs(sx), abs(sy))


def rescale_rboxes(boxes: Array, scale: float | Sequence[float], version: str | None = None) -> Array:
    """Scale boxes by ``scale`` or ``(sx, sy)`` (MMRotate's ``RResize``).

    Without ``version``: ``cx *= sx``, ``cy *= sy``, ``w, h *= sqrt(sx * sy)``, theta unchanged
    (exact only for sx == sy; a rotated box under anisotropic scaling is no longer a
    rectangle). With ``version`` and factors that are not isotropic (:func:`is_isotropic`): the 4
    corners are scaled and the rectangle taken with :func:`poly2obb_np` in ``version`` (what
    ``RResize(keep_ratio=False)`` does to polygons), in float64.
    """
    sx, sy = (scale, scale) if isinstance(scale, (int, float)) else (float(scale[0]), float(scale[1]))
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    if version is not None and not is_isotropic(sx, sy):
        check_version(version)
        poly = obb2poly(xp.to_float64(b[..., :5]), version)
        rect = poly2obb_np(poly * xp.tensor([sx, sy] * 4, like=poly), version, min_side=0.0)
        return xp.concat([xp.astype(rect, like=b), b[..., 5:]], -1)
    k = math.sqrt(sx * sy)
    return _with(xp, b, {0: b[..., 0] * sx, 1: b[..., 1] * sy, 2: b[..., 2] * k, 3: b[..., 3] * k})


def translate_rboxes(boxes: Array, offset: Sequence[float]) -> Array:
    """Shift boxes by ``offset = (dx, dy)`` pixels."""
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    return _with(xp, b, {0: b[..., 0] + offset[0], 1: b[..., 1] + offset[1]})


def clip_rboxes(boxes: Array, img_shape: Sequence[int]) -> Array:
    """Clip box centres to the image ``(H, W, ...)``: ``0 <= cx <= W``, ``0 <= cy <= H``.

    Sizes and angles are kept (a rotated box clipped by the image is no longer a rotated
    box; this is what MMRotate 1.x's ``RotatedBoxes.clip_`` does).
    """
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    H, W = img_shape[0], img_shape[1]
    return _with(xp, b, {0: xp.clip(b[..., 0], 0.0, float(W)), 1: xp.clip(b[..., 1], 0.0, float(H))})


def points_in_rboxes(points: Array, boxes: Array) -> Array:
    """Which points lie in which boxes (boundary included).

    Args:
        points: ``(P, 2)`` ``(x, y)``.
        boxes: ``(B, 5)``.

    Returns:
        ``(P, B)`` boolean.
    """
    p = float_array(points, "points", 2, "(P, 2)")
    b = float_array(boxes, "boxes", 5, "(B, 5)")
    xp = namespace(b)
    dx = p[:, None, 0] - b[None, :, 0]
    dy = p[:, None, 1] - b[None, :, 1]
    c, s = xp.cos(b[:, 4])[None], xp.sin(b[:, 4])[None]
    u = dx * c + dy * s
    v = -dx * s + dy * c
    tol = 1e-9 * (1 + xp.abs(b[None, :, 2]) + xp.abs(b[None, :, 3]))
    return (xp.abs(u) <= b[None, :, 2] / 2 + tol) & (xp.abs(v) <= b[None, :, 3] / 2 + tol)
