"""Sliding windows over a huge image and the objects each window keeps (MMRotate's img_split rules)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["WindowObjects", "check_sizes_gaps", "sliding_windows", "window_objects"]


def check_sizes_gaps(sizes: Sequence[int], gaps: Sequence[int]) -> None:
    """Raise ``ValueError`` unless every (size, gap) pair has ``0 <= gap < size`` (pixels).

    A negative gap would leave strips between windows that no patch covers. The messages
    name the splitter's options (``--sizes``, ``--gaps``).
    """
    if not len(sizes) or len(sizes) != len(gaps):
        raise ValueError(
            f"sizes {list(sizes)} and gaps {list(gaps)} must have the same length, at least 1 (--sizes, --gaps)"
        )
    for size, gap in zip(sizes, gaps):
        if gap < 0:
            raise ValueError(
                f"invalid size gap pair [{size} {gap}]: the gap must be >= 0 (--gaps), got {gap}: "
                "a negative gap leaves strips that no patch covers"
            )
        if size <= gap:
            raise ValueError(
                f"invalid size gap pair [{size} {gap}]: the gap must be smaller than the size (--gaps, --sizes)"
            )


def sliding_windows(
    width: int, height: int, sizes: Sequence[int], gaps: Sequence[int], img_rate_thr: float = 0.6
) -> np.ndarray:
    """Windows ``(K, 4)`` int64 ``(x_start, y_start, x_stop, y_stop)`` covering a ``width x height`` image.

    For each (size, gap): a grid with step ``size - gap``, the last row / column moved back to
    end at the image border. Windows whose part inside the image is <= ``img_rate_thr`` of
    their area are dropped (if none is above it, the best ones are kept).

    Raises:
        ValueError: a gap < 0 or >= its size (see :func:`check_sizes_gaps`).
    """
    check_sizes_gaps(sizes, gaps)
    windows = []
    for size, gap in zip(sizes, gaps):
        step = size - gap
        starts = []
        for extent in (width, height):
            n = 1 if extent <= size else math.ceil((extent - size) / step + 1)
            s = [step * i for i in range(n)]
            if len(s) > 1 and s[-1] + size > extent:
                s[-1] = extent - size
            starts.append(s)
        start = np.array(list(itertools.product(starts[0], starts[1])), dtype=np.int64)
        windows.append(np.concatenate([start, start + size], axis=1))
    win = np.concatenate(windows, axis=0)
    inside = win.copy()
    inside[:, 0::2] = np.clip(inside[:, 0::2], 0, width)
    inside[:, 1::2] = np.clip(inside[:, 1::2], 0, height)
    rates = ((inside[:, 2] - inside[:, 0]) * (inside[:, 3] - inside[:, 1])) / (
        (win[:, 2] - win[:, 0]) * (win[:, 3] - win[:, 1])
    )
    if not (rates > img_rate_thr).any():
        rates[np.abs(rates - rates.max()) < 0.01] = 1
    return win[rates > img_rate_thr]


@dataclass
class WindowObjects:
    """The objects one window keeps.

    Attributes:
        index: (n,) indices into the image's objects.
        iof: (n,) intersection area / object area.
        polygons: (n, 8) float32 corners in window coordinates (clipped to the window when
            truncated and ``clip``; else the original corners shifted).
        truncated: (n,) bool, iof < 1.
    """

    index: np.ndarray
    iof: np.ndarray
    polygons: np.ndarray
    truncated: np.ndarray


def _as_quad(piece: shapely.Geometry, original: np.ndarray) -> np.ndarray:
    """A clipped piece as 4 corners, clockwise on screen, starting nearest the original's first corner.

    Pieces with more corners lose them as DOTA_devkit's 5-gons do: the shortest edge shrinks
    to its midpoint, until 4 remain (every corner stays inside the window and the object).
    """
    if piece.geom_type != "Polygon":
        piece = piece.convex_hull
    if piece.is_empty or piece.geom_type != "Polygon":
        return original.astype(np.float32)
    piece = shapely.geometry.polygon.orient(piece.simplify(0), sign=1.0)
    pts = np.asarray(piece.exterior.coords, np.float64)[:-1]
    while len(pts) > 4:
        edges = np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1)
        i = int(np.argmin(edges))
        j = (i + 1) % len(pts)
        mid = (pts[i] + pts[j]) / 2
        pts = np.delete(pts, j, axis=0)
        pts[i if i < j else i - 1] = mid
    while len(pts) < 4:
        pts = np.concatenate([pts, pts[-1:]])
    orig = original.reshape(4, 2)
    best = min(range(4), key=lambda s: float(np.abs(np.roll(pts, -s, axis=0) - orig).sum()))
    return np.roll(pts, -best, axis=0).reshape(8).astype(np.float32)


def window_objects(
    polygons: np.ndarray, windows: np.ndarray, iof_thr: float = 0.7, clip: bool = True
) -> list[WindowObjects]:
    """For each window, the objects whose intersection covers >= ``iof_thr`` of their area.

    Args:
        polygons: (N, 8) object corners in image pixels.
        windows: (K, 4) ``(x_start, y_start, x_stop, y_stop)``.
        iof_thr: MMRotate's ``iof_thr``.
        clip: Truncated objects (iof < 1) are cut by the window (shapely intersection, as
            DOTA_devkit) into a quadrilateral; False: left whole (MMRotate's splitter).

    Zero-area polygons have iof 0 and are never kept.
    """
    polygons = np.asarray(polygons, np.float64).reshape(-1, 8)
    n, k = len(polygons), len(windows)
    empty = WindowObjects(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 8), np.float32), np.zeros(0, bool))
    if n == 0:
        return [empty for _ in range(k)]
    geoms = shapely.polygons(polygons.reshape(n, 4, 2))
    bad = ~shapely.is_valid(geoms)
    if bad.any():  # bow-ties and the like: their valid form (two triangles, ...)
        geoms[bad] = shapely.make_valid(geoms[bad])
    areas = shapely.area(geoms)
    pts = polygons.reshape(n, 4, 2)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
    out = []
    for j in range(k):
        x0, y0, x1, y1 = windows[j]
        cand = np.flatnonzero(
            (lo[:, 0] < x1) & (hi[:, 0] > x0) & (lo[:, 1] < y1) & (hi[:, 1] > y0) & (areas > 0)
        )
        if not len(cand):
            out.append(empty)
            continue
        pieces = shapely.intersection(geoms[cand], boxes[j])
        iof = shapely.area(pieces) / areas[cand]
        sel = iof >= iof_thr
        idx, iof, pieces = cand[sel], iof[sel], pieces[sel]
        trunc = iof < 1 - 1e-6
        polys = polygons[idx].astype(np.float32).copy()
        if clip:
            for t in np.flatnonzero(trunc):
                polys[t] = _as_quad(pieces[t], polygons[idx[t]])
        polys -= np.array([x0, y0] * 4, np.float32)
        out.append(WindowObjects(idx, iof, polys, trunc))
    return out
