"""Exact IoU / IoF of rotated boxes, pairwise (N x M) or aligned, on numpy or torch.

``rbbox_overlaps`` has MMRotate's name and arguments and mmcv's ``box_iou_rotated``
semantics: IoU = I / (A1 + A2 - I), IoF = I / A1 (the area of ``bboxes1``), angles clockwise
on screen unless ``clockwise=False`` (mmcv's flag: theta is negated). Differences from
MMRotate, on purpose:

* MMRotate's ``rbbox_overlaps`` clamps w and h to >= 1e-3 before calling mmcv, so a box of
  zero width or height gets a small positive IoU; here a degenerate box (w * h <= 1e-14,
  mmcv's own threshold) has IoU and IoF 0 with everything, as has a box with a NaN or
  infinite value; nothing is ever NaN.
* Differentiable in torch (MMRotate detaches).

Pairs whose circumscribed circles do not meet are skipped (their IoU is 0), and the rest is
computed in chunks of ``chunk`` pairs to bound memory. Computation is in float64; the result
has the input's dtype and device.
"""

from __future__ import annotations

from ._backend import Array, float_array, namespace
from ._intersect import convex_intersection_area

__all__ = ["box_iou_rotated", "rbbox_overlaps"]

_TINY_AREA = 1e-14


def _corners(xp, b: Array) -> Array:
    """``(K, 5)`` boxes -> ``(K, 4, 2)`` corners, counter-clockwise in (x, y)."""
    x, y, w, h, a = (b[:, i] for i in range(5))
    c, s = xp.cos(a), xp.sin(a)
    wx, wy = w / 2 * c, w / 2 * s
    hx, hy = -h / 2 * s, h / 2 * c
    pts = [
        (x - wx - hx, y - wy - hy),
        (x + wx - hx, y + wy - hy),
        (x + wx + hx, y + wy + hy),
        (x - wx + hx, y - wy + hy),
    ]
    return xp.stack([xp.stack(p, -1) for p in pts], -2)


def _pair_overlaps(xp, b1: Array, b2: Array, mode: str) -> Array:
    """Aligned overlaps of ``(K, 5)`` float64 box pairs with positive area."""
    # centre each pair on the midpoint of its centres (as mmcv does) for precision
    mid_x = (b1[:, 0] + b2[:, 0]) / 2
    mid_y = (b1[:, 1] + b2[:, 1]) / 2
    sh = xp.stack([mid_x, mid_y, mid_x * 0, mid_x * 0, mid_x * 0], -1)
    P = _corners(xp, b1 - sh)
    Q = _corners(xp, b2 - sh)
    inter = convex_intersection_area(xp, P, Q)
    a1 = b1[:, 2] * b1[:, 3]
    a2 = b2[:, 2] * b2[:, 3]
    inter = xp.minimum(inter, xp.minimum(a1, a2))
    base = a1 + a2 - inter if mode == "iou" else a1
    return inter / xp.where(base > 0, base, 1.0)


def rbbox_overlaps(
    bboxes1: Array,
    bboxes2: Array,
    mode: str = "iou",
    is_aligned: bool = False,
    clockwise: bool = True,
    chunk: int = 1 << 16,
) -> Array:
    """Exact IoU or IoF between rotated boxes.

    Args:
        bboxes1: ``(N, 5)`` boxes ``(cx, cy, w, h, theta)`` (extra columns are ignored).
        bboxes2: ``(M, 5)`` boxes.
        mode: ``'iou'`` or ``'iof'`` (intersection over the area of ``bboxes1``).
        is_aligned: if True, N == M and the result is ``(N,)`` (pair i with i);
            otherwise ``(N, M)``.
        clockwise: False reads theta as counter-clockwise on screen (mmcv's flag).
        chunk: pairs computed at once (memory ~ 2 KiB per pair).

    Returns:
        ``(N, M)`` or ``(N,)`` in [0, 1], same type, dtype and device as ``bboxes1``.

    Raises:
        ValueError: A box array with fewer than 5 columns (naming ``bboxes1`` or
            ``bboxes2``), an unknown ``mode``, unaligned sets with ``is_aligned``.
    """
    if mode not in ("iou", "iof"):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    b1 = float_array(bboxes1, "bboxes1", 5, "(N, 5)")
    b2 = float_array(bboxes2, "bboxes2", 5, "(N, 5)")
    xp = namespace(b1)
    if namespace(b2) is not xp:
        raise TypeError("bboxes1 and bboxes2 must both be numpy arrays or both be tensors")
    out_like = b1
    b1 = xp.to_float64(b1[..., :5].reshape(-1, 5))
    b2 = xp.to_float64(b2[..., :5].reshape(-1, 5))
    if not clockwise:
        flip = xp.tensor([1.0, 1.0, 1.0, 1.0, -1.0], like=b1)
        b1, b2 = b1 * flip, b2 * flip
    N, M = b1.shape[0], b2.shape[0]
    if is_aligned and N != M:
        raise ValueError(f"is_aligned needs as many boxes in both sets, got {N} and {M}")
    shape = (N,) if is_aligned else (N, M)
    if N == 0 or M == 0:
        return xp.astype(xp.zeros(shape, like=b1), out_like)

    # a degenerate or non-finite (NaN/inf) box overlaps nothing
    ok1 = (b1[:, 2] * b1[:, 3] > _TINY_AREA) & (xp.abs(b1) < float("inf")).all(-1)
    ok2 = (b2[:, 2] * b2[:, 3] > _TINY_AREA) & (xp.abs(b2) < float("inf")).all(-1)
    r1 = xp.sqrt(b1[:, 2] ** 2 + b1[:, 3] ** 2) / 2
    r2 = xp.sqrt(b2[:, 2] ** 2 + b2[:, 3] ** 2) / 2
    if is_aligned:
        near = (b1[:, 0] - b2[:, 0]) ** 2 + (b1[:, 1] - b2[:, 1]) ** 2 < (r1 + r2) ** 2
        cand = near & ok1 & ok2
        (ii,) = xp.nonzero(cand)
        jj = ii
    else:
        dx = b1[:, None, 0] - b2[None, :, 0]
        dy = b1[:, None, 1] - b2[None, :, 1]
        near = dx * dx + dy * dy < (r1[:, None] + r2[None, :]) ** 2
        cand = near & ok1[:, None] & ok2[None, :]
        ii, jj = xp.nonzero(cand)
    K = ii.shape[0]
    vals = []
    for s in range(0, K, chunk):
        vals.append(_pair_overlaps(xp, b1[ii[s : s + chunk]], b2[jj[s : s + chunk]], mode))
    out = xp.zeros(shape, like=b1)
    if K:
        v = xp.concat(vals, 0)
        if xp.name == "torch":
            out = out.index_put((ii,) if is_aligned else (ii, jj), v)
        elif is_aligned:
            out[ii] = v
        else:
            out[ii, jj] = v
    return xp.astype(out, out_like)


def box_iou_rotated(
    bboxes1: Array, bboxes2: Array, mode: str = "iou", aligned: bool = False, clockwise: bool = True
) -> Array:
    """mmcv's ``box_iou_rotated`` signature (``aligned`` instead of ``is_aligned``)."""
    return rbbox_overlaps(bboxes1, bboxes2, mode=mode, is_aligned=aligned, clockwise=clockwise)
