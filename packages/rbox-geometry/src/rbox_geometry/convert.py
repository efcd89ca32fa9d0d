"""Conversions between rotated boxes, polygons and horizontal boxes (MMRotate's names).

Every function takes numpy arrays or torch tensors (anything else is read with
``numpy.asarray``) and returns the same type, dtype and device, vectorised over leading
dimensions. Boxes are ``(..., 5)`` ``(cx, cy, w, h, theta)`` (pixels, radians, clockwise
on screen, y down); polygons ``(..., 8)`` ``(x1, y1, ..., x4, y4)``; horizontal boxes
``(..., 4)`` ``(x1, y1, x2, y2)``.

MMRotate has separate torch (``obb2poly``, ``poly2obb``) and numpy (``obb2poly_np``,
``poly2obb_np``) functions with different semantics; both are kept here under their names
and both accept either array type:

* ``obb2poly`` returns the corners in the box's own order; ``obb2poly_np`` takes boxes with a
  trailing score column ``(..., 6)`` (or none, ``(..., 5)``) and reorders the corners with
  :func:`get_best_begin_point` (DOTA's order: first vertex nearest the top-left corner).
* ``poly2obb`` reads the rectangle from the first edges of the quadrilateral, as MMRotate's
  torch functions do; ``poly2obb_np`` takes the minimum-area rectangle as
  ``cv2.minAreaRect`` returns it (reproduced without OpenCV) for ``'oc'`` and ``'le90'`` and
  the edge rule for ``'le135'``. Where MMRotate's ``poly2obb_np`` returns ``None`` (a side under 2 px) ours
  returns a row of NaN; ``valid = ~isnan(out[..., 0])``.
* :func:`min_area_rect` is the minimum-area rectangle of any point set, in any version.

An argument with too few columns (``rbboxes`` of shape ``(2, 4)``) is a ``ValueError``
naming it and its shape; extra columns are ignored unless a function says it keeps them.
"""

from __future__ import annotations

import math

import numpy as np

from ._backend import Array, float_array, namespace
from ._cvrect import cv_min_area_rect
from .angles import check_version, norm_angle, regularize

__all__ = [
    "get_best_begin_point",
    "hbb2obb",
    "min_area_rect",
    "obb2hbb",
    "obb2poly",
    "obb2poly_np",
    "obb2xyxy",
    "poly2obb",
    "poly2obb_np",
]


def _corners(xp, boxes: Array):
    x, y, w, h, a = (boxes[..., i] for i in range(5))
    c, s = xp.cos(a), xp.sin(a)
    wx, wy = w / 2 * c, w / 2 * s
    hx, hy = -h / 2 * s, h / 2 * c
    return [
        (x - wx - hx, y - wy - hy),
        (x + wx - hx, y + wy - hy),
        (x + wx + hx, y + wy + hy),
        (x - wx + hx, y - wy + hy),
    ]


def obb2poly(rbboxes: Array, version: str = "oc") -> Array:
    """Rotated boxes ``(..., 5)`` -> polygons ``(..., 8)``.

    Corner order (the same for every version, as in MMRotate): the box's local
    ``(-w/2, -h/2)``, ``(+w/2, -h/2)``, ``(+w/2, +h/2)``, ``(-w/2, +h/2)`` rotated by theta
    (clockwise on screen) and shifted to the centre. Differentiable.
    """
    check_version(version)
    boxes = float_array(rbboxes, "rbboxes", 5)
    xp = namespace(boxes)
    return xp.stack([v for p in _corners(xp, boxes) for v in p], axis=-1)


def get_best_begin_point(coordinates: Array) -> Array:
    """Rotate each polygon's vertex list so that it starts nearest the top-left corner.

    Args:
        coordinates: ``(..., 8)`` polygons, or ``(..., 9)`` polygons with a score (kept).

    Returns:
        The same shape: among the 4 cyclic shifts of the vertices, the one whose vertices lie
        closest (sum of distances) to ``(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)``
        of the polygon's bounding box; the first one on ties (MMRotate's rule).
    """
    coords = float_array(coordinates, "coordinates", 8)
    xp = namespace(coords)
    pts = coords[..., :8]
    xs, ys = pts[..., 0::2], pts[..., 1::2]
    xmin, xmax = xp.amin(xs, -1), xp.amax(xs, -1)
    ymin, ymax = xp.amin(ys, -1), xp.amax(ys, -1)
    dst = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)]
    costs = []
    for shift in range(4):
        cost = 0.0
        for k in range(4):
            i = (shift + k) % 4
            cost = cost + xp.sqrt((xs[..., i] - dst[k][0]) ** 2 + (ys[..., i] - dst[k][1]) ** 2)
        costs.append(cost)
    best = xp.argmin(xp.stack(costs, -1), -1)  # (...,)
    # vertex index k of the output is (best + k) % 4 of the input
    k = xp.tensor([0, 1, 2, 3], like=best)
    src = (best[..., None] + k) % 4  # (..., 4)
    ox = xp.take_along(xs, src, -1)
    oy = xp.take_along(ys, src, -1)
    out = xp.stack([ox, oy], -1).reshape(*ox.shape[:-1], 8)
    if coords.shape[-1] > 8:
        out = xp.concat([out, coords[..., 8:]], -1)
    return out


