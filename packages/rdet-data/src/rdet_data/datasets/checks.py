"""Checks a dataset runs once, at construction, so that bad data fails at start-up, not hours in.

- :func:`outside_image`: corners far outside their image (pixels written as normalised
  values, normalised ones as pixels, 1e9);
- :func:`disjoint_from_image`: objects wholly outside their image (no overlap at all);
- :func:`missing_files`: label files whose image is absent (one folder listing);
- :func:`closest_names`: the names in the label files nearest to a ``classes`` entry found in none;
- :class:`EmptyDatasetError`: no sample left, with the reason.
"""

from __future__ import annotations

import difflib
import os
import os.path as osp
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "OUTSIDE_MARGIN",
    "EmptyDatasetError",
    "closest_names",
    "disjoint_from_image",
    "missing_files",
    "outside_image",
]

# How far outside its image a corner may lie, in image sizes: x in [-W, 2 W], y in [-H, 2 H].
# Real labels cross the border by a few pixels (DOTA P0706: 1112 in a 1111-px image) or, in
# patches, by a fraction of the patch (DOTA8: -0.07 .. 1.06); pixels written as YOLO's 0..1
# values exceed it from 2 px on, and a shape of under 2 px is dropped as degenerate anyway.
OUTSIDE_MARGIN = 1.0


class EmptyDatasetError(ValueError):
    """A dataset without a single sample; the message names the folder or file and why."""


def outside_image(
    polygons: np.ndarray, width: float, height: float, margin: float = OUTSIDE_MARGIN
) -> np.ndarray:
    """(n,) bool: a corner of ``polygons`` (n, 8) lies more than ``margin`` image sizes outside.

    Args:
        polygons: (n, 8) ``x1, y1, ..., x4, y4``, in the units of ``width`` and ``height``
            (pixels, or 1 and 1 for normalised values).
        width, height: The image size in those units.
        margin: Allowed distance outside, in image sizes (x in ``[-margin W, (1 + margin) W]``).
    """
    p = np.asarray(polygons, np.float64).reshape(-1, 8)
    x, y = p[:, 0::2], p[:, 1::2]
    out_x = (x < -margin * width) | (x > (1 + margin) * width)
    out_y = (y < -margin * height) | (y > (1 + margin) * height)
    return (out_x | out_y).any(axis=1)


def disjoint_from_image(polygons: np.ndarray, width: float, height: float) -> np.ndarray:
    """(n,) bool: ``polygons`` (n, 8) lying wholly outside the image ``[0, width] x [0, height]``.

    True where every corner is left of, right of, above or below the image (the polygon's
    bounding box does not meet the image; touching the border counts as meeting it), so no
    pixel of the object is in the image: such a label belongs to another image or patch.
    """
    p = np.asarray(polygons, np.float64).reshape(-1, 8)
    x, y = p[:, 0::2], p[:, 1::2]
    return (x.max(axis=1) < 0) | (x.min(axis=1) > width) | (y.max(axis=1) < 0) | (y.min(axis=1) > height)


def missing_files(folder: str, names: Sequence[str]) -> list[int]:
    """Indices of ``names`` (relative to ``folder``, or absolute) that are not files.

    Plain names are looked up in one listing of ``folder`` ('' is the working directory);
    names with a folder part are checked one by one.
    """
    listing: set[str] | None = None
    missing = []
    for i, name in enumerate(names):
        if osp.isabs(name) or osp.dirname(name):
            found = osp.isfile(osp.join(folder, name))
        else:
            if listing is None:
                listing = set(os.listdir(folder or "."))
            found = name in listing
        if not found:
            missing.append(i)
    return missing


def closest_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` that look like ``name`` (difflib, case-insensitive), best first."""
    known = list(known)
    lower = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)
    return [lower[h] for h in hits]