def obb2poly_np(rbboxes: Array, version: str = "oc") -> Array:
    """MMRotate's ``obb2poly_np``: ``(..., 6)`` boxes + score -> ``(..., 9)`` polygons + score.

    The corners are reordered with :func:`get_best_begin_point`. ``(..., 5)`` input (no
    score) gives ``(..., 8)``. MMRotate's ``'le135'`` variant returned float32; ours keeps the
    input dtype.
    """
    check_version(version)
    boxes = float_array(rbboxes, "rbboxes", 5)
    xp = namespace(boxes)
    polys = obb2poly(boxes[..., :5], version)
    if boxes.shape[-1] > 5:
        polys = xp.concat([polys, boxes[..., 5:]], -1)
    return get_best_begin_point(polys)


def _pts(xp, polys: Array, k: int):
    return polys[..., 2 * k], polys[..., 2 * k + 1]


def _nonfinite_rows(polys: Array) -> Array:
    """Boolean ``(...,)``: polygons with a NaN or infinite coordinate (no device sync)."""
    xp = namespace(polys)
    return ~xp.isfinite(polys[..., :8]).all(-1)


def poly2obb(polys: Array, version: str = "oc") -> Array:
    """MMRotate's (torch) ``poly2obb``: quadrilaterals ``(..., 8)`` -> boxes ``(..., 5)``.

    The rectangle is read from the edges, not fitted (use :func:`min_area_rect` or
    :func:`poly2obb_np` for the minimum-area rectangle):

    * ``'oc'``: centre = mean of the 4 vertices; w, h = |p1p2|, |p2p3| (swapped by quadrant);
      theta = ``atan2(-(x2 - x1), y2 - y1) mod pi/2`` (so in [0, pi/2), MMRotate's formula).
    * ``'le135'`` / ``'le90'``: centre = midpoint of p1 p3; w = the longer of |p1p2|,
      |p2p3|, h = the shorter; theta = direction of p1p2 if it is the longer edge else of
      p1p4, normalised with :func:`norm_angle`.

    A polygon with a NaN or infinite coordinate gives a row of NaN (MMRotate's edge rule
    ignores the 4th vertex in ``'le135'`` / ``'le90'`` and returned a finite box when it was
    NaN). Differentiable almost everywhere.
    """
    check_version(version)
    p = float_array(polys, "polys", 8)
    xp = namespace(p)
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = (_pts(xp, p, k) for k in range(4))
    e1 = xp.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2)
    e2 = xp.sqrt((x2 - x3) ** 2 + (y2 - y3) ** 2)
    if version == "oc":
        cx = (x1 + x2 + x3 + x4) / 4
        cy = (y1 + y2 + y3 + y4) / 4
        t = xp.atan2(-(x2 - x1), y2 - y1)
        even = (xp.floor(t / (math.pi / 2)) % 2) == 0
        w = xp.where(even, e2, e1)
        h = xp.where(even, e1, e2)
        t = t % (math.pi / 2)
        out = xp.stack([cx, cy, w, h, t], -1)
        return xp.where(_nonfinite_rows(p)[..., None], math.nan, out)
    a1 = xp.atan2(y2 - y1, x2 - x1)
    a2 = xp.atan2(y4 - y1, x4 - x1)
    longer1 = e1 > e2
    t = norm_angle(xp.where(longer1, a1, a2), version)
    cx = (x1 + x3) / 2
    cy = (y1 + y3) / 2
    w = xp.where(longer1, e1, e2)
    h = xp.where(longer1, e2, e1)
    out = xp.stack([cx, cy, w, h, t], -1)
    return xp.where(_nonfinite_rows(p)[..., None], math.nan, out)


def min_area_rect(points: Array, version: str = "oc") -> Array:
    """Minimum-area enclosing rectangle of point sets, as a rotated box in ``version``.

    Args:
        points: ``(..., 2k)`` flat ``(x1, y1, x2, y2, ...)`` or ``(..., k, 2)`` points (k >= 2).
        version: angle version of the result (``'oc'`` gives what ``cv2.minAreaRect`` gives
            with OpenCV >= 4.5.1, up to its float32 rounding).

    Returns:
        ``(..., 5)`` boxes. The optimal rectangle has a side along an edge of the convex hull,
        so every direction through two of the points is tried (k(k-1)/2 of them): exact, no
        hull needed, vectorised; meant for small k (quadrilaterals, point sets of 9).
    """
    check_version(version)
    pts = float_array(points, "points", 2)
    xp = namespace(pts)
    if pts.shape[-1] != 2 or pts.ndim < 2:
        if pts.shape[-1] % 2:
            raise ValueError(f"points must have shape (..., 2k) or (..., k, 2), got {tuple(pts.shape)}")
        pts = pts.reshape(*pts.shape[:-1], pts.shape[-1] // 2, 2)
    k = pts.shape[-2]
    if k < 2:
        raise ValueError(f"points must hold at least 2 points per set, got shape {tuple(pts.shape)}")
    px, py = pts[..., 0], pts[..., 1]  # (..., k)
    best_area = best = None
    for i in range(k):
        for j in range(i + 1, k):
            dx = px[..., j] - px[..., i]
            dy = py[..., j] - py[..., i]
            n = xp.sqrt(dx * dx + dy * dy)
            ok = n > 0
            n_safe = xp.where(ok, n, 1.0)
            ux = xp.where(ok, dx / n_safe, 1.0)
            uy = xp.where(ok, dy / n_safe, 0.0)
            a = px * ux[..., None] + py * uy[..., None]  # along u
            b = -px * uy[..., None] + py * ux[..., None]  # along v = (-uy, ux)
            amin, amax = xp.amin(a, -1), xp.amax(a, -1)
            bmin, bmax = xp.amin(b, -1), xp.amax(b, -1)
            w, h = amax - amin, bmax - bmin
            area = w * h
            ca, cb = (amin + amax) / 2, (bmin + bmax) / 2
            cx = ca * ux - cb * uy
            cy = ca * uy + cb * ux
            cand = xp.stack([cx, cy, w, h, xp.atan2(uy, ux)], -1)
            if best is None:
                best_area, best = area, cand
            else:
                better = area < best_area
                best = xp.where(better[..., None], cand, best)
                best_area = xp.where(better, area, best_area)
    return regularize(best, version)


def _cv_rect(p: Array, version: str) -> Array:
    """``cv2.minAreaRect`` (float32, OpenCV's tie-breaking) of ``(..., 8)``, regularised."""
    xp = namespace(p)
    flat = p.detach().cpu().numpy().reshape(-1, 8) if xp.name == "torch" else np.asarray(p).reshape(-1, 8)
    out = regularize(cv_min_area_rect(flat), version).reshape(*p.shape[:-1], 5)
    return xp.astype(xp.tensor(out, like=p) if xp.name == "torch" else out, p)


def poly2obb_np(polys: Array, version: str = "oc", min_side: float = 2.0) -> Array:
    """MMRotate's ``poly2obb_np``, vectorised: ``(..., 8)`` polygons -> ``(..., 5)`` boxes.

    * ``'oc'``, ``'le90'``: what MMRotate gets from ``cv2.minAreaRect``: the minimum-area
      rectangle, computed as OpenCV does (float32 rotating calipers; among rectangles of equal
      float32 area OpenCV's choice), in the version's canonical form. Not differentiable
      (tensors go through numpy); :func:`min_area_rect` is the exact, differentiable one.
    * ``'le135'``: the edge rule of :func:`poly2obb` ``'le135'``.

    Where MMRotate returns ``None`` (a side shorter than ``min_side`` = 2 px) the row is all
    NaN, and so is a polygon with a NaN or infinite coordinate (MMRotate's ``'le135'``
    ignores the 4th vertex and returned a finite box). A single polygon ``(8,)`` gives ``(5,)``.
    """
    check_version(version)
    p = float_array(polys, "polys", 8)[..., :8]
    xp = namespace(p)
    out = poly2obb(p, "le135") if version == "le135" else _cv_rect(p, version)
    if version == "le135":
        (x1, y1), (x2, y2), (x3, y3) = (_pts(xp, p, k) for k in range(3))
        e1 = xp.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2)
        e2 = xp.sqrt((x2 - x3) ** 2 + (y2 - y3) ** 2)
        bad = (e1 < min_side) | (e2 < min_side) | _nonfinite_rows(p)
    else:
        bad = (out[..., 2] < min_side) | (out[..., 3] < min_side)
    return xp.where(bad[..., None], math.nan, out)


def obb2xyxy(rbboxes: Array, version: str = "oc") -> Array:
    """Rotated boxes ``(..., 5)`` -> enclosing horizontal boxes ``(..., 4)`` ``(x1, y1, x2, y2)``.

    The same for every version: the extent of the rectangle :func:`obb2poly` draws, as
    MMRotate's ``'le135'`` / ``'le90'`` (min / max of the corners). MMRotate's ``'oc'`` formula
    assumes theta in (0, pi/2] and w, h >= 0; ours uses absolute values of cos, sin, w and h,
    so it holds outside the range, and a negative w or h (the same rectangle, its corners in
    another order) still gives x1 <= x2, y1 <= y2 where MMRotate's ``'oc'`` gave x1 > x2.
    NaN in any column gives NaN. Differentiable (almost everywhere).
    """
    check_version(version)
    b = float_array(rbboxes, "rbboxes", 5)
    xp = namespace(b)
    x, y, w, h, a = (b[..., i] for i in range(5))
    c, s = xp.abs(xp.cos(a)), xp.abs(xp.sin(a))
    w, h = xp.abs(w), xp.abs(h)
    bx = w / 2 * c + h / 2 * s
    by = w / 2 * s + h / 2 * c
    return xp.stack([x - bx, y - by, x + bx, y + by], -1)


def obb2hbb(rbboxes: Array, version: str = "oc") -> Array:
    """Rotated boxes -> their enclosing horizontal box as a rotated box ``(..., 5)``.

    Per version, as MMRotate: ``'oc'``: ``(cx, cy, H, W, pi/2)``; ``'le135'``:
    ``(cx, cy, W, H, 0)`` if W >= H else ``(cx, cy, H, W, pi/2)``; ``'le90'``:
    ``(cx, cy, W, H, 0)`` if W >= H else ``(cx, cy, H, W, -pi/2)``, where W, H are the
    enclosing box's width (along x) and height. Extra columns are kept.
    """
    check_version(version)
    b = float_array(rbboxes, "rbboxes", 5)
    xp = namespace(b)
    xyxy = obb2xyxy(b[..., :5], version)
    cx = (xyxy[..., 0] + xyxy[..., 2]) / 2
    cy = (xyxy[..., 1] + xyxy[..., 3]) / 2
    W = xyxy[..., 2] - xyxy[..., 0]
    H = xyxy[..., 3] - xyxy[..., 1]
    zero = W * 0
    if version == "oc":
        cols = [cx, cy, H, W, zero + math.pi / 2]
    else:
        keep = W >= H
        alt = math.pi / 2 if version == "le135" else -math.pi / 2
        cols = [cx, cy, xp.where(keep, W, H), xp.where(keep, H, W), xp.where(keep, zero, zero + alt)]
    cols += [b[..., i] for i in range(5, b.shape[-1])]
    return xp.stack(cols, -1)


def hbb2obb(hbboxes: Array, version: str = "oc") -> Array:
    """Horizontal boxes ``(..., 4)`` ``(x1, y1, x2, y2)`` -> rotated boxes ``(..., 5)``.

    ``'oc'``: ``(cx, cy, h, w, pi/2)``; ``'le135'``: ``(cx, cy, w, h, 0)`` if w >= h else
    ``(cx, cy, h, w, pi/2)``; ``'le90'``: the same with ``-pi/2`` (MMRotate's rules).

    An inverted box (x2 < x1 or y2 < y1) is not checked (no pass over the values, no device
    sync, traceable for export): it gives MMRotate's output, a negative w and/or h (the same
    rectangle as its absolute values; :func:`regularize` makes them positive). NaN in gives
    NaN in the affected columns.
    """
    check_version(version)
    hb = float_array(hbboxes, "hbboxes", 4)
    xp = namespace(hb)
    x = (hb[..., 0] + hb[..., 2]) * 0.5
    y = (hb[..., 1] + hb[..., 3]) * 0.5
    w = hb[..., 2] - hb[..., 0]
    h = hb[..., 3] - hb[..., 1]
    zero = w * 0
    if version == "oc":
        return xp.stack([x, y, h, w, zero + math.pi / 2], -1)
    keep = w >= h
    alt = math.pi / 2 if version == "le135" else -math.pi / 2
    return xp.stack([x, y, xp.where(keep, w, h), xp.where(keep, h, w), xp.where(keep, zero, zero + alt)], -1)
